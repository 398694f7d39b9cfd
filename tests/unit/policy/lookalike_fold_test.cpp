#include <doctest/doctest.h>

#include <random>
#include <string>

#include "policy/byte_runs.hpp"
#include "policy/lookalike_fold.hpp"

using namespace sovereign::policy;

// The fold first looks for characters it changes sixteen bytes at a time (printable ASCII told apart
// by one comparison, the rest sorted exactly; a text's last bytes as its last sixteen, less those
// already passed). Whatever a character's place in those blocks, it is found, and the characters the
// fold keeps as they are (tab, line ends, accented letters, typographic quotes) never stop it.
TEST_SUITE("scan") {
    TEST_CASE("the search for a byte that may begin a look-alike agrees with a byte-by-byte check") {
        using namespace sovereign::policy;
        // Every byte value at every place of a block and its neighbours, among prose with accents.
        std::mt19937 random(20261124);
        const std::string filler = "Der Kunde bittet um eine R\xC3\xBC""ckrufnummer.\t\r\n 123 ";
        for (int b = 0; b < 256; ++b) {
            for (std::size_t length = 1; length <= 140; length += 1 + random() % 3) {
                std::string text(length, ' ');
                for (auto& c : text) c = filler[random() % filler.size()];
                text[random() % length] = static_cast<char>(b);
                for (std::size_t from = 0; from <= length; from += 1 + random() % 7) {
                    CAPTURE(b);
                    CAPTURE(length);
                    CAPTURE(from);
                    const std::size_t expected = detail::next_candidate_portable(text, from);
                    CHECK(detail::next_candidate_sse2(text, from) == expected);
#if defined(__x86_64__)
                    if (ByteClass::lookups_64_wide()) CHECK(detail::next_candidate_avx512(text, from) == expected);
#endif
                    // The search the fold uses, through its result: a text with no candidate at all
                    // holds no look-alike.
                    if (from == 0 && expected == length) CHECK_FALSE(find_lookalike(text).has_value());
                }
            }
        }
    }

    TEST_CASE("every character the fold changes is found at any place in a text, its last bytes included") {
        const std::string changed[] = {std::string(1, '\0'), "\x01", "\x0b", "\x1b", "\x1f", "\x7f",
                                       "\xc2\x85",            "\xc2\xa0", "\xe2\x80\x8b", "\xef\xbc\x91"};
        for (std::size_t length = 1; length <= 48; ++length) {
            for (std::size_t at = 0; at < length; ++at) {
                for (const auto& character : changed) {
                    std::string text(length, 'a');
                    text.replace(at, 1, character);
                    CAPTURE(length);
                    CAPTURE(at);
                    CAPTURE(static_cast<unsigned>(static_cast<unsigned char>(character[0])));
                    const auto found = find_lookalike(text);
                    REQUIRE(found.has_value());
                    CHECK(found->offset == at);
                }
            }
        }
    }

    TEST_CASE("characters the fold keeps are passed over, before a changed one in the last bytes too") {
        const std::string kept[] = {"\t", "\n", "\r", " ", "~", "\xc3\xa9", "\xe2\x80\x9c"};
        for (std::size_t length = 4; length <= 40; ++length) {
            for (std::size_t at = 0; at + 3 < length; ++at) {
                for (const auto& character : kept) {
                    std::string text(length, 'a');
                    text.replace(at, character.size(), character);
                    CAPTURE(length);
                    CAPTURE(at);
                    CAPTURE(static_cast<unsigned>(static_cast<unsigned char>(character[0])));
                    CHECK_FALSE(find_lookalike(text).has_value());
                    CHECK(lookalikes_folded(text) == text);
                    // A NUL after it, anywhere up to the end, is found and removed.
                    for (std::size_t nul = at + character.size(); nul < length; ++nul) {
                        std::string with_nul = text;
                        with_nul[nul] = '\0';
                        const auto found = find_lookalike(with_nul);
                        REQUIRE(found.has_value());
                        CHECK(found->offset == nul);
                        CHECK(lookalikes_folded(with_nul) == std::string(with_nul).erase(nul, 1));
                    }
                }
            }
        }
    }

    TEST_CASE("the fold reads through runs of up to max_removed_run invisible or control characters, no longer ones") {
        const std::string removed[] = {std::string(1, '\0'), "\x01", "\xe2\x80\x8b", "\xe2\x81\xa0", "\xc2\xad",
                                       "\xf3\xa0\x80\xa1"};
        for (const auto& character : removed) {
            for (std::size_t n = 1; n <= max_removed_run + 3; ++n) {
                std::string run;
                for (std::size_t i = 0; i < n; ++i) run += character;
                const std::string text = "4111" + run + "1111 and 22" + run;
                CAPTURE(static_cast<unsigned>(static_cast<unsigned char>(character[0])));
                CAPTURE(n);
                if (n <= max_removed_run) {
                    CHECK(lookalikes_folded(text) == "41111111 and 22");
                    REQUIRE(find_lookalike(text).has_value());
                    CHECK(find_lookalike(text)->offset == 4);
                } else {
                    // Kept as written, so it ends a value; and a text with no other look-alike is none.
                    CHECK(lookalikes_folded(text) == text);
                    CHECK_FALSE(find_lookalike(text).has_value());
                }
            }
        }
        // A long run beside a short one and a folded character: only the long one stays.
        const std::string zw = "\xe2\x80\x8b";
        std::string long_run;
        for (std::size_t i = 0; i <= max_removed_run; ++i) long_run += zw;
        FoldedText folded;
        const std::string text = "a" + zw + zw + "b" + long_run + "c\xef\xbc\x91" "d";
        REQUIRE(fold_lookalikes(text, folded));
        CHECK(folded.text == "ab" + long_run + "c1d");
        // Offsets map back through the removed pair and the kept run.
        CHECK(folded.original_offset(1) == 1 + 2 * zw.size());
        CHECK(folded.original_offset(2) == 2 + 2 * zw.size());
        CHECK(folded.original_offset(folded.text.size() - 1) == text.size() - 1);
    }

    TEST_CASE("folded offsets are the first folded byte at or after an original offset, inside removed runs too") {
        // Found by tests/fuzz/answer_scan_fuzz (AddressSanitizer): an offset inside a run of removed
        // characters at the start of a text mapped past the folded text's end.
        const std::string nul(1, '\0');
        const std::string zw = "\xe2\x80\x8b";
        const std::string one = "\xef\xbc\x91";
        for (const std::string& text : std::vector<std::string>{
                 nul + nul + nul + "\x01", nul + nul + "SSN 12", zw + "a" + one + zw + zw + "b" + nul, "ab" + one,
                 one + one + "x" + zw, "x" + nul + "y" + nul + nul}) {
            FoldedText folded;
            REQUIRE(fold_lookalikes(text, folded));
            CAPTURE(text);
            std::size_t previous = 0;
            for (std::size_t at = 0; at <= text.size(); ++at) {
                const std::size_t f = folded.folded_offset(at);
                CAPTURE(at);
                REQUIRE(f <= folded.text.size());
                CHECK(f >= previous);
                previous = f;
                if (f < folded.text.size()) CHECK(folded.original_offset(f) >= at);
                if (f > 0) CHECK(folded.original_offset(f - 1) < at);
            }
            CHECK(folded.folded_offset(text.size()) == folded.text.size());
        }
    }
}
