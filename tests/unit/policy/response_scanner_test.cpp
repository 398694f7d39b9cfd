#include <doctest/doctest.h>

#include <random>

#include "fixture.hpp"
#include "policy/explain.hpp"
#include "policy/lookalike_fold.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign::policy;

namespace {
std::string stream(const std::shared_ptr<const Policy>& policy, const std::vector<std::string_view>& chunks,
                   std::map<std::string, int>* counts = nullptr, AnswerText form = AnswerText::prose) {
    ResponseScanner scanner(policy, "research", form);
    std::string out;
    for (const auto chunk : chunks) out += scanner.feed(chunk);
    out += scanner.finish();
    REQUIRE_FALSE(scanner.failed());
    if (counts != nullptr) *counts = scanner.counts();
    return out;
}
// The text streamed in three chunks, cut at every pair of places (the second every fifth byte),
// reads as expected every time.
void check_every_cut(const std::shared_ptr<const Policy>& policy, const std::string& text, const std::string& expected,
                     AnswerText form = AnswerText::prose) {
    const std::string_view v(text);
    for (std::size_t i = 0; i <= text.size(); ++i) {
        for (std::size_t j = i; j <= text.size(); j += 5) {
            CAPTURE(i);
            CAPTURE(j);
            CHECK(stream(policy, {v.substr(0, i), v.substr(i, j - i), v.substr(j)}, nullptr, form) == expected);
        }
    }
}
// The text streamed to a fresh scanner in chunks of 1 to max_chunk bytes.
std::string stream_in_random_chunks(const std::shared_ptr<const Policy>& policy, std::string_view text,
                                    std::mt19937& random, std::size_t max_chunk, AnswerText form = AnswerText::prose) {
    ResponseScanner streamed(policy, "anyone", form);
    std::string out;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = std::min<std::size_t>(text.size() - at, 1 + random() % max_chunk);
        out += streamed.feed(text.substr(at, n));
        at += n;
    }
    return out + streamed.finish();
}
// Random answers of the fragments, streamed in random chunks of 1 to max_chunk bytes, read exactly as
// each answer checked whole; returns how many redactions the whole answers held.
std::size_t compare_random_answers(const std::shared_ptr<const Policy>& policy, const std::vector<std::string>& fragments,
                                   std::uint32_t seed, int rounds, std::size_t max_pieces, std::size_t max_chunk,
                                   AnswerText form = AnswerText::prose) {
    const std::vector<std::string> joiners{"", " ", " ", "  ", ", ", "\n", "."};
    std::mt19937 random(seed);
    std::size_t redactions = 0;
    for (int round = 0; round < rounds; ++round) {
        const std::string text = testing::random_text(random, fragments, joiners, max_pieces);
        ResponseScanner whole(policy, "anyone", form);
        const std::string expected = whole.complete(text);
        CAPTURE(text);
        REQUIRE(stream_in_random_chunks(policy, text, random, max_chunk, form) == expected);
        for (std::size_t at = expected.find("[REDACTED:"); at != std::string::npos; at = expected.find("[REDACTED:", at + 1))
            ++redactions;
    }
    return redactions;
}
}  // namespace

