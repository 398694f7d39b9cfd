#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "policy/diagnostic.hpp"
#include "policy/engine.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign::policy;

// The words a policy writes (keywords, context words) match text the way a reader would: whatever
// look-alike characters either was written with, and in any letter case, letters beyond ASCII too.
// Text is scanned with its look-alikes folded (lookalike_fold.hpp), so the words are folded alike.
namespace {
const char* const words_policy = R"(name: words
classes: [public, confidential]
zones: [{name: site}]
detectors:
  - name: marking
    class: confidential
    keywords: ["TOP\u00a0SECRET", "Blue\u200bbird", "\uff26alcon"]
  - name: codename
    class: confidential
    keywords: [Ödipus, Zürich-Nord]
  - name: exact_codename
    class: confidential
    keywords: [Ödipus]
    case_sensitive: true
  - name: contract
    class: confidential
    pattern: 'V[0-9]{8}'
    context: [überweisung, "Zahlung\u00a0an"]
    require_context: true
responses:
  redact: [marking, codename, contract]
rules: [{name: all, then: {action: allow}}]
)";

std::shared_ptr<const Policy> load_words() {
    static const auto loaded = load_policy_text(words_policy, "words.yaml");
    return loaded.policy;
}

using Found = std::vector<std::pair<std::string, std::string>>;  // detector, value

Found scan(const std::string& text) {
    const auto policy = load_words();
    REQUIRE(policy);
    std::vector<Detection> detections;
    ScanFailure failure;
    REQUIRE(policy->detectors().scan(text, 0, detections, failure));
    Found found;
    for (const auto& d : detections)
        found.emplace_back(policy->detectors().detectors()[d.detector].name, text.substr(d.begin, d.end - d.begin));
    return found;
}

// What a request with this text is found to hold, by detector (the request path).
std::map<std::string, int> request_counts(const std::string& text) {
    const auto policy = load_words();
    REQUIRE(policy);
    const Request request{"anyone", "m", "chat.completions", "", {{"messages[0].content", text}}};
    return evaluate(request, *policy).detector_counts;
}

std::vector<std::string> load_problems(const std::string& detectors) {
    const auto loaded = load_policy_text("classes: [public, internal]\nzones: [{name: site}]\ndetectors:\n" + detectors +
                                             "rules: [{name: all, then: {action: allow}}]\n",
                                         "p.yaml");
    std::vector<std::string> out;
    for (const auto& d : loaded.diagnostics) out.push_back(format_diagnostic(d));
    if (!out.empty()) CHECK_FALSE(loaded.policy);
    return out;
}
}  // namespace

TEST_SUITE("scan") {
    TEST_CASE("a keyword written with look-alike characters matches the text however it writes them") {
        CHECK(scan("TOP SECRET plans") == Found{{"marking", "TOP SECRET"}});
        CHECK(scan("TOP\u00a0SECRET plans") == Found{{"marking", "TOP\u00a0SECRET"}});
        CHECK(scan("top\u2009secret plans") == Found{{"marking", "top\u2009secret"}});  // a thin space
        CHECK(scan("the Bluebird file") == Found{{"marking", "Bluebird"}});
        CHECK(scan("the BLUE\u200bBIRD file") == Found{{"marking", "BLUE\u200bBIRD"}});
        CHECK(scan("Falcon and \uff26\uff41\uff4c\uff43\uff4f\uff4e") ==
              Found{{"marking", "Falcon"}, {"marking", "\uff26\uff41\uff4c\uff43\uff4f\uff4e"}});
        CHECK(scan("TOPSECRET, Blue bird, Falconry") == Found{});
        // The request and the answer path alike.
        CHECK(request_counts("TOP\u00a0SECRET plans")["marking"] == 1);
        CHECK(request_counts("Top secret plans")["marking"] == 1);
        ResponseScanner answer(load_words(), "anyone");
        CHECK(answer.complete("The TOP SECRET plans of Blue\u200bbird.") ==
              "The [REDACTED:marking] plans of [REDACTED:marking].");
    }

    TEST_CASE("keywords without case_sensitive match letters beyond ASCII in any case") {
        CHECK(scan("\u00f6dipus and \u00d6DIPUS") == Found{{"codename", "\u00f6dipus"}, {"codename", "\u00d6DIPUS"}});
        CHECK(scan("Z\u00dcRICH-NORD") == Found{{"codename", "Z\u00dcRICH-NORD"}});
        CHECK(scan("z\u00fcrich-nord") == Found{{"codename", "z\u00fcrich-nord"}});
        CHECK(scan("\u00d6dipus") == Found{{"codename", "\u00d6dipus"}, {"exact_codename", "\u00d6dipus"}});
        CHECK(scan("Z\u00fcrich-S\u00fcd, Odipus, \u00f6dipuss") == Found{});
        CHECK(request_counts("ZÜRICH-NORD")["codename"] == 1);
        ResponseScanner answer(load_words(), "anyone");
        CHECK(answer.complete("Ask \u00d6DIPUS.") == "Ask [REDACTED:codename].");
        // Streamed: held back until the keyword is decided, wherever the stream is cut.
        const std::string text = "Ask \u00d6DIPUS about Z\u00dcRICH-NORD.";
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            CAPTURE(cut);
            ResponseScanner streamed(load_words(), "anyone");
            std::string out = streamed.feed(std::string_view(text).substr(0, cut));
            out += streamed.feed(std::string_view(text).substr(cut));
            out += streamed.finish();
            CHECK(out == "Ask [REDACTED:codename] about [REDACTED:codename].");
        }
    }

    TEST_CASE("context words match in any case and with look-alikes, beyond ASCII too") {
        CHECK(scan("\u00dcberweisung V12345678") == Found{{"contract", "V12345678"}});
        CHECK(scan("\u00dcBERWEISUNG: V12345678") == Found{{"contract", "V12345678"}});
        CHECK(scan("Zahlung an V12345678") == Found{{"contract", "V12345678"}});
        CHECK(scan("ZAHLUNG\u202fAN V12345678") == Found{{"contract", "V12345678"}});
        CHECK(scan("Vertrag V12345678") == Found{});
        CHECK(request_counts("\u00dcberweisung V12345678")["contract"] == 1);
    }
}

