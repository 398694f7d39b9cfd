#include <doctest/doctest.h>

#include <random>
#include <vector>
#include <string>

#include "policy/encoded_text.hpp"
#include "policy/validators.hpp"

namespace v = sovereign::policy::validators;

TEST_SUITE("validators") {
    TEST_CASE("payment cards pass only with a valid Luhn digit and a card issuer prefix") {
        CHECK(v::credit_card("4111 1111 1111 1111"));
        CHECK(v::credit_card("5555-5555-5555-4444"));
        CHECK(v::credit_card("378282246310005"));
        CHECK(v::credit_card("4111.1111.1111.1111"));
        CHECK_FALSE(v::credit_card("4111.1111 1111.1111"));  // mixed separators
        CHECK_FALSE(v::credit_card("41.11111111111111"));    // dots, but not between groups of four
        CHECK_FALSE(v::credit_card("4111 1111 1111 1112"));
        CHECK_FALSE(v::credit_card("4111-1111 1111 1111"));  // mixed separators
        CHECK_FALSE(v::credit_card("9111111111111111"));    // no issuer starts with 9
        CHECK_FALSE(v::credit_card("4444444444444444"));
    }

    TEST_CASE("IBANs need the country's length and a mod-97 remainder of 1") {
        CHECK(v::iban("DE89 3704 0044 0532 0130 00"));
        CHECK(v::iban("GB82WEST12345698765432"));
        CHECK(v::iban("FR1420041010050500013M02606"));
        CHECK_FALSE(v::iban("DE89 3704 0044 0532 0130 01"));
        CHECK_FALSE(v::iban("DE89370400440532013"));  // too short for Germany
        CHECK_FALSE(v::iban("XX89370400440532013000"));
        // Countries beyond the EU and EEA, from the registry's examples: Serbia, Montenegro, North
        // Macedonia, Moldova, Ukraine, San Marino, Vatican City, Kosovo.
        for (const char* iban : {"RS35260005601001611379", "ME25505000012345678951", "MK07250120000058984",
                                 "MD24AG000225100013104168", "UA213223130000026007233566001",
                                 "SM86U0322509800000000270100", "VA59001123000012345678", "XK051212012345678906"})
            CHECK_MESSAGE(v::iban(iban), iban);
        CHECK_FALSE(v::iban("RS3526000560100161137"));  // one character short for Serbia
    }

    TEST_CASE("US SSNs follow area, group and serial rules and reject published fakes") {
        CHECK(v::us_ssn("536-22-1234"));
        CHECK_FALSE(v::us_ssn("000-22-1234"));
        CHECK_FALSE(v::us_ssn("666-22-1234"));
        CHECK_FALSE(v::us_ssn("912-22-1234"));
        CHECK_FALSE(v::us_ssn("536-00-1234"));
        CHECK_FALSE(v::us_ssn("536-22-0000"));
        CHECK_FALSE(v::us_ssn("078-05-1120"));
    }

    TEST_CASE("card numbers written out to slip past filters: one separator throughout, digits or fours apart") {
        CHECK(v::credit_card_written_out("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"));
        CHECK(v::credit_card_written_out("4111 - 1111 - 1111 - 1111"));
        CHECK(v::credit_card_written_out("4111_1111_1111_1111"));
        CHECK(v::credit_card_written_out("3782  822463  10005"));  // Amex 4-6-5
        CHECK_FALSE(v::credit_card_written_out("4111 - 1111 1111 - 1111"));  // separators differ
        CHECK_FALSE(v::credit_card_written_out("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 2"));  // Luhn
        CHECK_FALSE(v::credit_card_written_out("41 11 11 11 11 11 11 11"));  // pairs are no card grouping
        CHECK_FALSE(v::credit_card_written_out("4111111111111111"));  // no separator: the plain form's check
    }

    TEST_CASE("base64 runs decode to their text, and to nothing when they are not text") {
        CHECK(sovereign::policy::decode_base64_text("NDExMSAxMTExIDExMTEgMTExMQ==") == std::optional<std::string>("4111 1111 1111 1111"));
        CHECK(sovereign::policy::decode_base64_text("NDExMSAxMTExIDExMTEgMTExMQ") == std::optional<std::string>("4111 1111 1111 1111"));
        CHECK(sovereign::policy::decode_base64_text("aGk_IGEtYi9jP2Q-ZSBzb21lIHRleHQ") == std::optional<std::string>("hi? a-b/c?d>e some text"));
        CHECK_FALSE(sovereign::policy::decode_base64_text("aGk_IGEtYi9jP2Q+ZSBzb21lIHRleHQ"));  // both alphabets in one run
        CHECK_FALSE(sovereign::policy::decode_base64_text("NDExMSAx"));                         // too short to hold a value
        CHECK_FALSE(sovereign::policy::decode_base64_text("NDExMSAxMTExIDExMTEgMTExMQa"));      // 4n+1 characters: not base64
        CHECK_FALSE(sovereign::policy::decode_base64_text("3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));  // binary
        CHECK_FALSE(sovereign::policy::decode_base64_text("wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX"));  // mostly above 0x7F
        CHECK(sovereign::policy::decode_hex_text("34313131203131313120313131312031313131") ==
              std::optional<std::string>("4111 1111 1111 1111"));
        CHECK_FALSE(sovereign::policy::decode_hex_text("3431313120313131312031313131203131313"));  // odd length
        CHECK_FALSE(sovereign::policy::decode_hex_text("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"));  // a digest
        // All hex digits: read as hex, not as base64.
        CHECK(sovereign::policy::decode_encoded_text("6a616e652e646f65406578616d706c652e636f6d") ==
              std::optional<std::string>("jane.doe@example.com"));
    }

    TEST_CASE("escapes unescape to their characters, each byte knowing where it was written") {
        using sovereign::policy::unescape_text;
        const auto u = unescape_text("jane%40example.com &#64; &#x40;&commat;&#46 &amp;x %zz &bogus; 100% &#0;");
        CHECK(u.text == "jane@example.com @ @@. &x %zz &bogus; 100% &#0;");
        REQUIRE(u.source.size() == u.text.size() + 1);
        CHECK(u.source[4] == 4);    // '@' from "%40"
        CHECK(u.source[5] == 7);    // 'e' after it
        CHECK(u.source.back() == std::string_view("jane%40example.com &#64; &#x40;&commat;&#46 &amp;x %zz &bogus; 100% &#0;").size());
        // Multi-byte characters: every byte points at the reference that wrote it.
        const auto e = unescape_text("caf&#233;!");
        CHECK(e.text == "caf\u00E9!");
        CHECK(e.source == std::vector<std::size_t>{0, 1, 2, 3, 3, 9, 10});
        CHECK(unescape_text("&#xD800;&#x110000;").text == "&#xD800;&#x110000;");  // surrogate, beyond Unicode
        CHECK(unescape_text("").source == std::vector<std::size_t>{0});
    }

    TEST_CASE("JSON backslash escapes unescape to their characters, each byte knowing where it was written") {
        using sovereign::policy::unescape_text;
        // Every short escape, and \u in either case.
        const auto u = unescape_text(R"(a\"b\\c\/d\be\ff\ng\rh\ti \u0034\u00e9\u00C9)");
        CHECK(u.text == "a\"b\\c/d\be\ff\ng\rh\ti 4\u00E9\u00C9");
        REQUIRE(u.source.size() == u.text.size() + 1);
        CHECK(u.source == std::vector<std::size_t>{0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 24, 25,
                                                    26, 32, 32, 38, 38, 44});
        // A surrogate pair is one character, its four UTF-8 bytes written by the twelve characters.
        const auto pair = unescape_text(R"(x\uD83D\uDE00y\ud83d\ude00)");
        CHECK(pair.text == "x\U0001F600y\U0001F600");
        CHECK(pair.source == std::vector<std::size_t>{0, 1, 1, 1, 1, 13, 14, 14, 14, 14, 26});
        // A surrogate without its other half, or with a character that is no other half, stays as written.
        for (const std::string lone : {R"(\uD83D)", R"(\uDE00)", R"(\uD83Dx)", R"(\uD83D\u0041)", R"(\uDE00\uD83D)",
                                       R"(\uD83D\uD83D)", R"(\uD83D\n)"}) {
            CAPTURE(lone);
            const auto l = unescape_text(lone);
            CHECK(l.text.starts_with(lone.substr(0, 6)));
            CHECK(l.source[5] == 5);
        }
        CHECK(unescape_text(R"(\uD83D\u0041)").text == R"(\uD83DA)");
        // A backslash escapes only the character after it: "\\u0034" is a backslash, then the text
        // "u0034"; an odd run of backslashes before "u0034" leaves the last one to escape it.
        CHECK(unescape_text(R"(\\u0034)").text == R"(\u0034)");
        CHECK(unescape_text(R"(\\\u0034)").text == R"(\4)");
        CHECK(unescape_text(R"(\\\\u0034)").text == R"(\\u0034)");
        // What starts no escape stays as written: unknown letters, too few hex digits, a final backslash.
        CHECK(unescape_text(R"(C:\Users\x \d{3} \u12 \u12G4 \U0034 end\)").text == R"(C:\Users\x \d{3} \u12 \u12G4 \U0034 end\)");
        CHECK(unescape_text(R"(\u0000)").text == std::string(1, '\0'));
    }

    TEST_CASE("the place text can be read from is never between a backslash and what it escapes") {
        using sovereign::policy::escape_safe_start;
        const std::string text = R"(ab\\\u0034c)";  // a, b, three backslashes, u0034, c
        CHECK(escape_safe_start(text, 0) == 0);
        CHECK(escape_safe_start(text, 2) == 2);
        CHECK(escape_safe_start(text, 3) == 2);  // between the two of "\\"
        CHECK(escape_safe_start(text, 4) == 4);
        CHECK(escape_safe_start(text, 5) == 4);  // between "\" and the "u" it escapes
        CHECK(escape_safe_start(text, 6) == 6);
        CHECK(escape_safe_start(R"(\\\\)", 4) == 4);
        CHECK(escape_safe_start(R"(\\\\)", 3) == 2);
        CHECK(escape_safe_start(R"(\\\\)", 1) == 0);
        CHECK(escape_safe_start(R"(a\x)", 2) == 2);  // "\x" is no escape: the 'x' reads the same either way
    }

    TEST_CASE("a text's escape marks, taken once, answer as the marks of each part taken alone") {
        using sovereign::policy::EscapeMarks;
        using sovereign::policy::TextRange;
        std::mt19937 random(20261124);
        const std::vector<std::string> pieces{"%40", "%4", "&#64;", "&#x40;", "&amp;", "&", "%", "\\u0034", "\\",
                                              "\\n", "\\uD83D\\uDE00", "jane", "12", " ", "  ", "\n", "x"};
        std::size_t regions_seen = 0;
        for (int round = 0; round < 2000; ++round) {
            std::string text;
            const std::size_t n = random() % 120;
            for (std::size_t i = 0; i < n; ++i) text += pieces[random() % pieces.size()];
            CAPTURE(text);
            const EscapeMarks marks(text);
            std::vector<std::size_t> expected;
            for (std::size_t i = 0; i < text.size(); ++i)
                if (text[i] == '%' || text[i] == '&' || text[i] == '\\') expected.push_back(i);
            CHECK(marks.offsets() == expected);
            const auto regions = sovereign::policy::escaped_regions(text, marks);
            const auto alone = sovereign::policy::escaped_regions(text);
            REQUIRE(regions.size() == alone.size());
            for (std::size_t r = 0; r < regions.size(); ++r) {
                CHECK(regions[r].begin == alone[r].begin);
                CHECK(regions[r].end == alone[r].end);
            }
            regions_seen += regions.size();
            for (int k = 0; k < 8 && !text.empty(); ++k) {
                const std::size_t begin = random() % text.size();
                const TextRange within{begin, begin + random() % (text.size() - begin + 1)};
                const auto shared = sovereign::policy::last_escape_region(text, within, marks);
                const auto own = sovereign::policy::last_escape_region(text, within);
                REQUIRE(shared.has_value() == own.has_value());
                if (shared) {
                    CHECK(shared->begin == own->begin);
                    CHECK(shared->end == own->end);
                }
            }
        }
        CHECK(regions_seen > 1000);
    }

    TEST_CASE("only text with escapes has regions to unescape, each reaching to white space") {
        using sovereign::policy::escaped_regions;
        CHECK(escaped_regions("50% of R&D, no escapes; 100%!").empty());
        const std::string text = "see https://x.example/?to=jane%40example.com&z=1 now";
        const auto regions = escaped_regions(text);
        REQUIRE(regions.size() == 1);
        CHECK(regions[0].begin == 0);
        CHECK(regions[0].end == text.size());
        // Far apart escapes are separate regions; close ones merge.
        const std::string far = "a%40b" + std::string(400, ' ') + "c&#64;d";
        CHECK(escaped_regions(far).size() == 2);
        CHECK(escaped_regions("a%40b c%40d").size() == 1);
        // A region's edge cuts into a word where it meets no white space and no end of the text.
        const std::string long_word = std::string(200, 'w') + "%40 tail";
        const auto in_word = escaped_regions(long_word);
        REQUIRE(in_word.size() == 1);
        CHECK(in_word[0].begin == 200 - 127);
        CHECK(sovereign::policy::region_cuts(long_word, in_word[0]).before);
        CHECK_FALSE(sovereign::policy::region_cuts(long_word, in_word[0]).after);
        CHECK_FALSE(sovereign::policy::region_cuts(text, regions[0]).before);
        // Backslash escapes have regions too; backslashes that escape nothing have none.
        CHECK(escaped_regions(R"(C:\Users\x and \d{3}-\d{2} and \u12)").empty());
        CHECK(escaped_regions(R"({"ssn":"\u0035\u0033\u0036-22-1234"})").size() == 1);
        CHECK(escaped_regions(R"(line\nbreak)").size() == 1);
        // A region never begins between the two characters of a "\\": read from there, the second
        // backslash would escape what follows it.
        const std::string pairs = std::string(200, '\\') + "u0034";
        const auto run = escaped_regions(pairs);
        REQUIRE(run.size() == 1);
        CHECK(run[0].begin == 0);
        // The region of "\u0034" alone would begin 127 characters before it, between the two of "\\".
        const std::string cut = std::string(200, 'x') + R"(\\)" + std::string(126, 'y') + R"(\u0034)";
        const auto own = sovereign::policy::last_escape_region(cut, {328, 334});
        REQUIRE(own);
        CHECK(own->begin == 200);
    }

    TEST_CASE("a streamed answer holds back an escape the next chunk could complete or change") {
        using sovereign::policy::escape_hold_start;
        // Unfinished: a final backslash, "\u" with up to three hex digits, a high surrogate waiting
        // for its low half, in either case.
        for (const std::string tail : {R"(\)", R"(\u)", R"(\u0)", R"(\u00)", R"(\u003)", R"(\uD83D)", R"(\uD83D\)",
                                       R"(\uD83D\u)", R"(\ud83d\uD)", R"(\uD83D\uDE)", R"(\uD83D\ude0)", "%", "%4", "&#6"}) {
            const std::string text = std::string(300, ' ') + "abc" + tail;
            CAPTURE(tail);
            CHECK(escape_hold_start(text, 0) == 300 + 3 - sovereign::policy::escape_reach_before);
        }
        // Complete, or never an escape: nothing to hold but a complete escape's region.
        for (const std::string tail : {R"(\x)", R"(\uZ)", R"(\u00G)", R"(\uD83D\uD8G)", R"(\uD83Dx)", R"(\uDE00)"}) {
            const std::string text = std::string(300, ' ') + "abc" + tail;
            CAPTURE(tail);
            CHECK(escape_hold_start(text, 0) == text.size());
        }
        // A complete escape near the end holds back its region; "\\" is one, a trailing backslash after
        // it is unfinished on its own.
        const std::string complete = std::string(300, ' ') + R"(ab\u0034)";
        CHECK(escape_hold_start(complete, 0) == 302 - sovereign::policy::escape_reach_before);
        const std::string escaped_backslash = std::string(300, ' ') + R"(\\\\)";
        CHECK(escape_hold_start(escaped_backslash, 0) == 300 - sovereign::policy::escape_reach_before);
        const std::string far = R"(ab\u0034)" + std::string(400, ' ');
        CHECK(escape_hold_start(far, 0) == far.size());
    }

    TEST_CASE("random text full of escape characters unescapes and splits into regions consistently") {
        using namespace sovereign::policy;
        const std::string alphabet = "%&#;xX0123456789abcdefABCDEF commatperiodnbsp.@-\n\xC3\xA9\\\\\\uuuDD\"/nrtbf";
        // Without white space, regions reach as far as they may: the longer texts take that alphabet.
        std::string unspaced = alphabet;
        std::erase_if(unspaced, [](char c) { return c == ' ' || c == '\n'; });
        std::mt19937 random(23);
        for (int round = 0; round < 4000; ++round) {
            const std::string& chars = round < 2000 ? alphabet : unspaced;
            std::string text(random() % (round < 2000 ? 300 : 1500), ' ');
            for (char& c : text) c = chars[random() % chars.size()];
            CAPTURE(text);
            const UnescapedText u = unescape_text(text);
            REQUIRE(u.source.size() == u.text.size() + 1);
            CHECK(u.source.back() == text.size());
            CHECK(u.text.size() <= text.size());
            for (std::size_t i = 0; i + 1 < u.source.size(); ++i) REQUIRE(u.source[i] <= u.source[i + 1]);
            const std::vector<TextRange> regions = escaped_regions(text);
            for (std::size_t r = 0; r < regions.size(); ++r) {
                REQUIRE(regions[r].begin < regions[r].end);
                REQUIRE(escape_safe_start(text, regions[r].begin) == regions[r].begin);
                REQUIRE(regions[r].end <= text.size());
                if (r > 0) REQUIRE(regions[r - 1].end < regions[r].begin);
            }
            // The regions are each escape's own region (last_escape_region over just that escape),
            // merged where they meet: the escapes being those unescape_text read.
            std::vector<TextRange> own;
            for (std::size_t i = 0; i < u.text.size();) {
                std::size_t next = i + 1;
                while (next < u.text.size() && u.source[next] == u.source[i]) ++next;
                const std::size_t at = u.source[i];
                const std::size_t end = u.source[next];
                if (end - at != next - i || text.compare(at, end - at, u.text, i, next - i) != 0) {
                    const auto region = last_escape_region(text, {at, end});
                    REQUIRE(region);
                    if (!own.empty() && region->begin <= own.back().end) own.back().end = std::max(own.back().end, region->end);
                    else own.push_back(*region);
                }
                i = next;
            }
            REQUIRE(own.size() == regions.size());
            for (std::size_t r = 0; r < own.size(); ++r) {
                CHECK(own[r].begin == regions[r].begin);
                CHECK(own[r].end == regions[r].end);
            }
            const std::size_t from = text.empty() ? 0 : random() % text.size();
            const std::size_t hold = escape_hold_start(text, from);
            CHECK(hold >= from);
            CHECK(hold <= text.size());
        }
    }

    TEST_CASE("UK NHS numbers and National Insurance numbers") {
        CHECK(v::uk_nhs("943 476 5919"));
        CHECK_FALSE(v::uk_nhs("943 476 5918"));
        CHECK(v::uk_nino("AB 12 34 56 C"));
        CHECK_FALSE(v::uk_nino("BG123456A"));
        CHECK_FALSE(v::uk_nino("QA123456A"));
        CHECK_FALSE(v::uk_nino("AB123456E"));
    }

    TEST_CASE("e-mail, phone and network addresses") {
        CHECK(v::email("jane.doe@example.co.uk"));
        CHECK_FALSE(v::email("jane..doe@example.com"));
        CHECK_FALSE(v::email("jane@-example.com"));
        CHECK_FALSE(v::email("weights@inputs.T"));  // no top-level domain has one letter
        // Addresses written so that a plain pattern misses them are checked as what they spell.
        CHECK(v::email("jane [at] example [dot] com"));
        CHECK(v::email("jane.doe(at)example(dot)co(dot)uk"));
        CHECK(v::email("jane{AT}example.com"));
        CHECK(v::email("jane[@]example[.]com"));
        CHECK(v::email("jane [dot] doe < at > example.org"));
        CHECK(v::email("jane at example dot com"));
        CHECK_FALSE(v::email("jane at example.com"));  // "work at example.com": the bare word needs a written dot
        CHECK_FALSE(v::email("jane [at] example"));
        CHECK_FALSE(v::email("jane [at) example.com"));  // brackets must pair
        CHECK_FALSE(v::email("jane [at] [at] example.com"));
        CHECK(v::phone("+49 30 1234567"));
        CHECK_FALSE(v::phone("+1 234"));
        CHECK(v::ipv4("192.168.1.20"));
        CHECK_FALSE(v::ipv4("256.1.1.1"));
        CHECK_FALSE(v::ipv4("01.2.3.4"));
        CHECK(v::ipv6("2001:db8::8a2e:370:7334"));
        CHECK_FALSE(v::ipv6("12:30:45"));
    }

    TEST_CASE("dates must exist in day-month or month-day order") {
        CHECK(v::date("12.03.1985"));
        CHECK(v::date("1985-03-12"));
        CHECK(v::date("29.02.2000"));
        CHECK_FALSE(v::date("29.02.1999"));
        CHECK_FALSE(v::date("31.13.1985"));
    }

    TEST_CASE("secrets: key ids, PEM blocks, JWTs and high-entropy strings") {
        CHECK(v::aws_access_key("AKIAIOSFODNN7EXAMPLE"));
        CHECK_FALSE(v::aws_access_key("AKIAIOSFODNN7EXAMP1E"));  // 1 is not base32
        CHECK(v::private_key_block("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"));
        CHECK_FALSE(v::private_key_block("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END EC PRIVATE KEY-----"));
        // Cut before its END line: a body with most of a line of base64 is a key's; a few characters are not.
        CHECK(v::private_key_block("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6"));
        CHECK_FALSE(v::private_key_block("-----BEGIN RSA PRIVATE KEY-----\nMIIB"));
        CHECK(v::jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuv"));
        CHECK_FALSE(v::jwt("eyJzdWIiOiIxIn0.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuv"));  // header has no alg
        CHECK(v::high_entropy_secret("sk9Fq2LmZx7Rt4VbN1pWc8YhJd3KgTs6"));
        CHECK_FALSE(v::high_entropy_secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        CHECK_FALSE(v::high_entropy_secret("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    }

    TEST_CASE("service API keys: each service's prefix and lengths, random characters") {
        const std::string random48 = "Tq8ZrX2mVb7Kp4WnLc9Hd3JsFy6Gt1Ae5Ru0Io-Pk_Ql8Mz2N";
        CHECK(v::service_api_key("sk-proj-" + random48));
        CHECK(v::service_api_key("sk-ant-api03-" + random48 + random48));
        CHECK(v::service_api_key("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"));  // legacy, 51 characters
        CHECK(v::service_api_key("AIzaSyTq8ZrX2mVb7Kp4WnLc9Hd3JsFy6Gt1Ae5"));           // 39 characters
        CHECK(v::service_api_key("sk_live_Tq8ZrX2mVb7Kp4WnLc9Hd3JsFy6"));
        CHECK(v::service_api_key("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"));              // 37, letters only
        CHECK(v::service_api_key("glpat-Tq8ZrX2mVb7Kp4WnLc9H"));                          // 26 characters
        CHECK_FALSE(v::service_api_key("sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));  // a placeholder
        CHECK_FALSE(v::service_api_key("sk-proj-Tq8ZrX2mVb7Kp4WnLc9H"));                  // too short
        CHECK_FALSE(v::service_api_key("AIzaSyTq8ZrX2mVb7Kp4WnLc9Hd3JsFy6Gt1Ae5X"));      // one character too many
        CHECK_FALSE(v::service_api_key("glpat-tq8zrx2mvb7kp4wnlc9h-"));                   // 27 characters
        CHECK_FALSE(v::service_api_key("pk_live_Tq8ZrX2mVb7Kp4WnLc9Hd3JsFy6"));           // a publishable key: no prefix of ours
    }

    TEST_CASE("Italian fiscal codes with digits replaced by letters (omocodia), the last digit first") {
        // Three codes, each with its 1, 2, 3 and all 7 last digits replaced (0-9 by L M N P Q R S T U V)
        // and its check character computed over what is written.
        for (const char* code : {"RSSMRA85T10A562S", "RSSMRA85T10A56NH", "RSSMRA85T10A5SNT", "RSSMRA85T10ARSNO",
                                 "RSSMRAURTMLARSNL", "BNCGNN72D42F205L", "BNCGNN72D42F20RG", "BNCGNN72D42F2LRR",
                                 "BNCGNN72D42FNLRG", "BNCGNNTNDQNFNLRP", "VRDGPP13E10B293Q", "VRDGPP13E10B29PM",
                                 "VRDGPP13E10B2VPY", "VRDGPP13E10BNVPN", "VRDGPPMPEMLBNVPF"}) {
            CAPTURE(code);
            CHECK(v::it_codice_fiscale(code));
        }
        // The check character of the code before the replacement, or of another replacement.
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T10A5SNS"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRAURTMLARSNS"));
        CHECK_FALSE(v::it_codice_fiscale("BNCGNN72D42F2LRG"));
        // A digit replaced while a digit after it is not (the last is replaced first), with its check
        // character computed as if that were allowed.
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T1LA562V"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRAU5T10A562P"));
        // A letter that replaces no digit (A, O, W, X...), a month letter that is none (F), a day that is
        // none (00, 32-40, 72 and up), the wrong length.
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T10A56AO"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85F10A562R"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T00A562R"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T35A562G"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T72A562C"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T10A562"));
        // Written in lower case, as people and OCR write it, it is the same code.
        CHECK(v::it_codice_fiscale("rssmra85t10a562s"));
        CHECK_FALSE(v::it_codice_fiscale("rssmra85t10a562t"));
    }

    TEST_CASE("EU national identifiers with their check digits") {
        CHECK(v::de_steuer_id("86095742719"));
        CHECK_FALSE(v::de_steuer_id("86095742718"));
        CHECK_FALSE(v::de_steuer_id("12345678903"));  // no repeated digit
        CHECK(v::de_steuer_id("36574261809"));
        CHECK_FALSE(v::de_steuer_id("36554266806"));  // two digits repeated
        // A digit three times (numbers issued since 2016), but never three times in a row.
        CHECK(v::de_steuer_id("65929970489"));
        CHECK(v::de_steuer_id("11213456783"));
        CHECK_FALSE(v::de_steuer_id("11123456786"));
        CHECK_FALSE(v::de_steuer_id("12345556788"));  // the check digit right, "555" in a row
        CHECK_FALSE(v::de_steuer_id("11112345678"));  // a digit four times
        CHECK(v::fr_nir("1 85 05 78 006 084 91"));
        CHECK_FALSE(v::fr_nir("1 85 05 78 006 084 36"));
        CHECK(v::es_dni("12345678Z"));
        CHECK_FALSE(v::es_dni("12345678A"));
        CHECK(v::es_nie("X1234567L"));
        CHECK_FALSE(v::es_nie("X1234567A"));
        // Letters in lower case are the same letters.
        CHECK(v::es_dni("12345678z"));
        CHECK_FALSE(v::es_dni("12345678a"));
        CHECK(v::es_nie("x1234567l"));
        CHECK_FALSE(v::es_nie("x1234567a"));
        CHECK(v::uk_nino("ab 12 34 56 c"));
        CHECK_FALSE(v::uk_nino("qq 12 34 56 c"));
        CHECK(v::iban("de89 3704 0044 0532 0130 00"));
        CHECK_FALSE(v::iban("de88 3704 0044 0532 0130 00"));
        CHECK(v::it_codice_fiscale("RSSMRA85T10A562S"));
        CHECK_FALSE(v::it_codice_fiscale("RSSMRA85T10A562T"));
        CHECK(v::nl_bsn("111222333"));
        CHECK_FALSE(v::nl_bsn("111222334"));
        CHECK(v::pl_pesel("44051401359"));
        CHECK_FALSE(v::pl_pesel("44051401358"));
        CHECK(v::be_national_number("85.07.30-033.28"));
        CHECK(v::be_national_number("01.02.03-004.67"));  // born in 2001: "2" prefixed for the check
        CHECK_FALSE(v::be_national_number("85.07.30-033.29"));
    }
}