TEST_SUITE("response") {
    TEST_CASE("a card number split at every possible point is still redacted in the output") {
        const auto policy = testing::load_fixture();
        REQUIRE(policy);
        const std::string text = "Your card 4111 1111 1111 1111 was charged; mail jane@example.com for help.";
        const std::string expected = "Your card [REDACTED:credit_card] was charged; mail jane@example.com for help.";
        for (std::size_t i = 0; i <= text.size(); ++i) {
            for (std::size_t j = i; j <= text.size(); j += 7) {
                const std::string_view v(text);
                std::map<std::string, int> counts;
                CAPTURE(i);
                CAPTURE(j);
                CHECK(stream(policy, {v.substr(0, i), v.substr(i, j - i), v.substr(j)}, &counts) == expected);
                CHECK(counts["credit_card"] == 1);
                CHECK(counts["email"] == 1);
            }
        }
    }

    TEST_CASE("a card number with tabs between its groups is redacted wherever the stream is cut") {
        const auto policy = testing::load_fixture();
        REQUIRE(policy);
        const std::string text = "Card\t4111\t1111\t1111\t1111\tcharged.";
        const std::string expected = "Card\t[REDACTED:credit_card]\tcharged.";
        for (std::size_t i = 0; i <= text.size(); ++i) {
            const std::string_view v(text);
            CAPTURE(i);
            CHECK(stream(policy, {v.substr(0, i), v.substr(i)}, nullptr) == expected);
        }
    }

    TEST_CASE("a card number with control characters between its digits is redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("credit_card");
        REQUIRE(policy);
        const std::string nul(1, '\0');
        check_every_cut(policy, "Card 4111" + nul + "1111" + nul + "1111" + nul + "1111 charged.",
                        "Card [REDACTED:credit_card] charged.");
        check_every_cut(policy, "Card 4\x01" "111\x7f" "1111\u0080" "1111\x1b" "1111 charged.",
                        "Card [REDACTED:credit_card] charged.");
    }

    TEST_CASE("a private key the answer cuts before its END line is redacted whole wherever the stream is cut") {
        const auto policy = testing::redacting_answers("private_key");
        REQUIRE(policy);
        const std::string line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        check_every_cut(policy, "Key: -----BEGIN PRIVATE KEY-----\n" + line + "\nMIIEvQ",
                        "Key: [REDACTED:private_key]");
        check_every_cut(policy, "Key: -----BEGIN PRIVATE KEY-----\n" + line + "\nAB. Done.",
                        "Key: [REDACTED:private_key]. Done.");
    }

    TEST_CASE("values wrapped over lines or copied one group a line are redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("credit_card, iban, us_ssn, phone");
        REQUIRE(policy);
        for (const std::string value : {"4111 1111\n1111 1111", "4111\n1111\n1111\n1111", "4111 1111 \r\n  1111 1111",
                                        "DE89 3704\n0044 0532\n0130 00", "536-22-\r\n1234", "+44 20\n7946 0958"}) {
            CAPTURE(value);
            check_every_cut(policy, "Here:\n" + value + "\nok.", "Here:\n[REDACTED:" +
                                std::string(value.starts_with("DE")    ? "iban"
                                            : value.starts_with("536") ? "us_ssn"
                                            : value.starts_with("+")   ? "phone"
                                                                       : "credit_card") +
                                "]\nok.");
        }
        // A table of cards, one a line, is two cards; a column of groups longer than a card is none.
        check_every_cut(policy, "Cards:\n4111 1111 1111 1111\n5555 5555 5555 4444\n",
                        "Cards:\n[REDACTED:credit_card]\n[REDACTED:credit_card]\n");
        check_every_cut(policy, "Codes:\n4111\n1111\n1111\n1111\n2222\n", "Codes:\n4111\n1111\n1111\n1111\n2222\n");
    }

    TEST_CASE("an Italian fiscal code with digits replaced by letters is redacted wherever the stream is cut") {
        // Found only near other digits before, it was redacted or not depending on where the chunks ended.
        const auto policy = testing::redacting_answers("it_codice_fiscale");
        REQUIRE(policy);
        for (const std::string code : {"RSSMRA85T10A5SNT", "RSSMRAURTMLARSNL"}) {
            CAPTURE(code);
            check_every_cut(policy, "Il codice fiscale " + code + " risulta valido.",
                            "Il codice fiscale [REDACTED:it_codice_fiscale] risulta valido.");
            check_every_cut(policy, "CF " + code + " e 2024", "CF [REDACTED:it_codice_fiscale] e 2024");
        }
    }

    TEST_CASE("a whole answer checked in one pass reads the same as the stream") {
        const auto policy = testing::load_fixture();
        REQUIRE(policy);
        const std::string text = "Your card 4111 1111 1111 1111 was charged; mail jane@example.com for help.";
        ResponseScanner scanner(policy, "research");
        CHECK(scanner.complete(text) == "Your card [REDACTED:credit_card] was charged; mail jane@example.com for help.");
        CHECK(scanner.counts().at("credit_card") == 1);
        CHECK(scanner.counts().at("email") == 1);
        ResponseScanner after_a_chunk(policy, "research");
        std::string out = after_a_chunk.feed(std::string_view(text).substr(0, 17));
        out += after_a_chunk.complete(std::string_view(text).substr(17));
        CHECK(out == stream(policy, {text}));
    }

    TEST_CASE("text that cannot start a value is released at once") {
        const auto loaded = load_policy_text(R"(classes: [public, restricted]
zones: [{name: site}]
detectors: [{name: codename, class: restricted, keywords: [Bluebird]}]
responses: {redact: [credit_card]}
rules: [{name: all, then: {action: allow}}]
)", "p.yaml");
        REQUIRE(loaded.policy);
        ResponseScanner scanner(loaded.policy, "anyone");
        CHECK(scanner.feed("The weather is fine today, ") == "The weather is fine today, ");
        CHECK(scanner.held_back() == 0);
        // The last word might still become an e-mail address or a key; digits might become a card.
        CHECK(scanner.feed("call 4111 1111") == "call ");
        CHECK(scanner.held_back() == 9);
        CHECK(scanner.feed(" 1111 1111 thanks") == "[REDACTED:credit_card] ");
        CHECK(scanner.held_back() == 6);
        CHECK(scanner.finish() == "thanks");
        // Chinese text (no spaces) is not held back for an address it might begin: the letters an
        // address is looked for with are those of the scripts of Europe and around it.
        ResponseScanner chinese(testing::redacting_answers("email"), "anyone");
        const std::string text = "\u4eca\u5929\u5929\u6c14\u5f88\u597d\u6211\u4eec\u53bb\u516c\u56ed\u5427";
        const std::string out = chinese.feed(text);
        CHECK(out.size() + chinese.held_back() == text.size());
        CHECK(chinese.held_back() <= 3);  // at most its last character, which a look-alike's bytes may follow
        CHECK(out + chinese.finish() == text);
    }

    TEST_CASE("an e-mail address written out with [at] and dot is redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("email");
        REQUIRE(policy);
        for (const std::string mail : {"jane.doe [at] example [dot] com", "jane.doe at example [dot] com", "JANE AT EXAMPLE DOT COM",
                                       "jane (dot) doe (at) mail.example.org"}) {
            const std::string text = "Sure, write to " + mail + " today.";
            const std::string expected = "Sure, write to [REDACTED:email] today.";
            CAPTURE(mail);
            check_every_cut(policy, text, expected);
        }
        // Prose with the word "at" is held back only until the words after it show it is no address.
        ResponseScanner scanner(policy, "anyone");
        std::string out = scanner.feed("We met at");
        CHECK(out == "We ");
        out += scanner.feed(" noon, then");
        out += scanner.feed(" left.");
        out += scanner.finish();
        CHECK(out == "We met at noon, then left.");
    }

    TEST_CASE("an e-mail address written with URL or HTML escapes is redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("email");
        REQUIRE(policy);
        for (const std::string mail : {"jane.doe%40example.com", "jane.doe&#64;example&#46;com", "jane&commat;example.org"}) {
            const std::string text = "Open https://crm.example/?q=" + mail + "&x=1 now.";
            const std::string expected = "Open https://crm.example/?q=[REDACTED:email]&x=1 now.";
            CAPTURE(mail);
            check_every_cut(policy, text, expected);
        }
    }

    TEST_CASE("a value written with JSON backslash escapes is redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("email, credit_card, us_ssn");
        REQUIRE(policy);
        // Tool-call arguments as the model streams them: every cut, inside each escape too, reads as
        // the whole answer does.
        const std::vector<std::pair<std::string, std::string>> cases{
            {R"({"ssn":"\u0035\u0033\u0036-22-1234","ok":true})", R"({"ssn":"[REDACTED:us_ssn]","ok":true})"},
            {R"({"card":"4111\u00201111\u00201111\u00201111"})", R"({"card":"[REDACTED:credit_card]"})"},
            {R"({"to":"jane\u0040example.com","body":"Hi\nthere \uD83D\uDE00"})",
             R"({"to":"[REDACTED:email]","body":"Hi\nthere \uD83D\uDE00"})"},
            {R"({"note":"card 4111 1111\n1111 1111 thanks"})", R"({"note":"card [REDACTED:credit_card] thanks"})"},
            // Right after "\n": the marker follows the escape whole, and the JSON stays JSON.
            {R"({"body":"Hi,\njane@example.com\nBye"})", R"({"body":"Hi,\n[REDACTED:email]\nBye"})"},
            // Not values: an escaped backslash before "u0035", a lone surrogate, a path.
            {R"({"s":"\\u0035\\u0033\\u0036-22-1234 \uD83D C:\\Users\\x"})",
             R"({"s":"\\u0035\\u0033\\u0036-22-1234 \uD83D C:\\Users\\x"})"},
        };
        for (const auto& [text, expected] : cases) {
            CAPTURE(text);
            ResponseScanner whole(policy, "anyone");
            CHECK(whole.complete(text) == expected);
            check_every_cut(policy, text, expected);
        }
    }

    TEST_CASE("a run of backslashes reads the same wherever the stream cuts it or the kept text begins") {
        // The scanner keeps 128 bytes of emitted text before what it holds back. Kept from between the
        // two backslashes of a "\\", the run would pair up the other way and its last backslash escape
        // the "u0035" after it: a '5' that makes "536-22-1234" an SSN the whole answer does not hold.
        // The "\n" after the run holds the stream back to a place that puts that cut inside the run.
        const auto policy = testing::redacting_answers("us_ssn");
        REQUIRE(policy);
        for (std::size_t run = 398; run < 402; ++run) {
            for (std::size_t filler = 40; filler < 130; filler += 9) {
                const std::string text = " " + std::string(run, '\\') + "u003536-22-1234" + std::string(filler, 'x') +
                                         R"(\n)" + std::string(400, 'y');
                ResponseScanner whole(policy, "anyone");
                const std::string expected = whole.complete(text);
                CAPTURE(run);
                CAPTURE(filler);
                CHECK((expected.find("[REDACTED:us_ssn]") != std::string::npos) == (run % 2 == 1));
                for (std::size_t size = 1; size <= 9; size += 2) {
                    std::vector<std::string_view> chunks;
                    for (std::size_t at = 0; at < text.size(); at += size)
                        chunks.push_back(std::string_view(text).substr(at, size));
                    CAPTURE(size);
                    CHECK(stream(policy, chunks) == expected);
                }
            }
        }
    }

    TEST_CASE("a value whose context word comes after it, in a later chunk, is held back until it comes") {
        const auto policy = testing::redacting_answers("credit_card");
        REQUIRE(policy);
        ResponseScanner scanner(policy, "anyone");
        CHECK(scanner.feed("Number 4111 - 1111 - 1111 - 1111 ") == "Number ");
        CHECK(scanner.feed("is your ") == "");
        std::string rest = scanner.feed("card.");
        CHECK(rest.starts_with("[REDACTED:credit_card] is your "));
        CHECK(rest + scanner.finish() == "[REDACTED:credit_card] is your card.");
        ResponseScanner no_word(policy, "anyone");
        std::string out = no_word.feed("Number 4111 - 1111 - 1111 - 1111 ");
        out += no_word.feed("is the reference of your order, thanks.");
        CHECK(out.starts_with("Number 4111 - 1111 - 1111 - 1111 is the reference"));
        out += no_word.finish();
        CHECK(out == "Number 4111 - 1111 - 1111 - 1111 is the reference of your order, thanks.");
    }

    TEST_CASE("text fed protected is read as context and completes values, but none of it is ever removed") {
        const auto policy = testing::redacting_answers("us_ssn, credit_card");
        REQUIRE(policy);
        // Model text, a protected value (what a vault token stands for) and model text again, each
        // model text cut in two at every place.
        const auto check_around = [&](std::string_view before, std::string_view kept, std::string_view after,
                                      const std::string& expected, const std::map<std::string, int>& counts) {
            for (std::size_t i = 0; i <= before.size(); ++i) {
                for (std::size_t j = 0; j <= after.size(); ++j) {
                    CAPTURE(i);
                    CAPTURE(j);
                    ResponseScanner scanner(policy, "anyone");
                    std::string out = scanner.feed(before.substr(0, i));
                    out += scanner.feed(before.substr(i));
                    out += scanner.feed_protected(kept);
                    out += scanner.feed(after.substr(0, j));
                    out += scanner.feed(after.substr(j));
                    out += scanner.finish();
                    CHECK(out == expected);
                    CHECK(scanner.counts() == counts);
                }
            }
        };
        // A bare SSN counts next to its context word: the word after a value the client sent still counts.
        check_around("536221234 is ", "jo@example.com", "'s SSN.", "[REDACTED:us_ssn] is jo@example.com's SSN.",
                     {{"us_ssn", 1}});
        // The client's own card comes back; it is no finding of the answer.
        check_around("Your card ", "4111 1111 1111 1111", " is on file.", "Your card 4111 1111 1111 1111 is on file.", {});
        // A card the model completes with the client's digits: the model's part is removed, the client's kept.
        check_around("Card 4111 1111 ", "1111 1111", " ok.", "Card [REDACTED:credit_card]1111 1111 ok.",
                     {{"credit_card", 1}});
    }

    TEST_CASE("random answers cut into random chunks read exactly as the whole answer checked at once") {
        const auto policy = testing::redacting_answers("email, credit_card, iban");
        REQUIRE(policy);
        const std::vector<std::string> fragments{
            "jane.doe [at] example [dot] com", "j(at)example(dot)org", "jane[@]example[.]com", "JANE AT EXAMPLE DOT COM",
            "jane at example [dot] com", "jane@example.org", "4111 1111 1111 1111", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
            "4111 - 1111 - 1111 - 1111", "DE89 3704 0044 0532 0130 00", "card", "mail", "at", "dot", "[at]", "(dot)",
            "[", "]", "(", ")", "@", ".", "-", "the", "example", "com", "4111", "1111", "\u00FC",
            "jane%40example.com", "4111%201111%201111%201111", "jane&#64;example&period;org", "%40", "%20", "&#64;",
            "&nbsp;", "%", "&", "a%2", "4111 1111\n1111 1111", "DE89\r\n3704 0044\n0532 0130 00", "\t", "\r\n", "\n  "};
        // The texts hold values, so the comparison is about something.
        CHECK(compare_random_answers(policy, fragments, 20261123, 3000, 20, 12) > 3000);
    }

    TEST_CASE("random answers with runs of invisible characters cut into random chunks read as the whole answer") {
        // Values, pieces of values and forms with runs of 1 to 12 invisible or control characters between
        // them (the fold reads through up to max_removed_run): what answer_scan_fuzz found in session 31.
        const auto policy = testing::redacting_answers("email, credit_card, iban, phone");
        REQUIRE(policy);
        const std::string nul(1, '\0');
        std::vector<std::string> fragments{"jane", "doe", "@", "example", ".", "com", " [at] ", " [dot] ", "4111", "1111",
                                           " ", "-", "DE89", "3704", "0044", "0532", "0130", "00", "+44", "20",
                                           "7946", "0958", "&nbsp;", "&", "nbsp;", "%40", "the", "call"};
        for (const std::string& invisible : {nul, std::string("\x0e"), std::string("\xe2\x80\x8b"),
                                             std::string("\xef\xbb\xbf"), std::string("\xf3\xa0\x80\xa1")})
            for (const std::size_t n : {std::size_t{1}, std::size_t{3}, max_removed_run, max_removed_run + 1, std::size_t{12}}) {
                std::string run;
                for (std::size_t i = 0; i < n; ++i) run += invisible;
                fragments.push_back(run);
            }
        // Whole values with a run inside: after one character, and after every character.
        std::mt19937 random(31);
        for (const std::string value : {"jane.doe@example.org", "jane [at] example [dot] org", "4111 1111 1111 1111",
                                        "DE89 3704 0044 0532 0130 00", "+44 20 7946 0958"}) {
            for (const std::string& invisible : {nul, std::string("\xe2\x80\x8b"), std::string("\xf3\xa0\x80\xa1")}) {
                for (const std::size_t n : {std::size_t{2}, max_removed_run, max_removed_run + 1}) {
                    std::string run;
                    for (std::size_t i = 0; i < n; ++i) run += invisible;
                    std::string once = value;
                    once.insert(1 + random() % (value.size() - 1), run);
                    fragments.push_back(once);
                    std::string every;
                    for (const char c : value) every += std::string(1, c) + (n == 2 ? invisible : std::string());
                    fragments.push_back(every);
                }
            }
        }
        CHECK(compare_random_answers(policy, fragments, 20261125, 1500, 8, 12) > 300);
    }

    TEST_CASE("random answers with backslash escapes cut into random chunks read as the whole answer") {
        const auto policy = testing::redacting_answers("email, credit_card, us_ssn, iban");
        REQUIRE(policy);
        const std::vector<std::string> fragments{
            R"(\u0034\u0031\u0031\u0031)", "1111", "DE89 3704 0044 0532 0130 00", R"(\nDE89)", R"(\u0020)", R"(\u0040)",
            R"(\u0035\u0033\u0036-22-1234)", "536-22-1234", R"(jane\u0040example\u002Ecom)", "jane", "example.com", R"(\\)", R"(\)", R"(\\\)", R"(\u)", R"(\u00)",
            R"(\uD83D\uDE00)", R"(\uD83D)", R"(\uDE00)", R"(\n)", R"(\t)", R"(\")", R"(\/)", R"({"card":")", R"("})",
            "card", "ssn", "4111", "-", "@", "%40", "&#64;", "u0034", "C:\\Users\\x", "\\d{3}"};
        CHECK(compare_random_answers(policy, fragments, 20261125, 3000, 20, 12) > 300);
    }

    TEST_CASE("a value written with escapes for look-alikes is redacted whole wherever the stream is cut") {
        const auto policy = testing::redacting_answers("email, credit_card, us_ssn");
        REQUIRE(policy);
        const std::vector<std::pair<std::string, std::string>> cases{
            {R"({"card":"4111\u00a01111\u00a01111\u00a01111","n":1})", R"({"card":"[REDACTED:credit_card]","n":1})"},
            {"see /pay?card=4111%C2%A01111%C2%A01111%C2%A01111&x=1", "see /pay?card=[REDACTED:credit_card]&x=1"},
            {"<td>card &#xFF14;111 1111 1111 1111</td>", "<td>card [REDACTED:credit_card]</td>"},
            {R"(ssn \uff15\uff13\uff16\u201122\u20111234.)", "ssn [REDACTED:us_ssn]."},
            {"mail NDExMcKgMTExMcKgMTExMcKgMTExMQ== now", "mail [REDACTED:credit_card] now"},
        };
        for (const auto& [text, expected] : cases) {
            CAPTURE(text);
            ResponseScanner whole(policy, "anyone");
            CHECK(whole.complete(text) == expected);
            check_every_cut(policy, text, expected);
        }
    }

    TEST_CASE("JSON text is read with its string escapes resolved, then its escapes, and no deeper, at every cut") {
        // A tool call's arguments: JSON text whose strings may hold JSON text again. The request side
        // reads such arguments with their string escapes resolved before the detectors read escapes;
        // the answer side reads the same two levels, and replaces the value as written.
        const auto policy = testing::redacting_answers("email, credit_card, us_ssn");
        REQUIRE(policy);
        const std::vector<std::pair<std::string, std::string>> cases{
            {R"({"note":"{\"ssn\":\"\\u0035\\u0033\\u0036-22-1234\"}"})", R"({"note":"{\"ssn\":\"[REDACTED:us_ssn]\"}"})"},
            {R"({"s":"\\u0035\\u0033\\u0036-22-1234 and C:\\Users\\x"})", R"({"s":"[REDACTED:us_ssn] and C:\\Users\\x"})"},
            {R"({"note":"{\"card\":\"4111\\u00a01111\\u00a01111\\u00a01111\"}"})",
             R"({"note":"{\"card\":\"[REDACTED:credit_card]\"}"})"},
            {R"({"card":"4111\u00a01111\u00a01111\u00a01111"})", R"({"card":"[REDACTED:credit_card]"})"},
            {R"({"to":"\"jane\\u0040example.com\" \uD83D\uDE00"})", R"({"to":"\"[REDACTED:email]\" \uD83D\uDE00"})"},
            // Escaped three times over: a backslash, then text. And a lone surrogate stays as written.
            {R"({"note":"{\"ssn\":\"\\\\u0035\\\\u0033\\\\u0036-22-1234\"}"})",
             R"({"note":"{\"ssn\":\"\\\\u0035\\\\u0033\\\\u0036-22-1234\"}"})"},
            {R"({"s":"\uD83D","p":"\\\\server\\share"})", R"({"s":"\uD83D","p":"\\\\server\\share"})"},
        };
        for (const auto& [text, expected] : cases) {
            CAPTURE(text);
            ResponseScanner whole(policy, "anyone", AnswerText::json_text);
            CHECK(whole.complete(text) == expected);
            check_every_cut(policy, text, expected, AnswerText::json_text);
        }
        // Prose is read one level deep, as a request's content is.
        ResponseScanner prose(policy, "anyone");
        const std::string twice = R"(ssn \\u0035\\u0033\\u0036-22-1234)";
        CHECK(prose.complete(twice) == twice);
    }

    TEST_CASE("random JSON text with escapes cut into random chunks reads as the whole answer") {
        const auto policy = testing::redacting_answers("email, credit_card, us_ssn, iban");
        REQUIRE(policy);
        const std::vector<std::string> fragments{
            R"(\\u0034\\u0031\\u0031\\u0031)", R"(\u0034\u0031\u0031\u0031)", "1111", R"(\\u00a0)", R"(\u00a0)", R"(\\u0020)",
            R"(\\u0035\\u0033\\u0036-22-1234)", R"(\\\\u0035)", R"(\\n)", R"(\n)", R"(\\\")", R"(\")", R"(\\)", R"(\\\\)", R"(\)",
            R"(\u)", R"(\\u00)", R"(\uD83D)", R"(\\uD83D\\uDE00)", R"(\uDE00)", R"({\"card\":\")", R"(\"})", "%C2%A0", "&#xFF14;",
            "jane", R"(\\u0040)", "example.com", "card", "ssn", "4111", "-", "DE89 3704 0044 0532 0130 00", "\u00a0"};
        CHECK(compare_random_answers(policy, fragments, 20261124, 2000, 20, 12, AnswerText::json_text) > 200);
    }

    TEST_CASE("a phone number is held back while the next chunk may show it to be an amount") {
        // Found by answer_scan_fuzz: ",18" at the end of a chunk read as an amount's decimals, and the
        // number was released; with the "9" that followed it is a phone number followed by ",189".
        const auto policy = testing::redacting_answers("phone");
        REQUIRE(policy);
        check_every_cut(policy, "phone +44 20 7946 0958,189 more", "phone [REDACTED:phone],189 more");
        check_every_cut(policy, "balance +12.345.678,00 EUR", "balance +12.345.678,00 EUR");
    }

    TEST_CASE("dates of birth with the month written as a word are redacted alike streamed and whole") {
        const auto policy = testing::redacting_answers("date_of_birth");
        REQUIRE(policy);
        check_every_cut(policy, "She was born on 12 March 1985 in Leeds.", "She was born on [REDACTED:date_of_birth] in Leeds.");
        check_every_cut(policy, "DOB: March 12th, 1985", "DOB: [REDACTED:date_of_birth]");
        const std::vector<std::string> fragments{
            "born", "DOB", "geboren am", "12 March 1985", "March 12, 1985", "12. M\u00e4rz 1985", "1er mars 1985",
            "12 de marzo de 1985", "12th of March, 1985", "31 February 1985", "Mar", "March", "12", "1985", "de",
            "of", "may", "May 5", "5 may", "2020", "the", "\u00e4", ",", "."};
        CHECK(compare_random_answers(policy, fragments, 20261124, 2000, 12, 9) > 300);
    }

    TEST_CASE("a value written with an escape is decided the same whatever escape comes after it") {
        // Found by tests/fuzz/answer_scan_fuzz: a later escape's region, merged with the value's,
        // let the whole answer redact more of a long address than the stream (which decides the value
        // before the later escape arrives) did.
        const auto policy = testing::redacting_answers("email");
        REQUIRE(policy);
        std::mt19937 random(20261123);
        for (std::size_t label = 80; label <= 100; label += 4) {
            const std::string value = "8%40eple.Reach" + std::string(label, 't');
            for (const std::string tail : {"] m%31", "] m31", "] m%31%32 and more", " %41"}) {
                const std::string text = value + tail;
                ResponseScanner whole(policy, "anyone");
                const std::string expected = whole.complete(text);
                CAPTURE(text);
                CHECK(expected.starts_with("[REDACTED:email]"));
                for (int round = 0; round < 40; ++round) CHECK(stream_in_random_chunks(policy, text, random, 16) == expected);
            }
        }
        // A long domain after an escaped '@', cut short by the escape's region in the stream and read
        // whole (then refused: '_' follows it) when a later escape's region extended it: regions now
        // reach far enough past an escape for the longest value.
        const std::string cut = "e%40exampOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOsemiOOO.OOOOOOOOOOOOOOOOOOOOnumOOOOOOOOOOOOO"
                                "OOOOOOOO_OOO\x1a" "n\xff" "\xac" "p&nbsp;";
        ResponseScanner whole(policy, "anyone");
        const std::string expected = whole.complete(cut);
        for (int round = 0; round < 200; ++round) CHECK(stream_in_random_chunks(policy, cut, random, 16) == expected);
    }

    TEST_CASE("a value written with look-alike characters is held back whole wherever the stream cuts it") {
        // Found by tests/fuzz/answer_scan_fuzz: a cut inside or before a look-alike's UTF-8 bytes
        // released the start of the value before the rest came.
        const auto policy = testing::redacting_answers("email, credit_card");
        REQUIRE(policy);
        for (const std::string text : {"Mail -@\xdb\xb6.do now", "Write to jane\xef\xbc\xa0" "example.com today",
                                       "card \xd9\xa4\xd9\xa1\xd9\xa1\xd9\xa1 1111 1111 1111 please",
                                       "\xef\xbd\x8a\xef\xbd\x81ne@example.org"}) {
            ResponseScanner whole(policy, "anyone");
            const std::string expected = whole.complete(text);
            CAPTURE(text);
            CHECK(expected.find("[REDACTED:") != std::string::npos);
            check_every_cut(policy, text, expected);
        }
    }

    TEST_CASE("a value stretched by runs of invisible characters reads the same streamed and whole") {
        // Found by tests/fuzz/answer_scan_fuzz: "+44 2", 85 NUL bytes, then "0 7946 0958". Read whole, the
        // fold removed every NUL and found a phone number; streamed, the hold-back counted the NULs as
        // characters of the value, ran out of reach and released "+44 2". A run of more than
        // max_removed_run such characters now ends a value (policy/lookalike_fold.hpp), and the
        // hold-back is decided on the folded text, where the ones it reads through are gone.
        const auto policy = testing::redacting_answers("phone, iban, credit_card, email");
        REQUIRE(policy);
        const std::string fuzzed = "SSN 123-45-67 pno98eh +44 2" + std::string(85, '\0') + "0 7946 0958, NINO 'AB246912C";
        std::mt19937 random(20261125);
        for (const std::string& invisible : {std::string(1, '\0'), std::string("\xe2\x80\x8b"), std::string("\xf3\xa0\x80\xa1")}) {
            for (const std::size_t n : {std::size_t{1}, std::size_t{8}, max_removed_run, max_removed_run + 1, std::size_t{40}}) {
                std::string run;
                for (std::size_t i = 0; i < n; ++i) run += invisible;
                const bool read_through = n <= max_removed_run;
                // Between two characters of the value, and (IBAN, card) between every two characters.
                std::string spread_iban;
                for (const char c : std::string("DE89 3704 0044 0532 0130 00")) spread_iban += std::string(1, c) + run;
                for (const auto& [text, value] : std::vector<std::pair<std::string, std::string>>{
                         {"Call +44 2" + run + "0 7946 0958 now", "phone"},
                         {"Mail jane" + run + ".doe@example.org now", "email"},
                         {"IBAN " + spread_iban + " now", "iban"},
                         {"Card 4111 1111" + run + " 1111 1111 now", "credit_card"}}) {
                    CAPTURE(text);
                    CAPTURE(n);
                    ResponseScanner whole(policy, "anyone");
                    const std::string expected = whole.complete(text);
                    CHECK((expected.find("[REDACTED:" + value + "]") != std::string::npos) == read_through);
                    for (int round = 0; round < 12; ++round)
                        REQUIRE(stream_in_random_chunks(policy, text, random, 1 + round % 16) == expected);
                }
            }
        }
        ResponseScanner whole(policy, "anyone");
        const std::string expected = whole.complete(fuzzed);
        CHECK(expected.find("+44 2") != std::string::npos);  // 85 NULs end the phone number
        for (int round = 0; round < 30; ++round) REQUIRE(stream_in_random_chunks(policy, fuzzed, random, 16) == expected);
    }

    TEST_CASE("a value is held back as the scan reads it: written-out forms with invisible characters in them") {
        // Found by tests/fuzz/answer_scan_fuzz: "jane [at] exa\0\x0ele [dot] com" is an address to the
        // whole answer's scan (the fold removes the NUL and the shift-out), while the stream, deciding
        // its hold-back on the text as written, took the NUL for the end of the name and released it.
        const auto policy = testing::redacting_answers("email, iban, phone, credit_card");
        REQUIRE(policy);
        const std::string nul(1, '\0');
        for (const std::string& text : std::vector<std::string>{"Reach jane [at] exa" + nul + "\x0ele [dot] com today",
                                       "Reach jane [a" + nul + "t] example [d\xe2\x80\x8bot] com today",
                                       "IBAN DE89 37\xe2\x81\xa0" "04 0044 0532 0130 00 ok",
                                       "Call +44 20\xc2\xad 7946 0958 now",
                                       // A byte that begins no character reads as U+001A (a space to
                                       // the fold) in the plain reading too, as in the escape's region.
                                       "m\xfe[at]e[dot]ne%0e",
                                       // An escape written with NULs in it is one to the scan.
                                       "com, 4111&" + nul + nul + "nbsp;1111&nbsp;1111&nbsp;1111"}) {
            ResponseScanner whole(policy, "anyone");
            const std::string expected = whole.complete(text);
            CAPTURE(text);
            CHECK(expected.find("[REDACTED:") != std::string::npos);
            check_every_cut(policy, text, expected);
            // `policy explain` reads an answer as the gateway does.
            CHECK(explain_answer(policy, "anyone", text).find(expected) != std::string::npos);
        }
    }

    TEST_CASE("what a streamed answer releases ends on a whole character, wherever the stream is cut") {
        // Each piece the gateway releases becomes a JSON string of its own: a character cut in two
        // would reach the client as two replacement characters.
        for (const auto& policy : {testing::redacting_answers("email, credit_card"), testing::load_fixture()})
        for (const std::string text : {"Caf\xc3\xa9 4111 1111 1111 1111 na\xc3\xafve \xe2\x80\x94 1111",
                                       "\xe6\x97\xa5\xe6\x9c\xac 12 \xf0\x9f\x98\x80 jane@example.com \xc3\xa9 3",
                                       "patient r\xc3\xa9" "f 12\xe2\x80\xaf" "345 \xef\xbc\x94 PAT-123456 Nightj\xc3\xa4r"}) {
            REQUIRE(policy);
            CAPTURE(text);
            ResponseScanner whole(policy, "anyone");
            const std::string expected = whole.complete(text);
            for (std::size_t cut = 0; cut <= text.size(); ++cut) {
                // Whole characters only go in (one JSON string each); each piece out must be whole too.
                if (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) continue;
                CAPTURE(cut);
                ResponseScanner streamed(policy, "anyone");
                std::string out;
                for (const std::string& piece : {streamed.feed(std::string_view(text).substr(0, cut)),
                                                streamed.feed(std::string_view(text).substr(cut)), streamed.finish()}) {
                    CHECK(testing::whole_characters(piece));
                    out += piece;
                }
                CHECK(out == expected);
            }
        }
    }

    TEST_CASE("identifiers written in lower case are redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("iban, es_dni, es_nie, uk_nino, it_codice_fiscale");
        REQUIRE(policy);
        const std::vector<std::pair<std::string, std::string>> values{
            {"de89 3704 0044 0532 0130 00", "iban"}, {"x1234567l", "es_nie"}, {"ab 12 34 56 c", "uk_nino"},
            {"rssmra85t10a562s", "it_codice_fiscale"}, {"12345678z", "es_dni"}};
        for (const auto& [value, detector] : values) {
            CAPTURE(value);
            check_every_cut(policy, "Sure: " + value + " is on file.", "Sure: [REDACTED:" + detector + "] is on file.");
        }
        // Streamed in random pieces, answers of such values, their beginnings and words read as whole answers.
        const std::vector<std::string> fragments{"de89 3704 0044 0532 0130 00", "de89370400440532013000", "x1234567l",
                                                 "ab 12 34 56 c", "ab123456c", "rssmra85t10a562s", "12345678z", "de", "x",
                                                 "ab", "12", "3704", "words", "y"};
        CHECK(compare_random_answers(policy, fragments, 20261124, 1500, 12, 9) > 500);
    }

    TEST_CASE("findings that overlap are removed together, none of either reaching the client") {
        // An IPv4 address written inside an IPv6 one is that whole address to both detectors.
        const auto both = testing::redacting_answers("ipv4, ipv6");
        REQUIRE(both);
        // (Both detectors confirm the same text; the marker names the first.)
        check_every_cut(both, "connection from ::ffff:10.20.30.40 refused", "connection from [REDACTED:ipv4] refused");
        check_every_cut(both, "host 2001:db8::1.2.3.4 is up", "host [REDACTED:ipv4] is up");
        // Only one of them redacted: it removes the whole address, no octet of it left beside the marker.
        ResponseScanner ipv4_only(testing::redacting_answers("ipv4"), "anyone");
        CHECK(ipv4_only.complete("from ::ffff:10.20.30.40 refused") == "from [REDACTED:ipv4] refused");
        ResponseScanner ipv6_only(testing::redacting_answers("ipv6"), "anyone");
        CHECK(ipv6_only.complete("from ::ffff:10.20.30.40 refused") == "from [REDACTED:ipv6] refused");
    }

    TEST_CASE("answer_removals joins overlapping findings to be redacted and leaves the others alone") {
        const std::vector<char> redact{1, 1, 0};
        const std::vector<Detection> found{{0, 2, 8}, {1, 6, 12}, {0, 12, 14}, {2, 20, 30}, {1, 25, 40}, {0, 41, 45}};
        const auto removals = answer_removals(found, redact);
        REQUIRE(removals.size() == 4);
        CHECK((removals[0].begin == 2 && removals[0].end == 12 && removals[0].detector == 0));
        CHECK((removals[1].begin == 12 && removals[1].end == 14));  // adjacent, not overlapping: its own marker
        CHECK((removals[2].begin == 25 && removals[2].end == 40 && removals[2].detector == 1));
        CHECK((removals[3].begin == 41 && removals[3].end == 45));
    }

    TEST_CASE("addresses with apostrophes and letters beyond ASCII are redacted whole, streamed and whole") {
        const auto policy = testing::redacting_answers("email, ipv4, ipv6");
        REQUIRE(policy);
        for (const std::string mail : {"jane.o'neil@example.co.uk", "j\xc3\xb6ran@example.com", "o\xe2\x80\x99neil@example.ie",
                                       "\xc3\xa9lodie@b\xc3\xbc" "cher.de"}) {
            CAPTURE(mail);
            check_every_cut(policy, "Write to " + mail + " today.", "Write to [REDACTED:email] today.");
        }
        const std::vector<std::string> fragments{
            "jane.o'neil@example.co.uk", "j\xc3\xb6ran@example.com", "o\xe2\x80\x99neil@b\xc3\xbc" "cher.de", "it's",
            "'", "\xe2\x80\x99", "\xc3\xb6", "@", "example.com", "::ffff:10.20.30.40", "2001:db8::1.2.3.4", "10.20",
            "::ffff:", ":", ".", "1", "jane", "\xc2\xab", "\xc2\xbb"};
        CHECK(compare_random_answers(policy, fragments, 20261125, 2000, 12, 9) > 1000);
    }

    TEST_CASE("a PuTTY key file is redacted wherever the stream is cut") {
        const auto policy = testing::redacting_answers("private_key");
        REQUIRE(policy);
        const std::string key =
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: laptop\nPublic-Lines: 1\n"
            "AAAAC3NzaC1lZDI1NTE5AAAAIDq6e3v5tq2J3wq3\nPrivate-Lines: 1\n"
            "AAAAIGn2QzVQ6q0yq5l1Pz3vQX0sYJ0Yk1c8vWl3yYtZ0L2cAAAA\nPrivate-MAC: 5d1a7f1c0bd2b6d2f4f1e8a9b3c7d6e5f4a3b2c1";
        check_every_cut(policy, "Key:\n" + key + "\nthanks", "Key:\n[REDACTED:private_key]\nthanks");
        const std::vector<std::string> fragments{key, "PuTTY-User-Key-File-3: ", "Private-Lines: 1", "PuTTY", "words"};
        CHECK(compare_random_answers(policy, fragments, 20261124, 1000, 8, 9) > 300);
    }

    TEST_CASE("a number that grows past a valid card is not redacted") {
        const auto policy = testing::load_fixture();
        REQUIRE(policy);
        CHECK(stream(policy, {"ref 4111 1111 1111 1111", "1"}) == "ref 4111 1111 1111 11111");
    }

    TEST_CASE("without output redactions the stream is passed through unchanged but still counted") {
        const auto loaded = load_policy_text(R"(classes: [public]
zones: [{name: site}]
rules: [{name: all, then: {action: allow}}]
)", "p.yaml");
        REQUIRE(loaded.policy);
        ResponseScanner scanner(loaded.policy, "anyone");
        std::string out = scanner.feed("card 4111 1111 ");
        out += scanner.feed("1111 1111 ok");
        out += scanner.finish();
        CHECK(out == "card 4111 1111 1111 1111 ok");
        CHECK(scanner.counts().at("credit_card") == 1);
    }
}
