#include <doctest/doctest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "fixture.hpp"
#include "policy/inline_markup.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign::policy;

// Values whose groups HTML tags separate (rich-text e-mails, pasted tables) are read as a browser
// shows them: found whole, the finding spanning the tags between the groups (policy/inline_markup.hpp).
namespace {
using Found = std::vector<std::pair<std::string, std::string>>;  // detector, value as written

Found scan(const std::string& text) {
    static const auto policy = testing::load_fixture();
    REQUIRE(policy);
    std::vector<Detection> detections;
    ScanFailure failure;
    REQUIRE(policy->detectors().scan(text, 0, detections, failure));
    Found found;
    for (const auto& d : detections)
        found.emplace_back(policy->detectors().detectors()[d.detector].name, text.substr(d.begin, d.end - d.begin));
    return found;
}

std::string shown(std::string_view text) {
    UnescapedText out;
    return read_without_tags(text, out) ? out.text : std::string(text);
}
}  // namespace

TEST_SUITE("scan") {
    TEST_CASE("HTML tags read as a browser shows them: inline ones as nothing, breaking ones as a blank") {
        CHECK(shown("4111 <b>1111</b> 1111") == "4111 1111 1111");
        CHECK(shown("4111<b>1111</b>1111") == "411111111111");
        CHECK(shown("<span style=\"color: red\">4111</span> 1111") == "4111 1111");
        CHECK(shown("DE89 3704<br>0044<BR/>0532<br />0130") == "DE89 3704 0044 0532 0130");
        CHECK(shown("<tr><td>4111</td>\n  <td>1111</td></tr>") == " 4111 1111 ");
        // Not tags: a comparison, a type parameter, an address in angle brackets, an unknown element.
        for (const std::string text : {"3 < 4 and 5 > 2", "vector<T> x", "<jane@example.com>", "<blink>1</blink>",
                                       "a <b", "<b", "<span 4111"})
            CHECK(shown(text) == text);
    }

    TEST_CASE("values split by inline or table markup are found whole, spanning the tags between their groups") {
        CHECK(scan("card 4111 <b>1111</b> 1111 1111 thanks") == Found{{"credit_card", "4111 <b>1111</b> 1111 1111"}});
        CHECK(scan("<span>4111</span> 1111 1111 1111") == Found{{"credit_card", "4111</span> 1111 1111 1111"}});
        CHECK(scan("<td>4111</td><td>1111</td><td>1111</td><td>1111</td>") ==
              Found{{"credit_card", "4111</td><td>1111</td><td>1111</td><td>1111"}});
        CHECK(scan("IBAN DE89 3704<br>0044 0532 0130 00") == Found{{"iban", "DE89 3704<br>0044 0532 0130 00"}});
        CHECK(scan("<td>DE89 3704</td>\n<td>0044 0532</td><td>0130 00</td>") ==
              Found{{"iban", "DE89 3704</td>\n<td>0044 0532</td><td>0130 00"}});
        CHECK(scan("call +49 30 <strong>1234</strong> 5678 today") ==
              Found{{"phone", "+49 30 <strong>1234</strong> 5678"}});
        CHECK(scan("mail jane.doe<b>@</b>example.com") == Found{{"email", "jane.doe<b>@</b>example.com"}});
    }

    TEST_CASE("prose and tables with markup hold no value their tags do not split, and keep the ones they hold") {
        CHECK(scan("Use <b>bold</b> and <i>italic</i>; 3 < 4 and vector<T> stay text.").empty());
        CHECK(scan("We had <b>12</b> rooms and <b>34</b> beds in <td>2023</td><td>11</td><td>30</td>").empty());
        // A card in one cell and a number in the next: shown as one run of groups, written as a card, which stays found.
        CHECK(scan("<tr><td>4111 1111 1111 1111</td><td>1234</td></tr>") == Found{{"credit_card", "4111 1111 1111 1111"}});
        // An address inside a tag's attribute is not shown, and still found.
        CHECK(scan("<a href=\"mailto:jane@example.com\">write</a>") == Found{{"email", "jane@example.com"}});
        // A value whole between tags is found once, as before.
        CHECK(scan("<b>4111 1111 1111 1111</b>") == Found{{"credit_card", "4111 1111 1111 1111"}});
    }
}

TEST_SUITE("response") {
    TEST_CASE("a value split by markup is redacted whole wherever the stream is cut") {
        const auto policy = testing::redacting_answers("credit_card, iban");
        REQUIRE(policy);
        const std::vector<std::pair<std::string, std::string>> cases{
            {"Your card 4111 <b>1111</b> 1111 1111 was charged.", "Your card [REDACTED:credit_card] was charged."},
            {"<td>DE89 3704</td><td>0044 0532</td><td>0130 00</td>", "<td>[REDACTED:iban]</td>"},
            {"<span style=\"font-weight: bold\">4111</span> 1111 1111 1111 ok", "<span style=\"font-weight: bold\">[REDACTED:credit_card] ok"}};
        for (const auto& [text, expected] : cases) {
            const std::string_view v(text);
            for (std::size_t i = 0; i <= text.size(); ++i) {
                for (std::size_t j = i; j <= text.size(); j += 4) {
                    CAPTURE(text);
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(testing::scan_in_three_chunks(policy, v, i, j) == expected);
                }
            }
        }
    }

    TEST_CASE("random answers with markup cut into random chunks read as the whole answer") {
        const auto policy = testing::redacting_answers("credit_card, iban, email, phone");
        REQUIRE(policy);
        const std::vector<std::string> fragments{"4111", "1111", "<b>", "</b>", "<br>", "</td><td>", "<span class=\"x\">",
                                                 "</span>", "DE89", "3704", "0044 0532 0130 00", "jane", "@", "example.com",
                                                 "+49", "30", "a < b", "text", "<", "card"};
        const std::vector<std::string> joiners{"", " ", " ", "\n"};
        std::mt19937 random(7331);
        std::size_t redactions = 0;
        for (int round = 0; round < 3000; ++round) {
            const std::string text = testing::random_text(random, fragments, joiners, 12);
            ResponseScanner whole(policy, "anyone");
            const std::string expected = whole.complete(text);
            ResponseScanner streamed(policy, "anyone");
            std::string out;
            for (std::size_t at = 0; at < text.size();) {
                const std::size_t n = std::min<std::size_t>(text.size() - at, 1 + random() % 9);
                out += streamed.feed(std::string_view(text).substr(at, n));
                at += n;
            }
            out += streamed.finish();
            CAPTURE(text);
            REQUIRE(out == expected);
            if (expected.find("[REDACTED:") != std::string::npos) ++redactions;
        }
        CHECK(redactions > 100);
    }
}
