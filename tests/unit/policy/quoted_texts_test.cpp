// Quoted texts that yaml-cpp would let swallow the rest of a policy: one never closed runs to the end of
// the file; one closed far below takes in the lines written as entries between (or makes yaml-cpp
// report a mistake where it was closed). Both are refused at the opening quote; a quoted text that goes
// on over lines as YAML allows still loads, and lint names it.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"
#include "policy/policy.hpp"

using namespace sovereign::policy;

namespace {

// Three rules; the first one's description is written by each test (line 9, its value at column 18).
std::string policy_with_description(const std::string& description) {
    return R"(classes: [public, internal, confidential, restricted]
zones:
  - name: site
tenants:
  - name: demo
    clearance: confidential
rules:
  - name: demo-on-site
    description: )" + description + R"(
    when: {tenants: [demo]}
    then: {action: allow, zones: [site]}
  - name: no-credentials
    when: {detected: [aws_access_key]}
    then: {action: deny, message: no credentials}
  - name: redact-cards
    when: {detected: [credit_card]}
    then: {redact: [credit_card]}
)";
}

std::vector<std::string> problems(const std::string& text) {
    const auto loaded = load_policy_text(text, "p.yaml");
    std::vector<std::string> out;
    for (const auto& d : loaded.diagnostics) out.push_back(format_diagnostic(d));
    if (!out.empty()) CHECK_FALSE(loaded.policy);
    return out;
}

std::vector<std::string> lint(const std::string& text) {
    std::vector<std::string> out;
    for (const auto& d : lint_policy_text(text, "p.yaml", nullptr)) out.push_back(format_diagnostic(d));
    return out;
}

const std::string never_closed = "p.yaml:9:18: YAML syntax error: the quoted text that starts here is never closed";

}  // namespace