TEST_SUITE("loader") {
    TEST_CASE("a custom pattern holding a look-alike character is refused at the pattern, with what to write") {
        const auto nbsp = load_problems("  - {name: marking, class: internal, pattern: \"TOP\\u00a0SECRET\"}\n");
        REQUIRE(nbsp.size() == 1);
        CHECK(nbsp[0] == "p.yaml:4:47: pattern holds the look-alike character U+00A0 at byte 3, which scanned text "
                         "never contains: text is scanned with it read as ' ', so write ' ' there");
        const auto invisible = load_problems("  - name: marking\n    class: internal\n    pattern: 'Blue\u200bbird'\n");
        REQUIRE(invisible.size() == 1);
        CHECK(invisible[0] == "p.yaml:6:14: pattern holds the look-alike character U+200B at byte 4, which scanned "
                              "text never contains: text is scanned with it removed, so delete it from the pattern");
        const auto fullwidth = load_problems("  - {name: marking, class: internal, pattern: '\uff26alcon'}\n");
        REQUIRE(fullwidth.size() == 1);
        CHECK(fullwidth[0].find("U+FF26 at byte 0") != std::string::npos);
        CHECK(fullwidth[0].find("read as 'F', so write 'F' there") != std::string::npos);
        // Escapes vectorscan reads are the author's to choose; letters beyond ASCII are no look-alikes.
        CHECK(load_problems("  - {name: marking, class: internal, pattern: 'TOP[ \\x{a0}]SECRET'}\n").empty());
        CHECK(load_problems("  - {name: marking, class: internal, pattern: 'Z\u00fcrich-[0-9]{4}'}\n").empty());
    }

    TEST_CASE("a keyword of invisible characters only is refused at the keyword") {
        const auto out = load_problems("  - {name: marking, class: internal, keywords: [Falcon, \"\\u200b\\u200d\"]}\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:4:57: this keyword is invisible characters only, which text is scanned without: it "
                        "would match nothing; remove it");
    }

    // A context word that is never near anything would make a require_context detector find nothing,
    // and the rules on it (a deny, a redaction) never apply: refused at the word, like an empty keyword.
    TEST_CASE("an empty, blank or invisible context word is refused at the word, and so is an empty list") {
        const std::string detector = "  - name: code\n    class: internal\n    pattern: 'ZX[0-9]{4}'\n"
                                     "    require_context: true\n";
        const std::string word_error = "a context word must hold a visible character (this one is empty, spaces or "
                                       "invisible characters only), or it is never found near a value; remove it";
        for (const std::string word : {"''", "'  '", "\"\\u200b\"", "\"\\u00a0\\t\""}) {
            CAPTURE(word);
            const auto out = load_problems(detector + "    context: [patient, " + word + "]\n");
            REQUIRE(out.size() == 1);
            CHECK(out[0] == "p.yaml:8:24: " + word_error);
        }
        const auto single = load_problems(detector + "    context: ''\n");
        REQUIRE(single.size() == 1);
        CHECK(single[0] == "p.yaml:8:14: " + word_error);
        const auto empty = load_problems(detector + "    context: []\n");
        REQUIRE(empty.size() == 1);
        CHECK(empty[0] == "p.yaml:8:14: context is an empty list, which makes no finding more certain; list at least "
                          "one, or leave 'context' out");
        const auto none = load_problems(detector);
        REQUIRE(none.size() == 1);
        CHECK(none[0] == "p.yaml:7:22: require_context needs a 'context' list of words");
        CHECK(load_problems(detector + "    context: [patient, ' mrn ']\n").empty());
    }
}