TEST_SUITE("quoted") {
    TEST_CASE("a quoted text never closed is refused at its opening quote, not read to the end of the file") {
        for (const char* opening : {"\"", "'"}) {
            CAPTURE(opening);
            const std::string text = policy_with_description(std::string(opening) + "The demo tenant may use the GPUs on site.");
            CHECK(problems(text) == std::vector<std::string>{never_closed});
            // The same at the end of a file whose last line has no line break (yaml-cpp says so at the end).
            std::string unterminated = text;
            unterminated.pop_back();
            CHECK(problems(unterminated) == std::vector<std::string>{never_closed});
        }
    }

    TEST_CASE("a quote inside a quoted text, written as YAML escapes it, does not close it") {
        // \" inside "...", '' inside '...': the text is still open when the file ends.
        CHECK(problems(policy_with_description("\"GPUs \\\"on site\\\"")) == std::vector<std::string>{never_closed});
        CHECK(problems(policy_with_description("'the tenant''s GPUs")) == std::vector<std::string>{never_closed});
        // Closed, with the same escapes and a backslash at its end, it loads as written.
        for (const auto& [written, read] : std::vector<std::pair<std::string, std::string>>{
                 {"\"GPUs \\\"on site\\\"\"", "GPUs \"on site\""},
                 {"'the tenant''s GPUs'", "the tenant's GPUs"},
                 {"\"a path: C:\\\\\"", "a path: C:\\"}}) {
            CAPTURE(written);
            const auto loaded = load_policy_text(policy_with_description(written), "p.yaml");
            REQUIRE(loaded.policy);
            CHECK(loaded.policy->model().rules.at(0).description == read);
            CHECK(loaded.policy->model().rules.size() == 3);
        }
    }

    TEST_CASE("a quoted text that goes on over lines indented under its key loads, as YAML allows") {
        const auto loaded = load_policy_text(policy_with_description("\"The demo tenant\n      may use the GPUs\n\n      on site.\""),
                                             "p.yaml");
        REQUIRE(loaded.policy);
        CHECK(loaded.policy->model().rules.at(0).description == "The demo tenant may use the GPUs\non site.");
        CHECK(loaded.policy->model().rules.size() == 3);
        // A long one, closed at the very end of the file with no line break after it.
        const std::string long_text(20000, 'x');
        const auto at_end = load_policy_text(policy_with_description("x") + "  - name: long\n    then: {action: allow}\n" +
                                                 "    description: \"" + long_text + "\n      " + long_text + "\"",
                                             "p.yaml");
        REQUIRE(at_end.policy);
        CHECK(at_end.policy->model().rules.at(3).description == long_text + " " + long_text);
    }

    TEST_CASE("a quoted text closed far below, taking in lines written as entries, is refused at its opening quote") {
        // yaml-cpp would close the text at the quote ending line 14 and read lines 10 to 14 as part of it.
        std::string swallowing = policy_with_description("\"The demo tenant may use the GPUs on site.");
        swallowing.replace(swallowing.find("message: no credentials}\n"), 25, "message: no credentials}\"\n");
        const auto out = problems(swallowing);
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:9:18: YAML syntax error: the quoted text that starts here runs on into line 10, "
                        "which reads as a key: close the quote where the text ends (a quoted text that goes on over "
                        "several lines indents its further lines past its key or '-')");
        // A list item or a comment at the indentation of the entries around the text reads as one too.
        const auto item = problems("classes: [public]\nzones:\n  - name: site\n    description: 'one\n  - name: two'\nrules: []\n");
        REQUIRE(item.size() == 1);
        CHECK(item[0].starts_with("p.yaml:4:18: YAML syntax error: the quoted text that starts here runs on into line 5, "
                                  "which reads as a list item"));
        const auto comment = problems("classes: [public]\nzones:\n  - name: site\n    description: 'one\n    # two'\nrules: []\n");
        REQUIRE(comment.size() == 1);
        CHECK(comment[0].find("runs on into line 5, which reads as a comment") != std::string::npos);
        // Indented past its key, the same words are text.
        const auto text_lines = load_policy_text(
            "classes: [public]\nzones:\n  - name: site\n    description: 'one\n      - name: two'\nrules: []\n", "p.yaml");
        REQUIRE(text_lines.policy);
        CHECK(text_lines.policy->model().zones.at(0).description == "one - name: two");
    }

    TEST_CASE("a quoted text closed by the opening quote of a later one is refused at its own opening quote") {
        // yaml-cpp closes the text at the quote before "no credentials" on line 14, then stumbles over the
        // rest of that line and reports "end of map not found" there, far from the mistake.
        std::string text = policy_with_description("\"The demo tenant may use the GPUs on site.");
        text.replace(text.find("message: no credentials}"), 24, "message: \"no credentials\"}");
        const auto out = problems(text);
        REQUIRE(out.size() == 1);
        CHECK(out[0].starts_with("p.yaml:9:18: YAML syntax error: the quoted text that starts here runs on into line 10, "
                                 "which reads as a key"));
    }

    TEST_CASE("a quoted text with an anchor and a tag before it is found past them") {
        const auto out = problems("classes: [public]\nzones:\n  - name: site\n    description: &d !!str \"one\nrules: []\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:4:27: YAML syntax error: the quoted text that starts here is never closed");
    }

    TEST_CASE("lint names a quoted text that goes on over lines, and reads on past one never closed") {
        const auto spanning = lint(policy_with_description("\"The demo tenant\n      may use the GPUs on site.\""));
        REQUIRE(spanning.size() == 1);
        CHECK(spanning[0] == "p.yaml:9:18: warning: the quoted text that starts here goes on to line 10, taking in what is "
                             "written on the lines between; if its closing quote belongs on this line, add it there; "
                             "if the text is meant to go on, write it as a block: '>' after the key, and the text "
                             "indented on the lines below");
        CHECK(lint(policy_with_description("\"The demo tenant may use the GPUs on site.\"")).empty());
        // Never closed: the error, then what the rest of the file holds (its other rules are read).
        const auto open = lint(policy_with_description("\"The demo tenant may use the GPUs on site.") +
                               "  - name: redact-cards\n    then: {redact: [email]}\n");
        REQUIRE_FALSE(open.empty());
        CHECK(open[0] == never_closed);
        CHECK(std::any_of(open.begin(), open.end(), [](const std::string& d) {
            return d.find("rule 'redact-cards' is defined twice") != std::string::npos;
        }));
    }
}
