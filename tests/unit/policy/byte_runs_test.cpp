#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <cstring>

#include "policy/byte_runs.hpp"
#include "policy/encoded_text.hpp"

using namespace sovereign::policy;

// The detector set finds runs of a class (whole-runs patterns) and chains of digits (where the
// digit-dense patterns run) without vectorscan, from 64-byte masks. Each implementation the processor
// may choose is compared here with a check of every window, or with the pattern it replaces.
namespace {

// The first start at or after `from` of `width` bytes that all satisfy `in`: every window checked.
template <class In>
std::size_t first_window(const std::string& text, std::size_t from, std::size_t width, In in) {
    for (std::size_t s = from; s + width <= text.size(); ++s) {
        bool all = true;
        for (std::size_t i = s; i < s + width && all; ++i) all = in(text[i]);
        if (all) return s;
    }
    return std::string::npos;
}

void find_run_agrees_with_every_window(const std::string& members_of) {
    std::array<bool, 256> members{};
    for (const char c : members_of) members[static_cast<unsigned char>(c)] = true;
    const ByteClass chars(members);
    const auto every_window = [&](const std::string& text, std::size_t from, std::size_t width) {
        return first_window(text, from, width, [&](char c) { return chars.contains(c); });
    };
    std::mt19937 random(20261123);
    std::size_t found = 0;
    // Short texts, texts over several 64-byte blocks with widths up to and past a block, and texts over
    // several groups of eight blocks (which the AVX-512 search rules out together).
    for (int round = 0; round < 26000; ++round) {
        const bool long_text = round >= 20000;
        const bool longer_text = round >= 24000;
        std::string text(longer_text ? 500 + random() % 1600 : long_text ? 60 + random() % 300 : random() % 60, ' ');
        for (char& c : text) c = (members_of + " .x")[random() % (random() % (long_text ? 8 : 2) == 0 ? 3 : 6)];
        // Long texts mostly of short runs, with a few long ones (a key in prose), anywhere in them.
        if (longer_text)
            for (char& c : text) c = random() % 5 == 0 ? ' ' : c;
        if (longer_text && random() % 2 == 0) {
            const std::size_t at = random() % text.size();
            for (std::size_t i = at; i < std::min(text.size(), at + 10 + random() % 80); ++i) text[i] = members_of[0];
        }
        const std::size_t width = 1 + random() % (long_text ? 70 : 12);
        const std::size_t from = random() % (text.size() + 2);
        CAPTURE(text);
        CAPTURE(width);
        CAPTURE(from);
        const std::size_t start = std::min(from, text.size());
        const std::size_t expected = from > text.size() ? std::string::npos : every_window(text, from, width);
        CHECK(find_run(text, start, chars, width) == expected);
        CHECK(detail::find_run_skipping(text, start, chars, width) == expected);
        CHECK(detail::find_run_by_masks(text, start, chars, width) == expected);
        found += expected != std::string::npos;
    }
    CHECK(found > 6000);  // runs were there to find
}

}  // namespace

TEST_SUITE("scan") {
    TEST_CASE("byte masks agree with a byte-by-byte check, for every byte value and position") {
        std::array<bool, 256> members{};
        for (const char c : std::string("ab+/09\x7f")) members[static_cast<unsigned char>(c)] = true;
        members[0x80] = members[0xC3] = members[0xFF] = true;
        const ByteClass chars(members);
        for (const std::size_t length : {64u, 100u, 130u}) {
            for (unsigned value = 0; value < 256; ++value) {
                std::string text(length, 'x');
                text[value * 7 % length] = static_cast<char>(value);
                text[(value * 13 + 5) % length] = static_cast<char>(255 - value);
                CAPTURE(length);
                CAPTURE(value);
                for (std::size_t at = 0; at < length; at += 64) {
                    const std::uint64_t digits = detail::digit_mask_portable(text, at);
                    CHECK(digit_mask(text, at) == digits);
#if defined(__x86_64__)
                    CHECK(detail::digit_mask_sse2(text, at) == digits);
#endif
                    CHECK(chars.mask(text, at) == detail::class_mask_portable(chars, text, at));
                }
                const bool digit_in_first_block = text.find_first_of("0123456789") < 64;
                CHECK((detail::digit_mask_portable(text, 0) != 0) == digit_in_first_block);
            }
        }
    }

    TEST_CASE("digit masks agree with a byte-by-byte check from any place in texts of any length") {
        // The SSE2 mask reads a block's last bytes as the text's last sixteen: every length and start.
        std::mt19937 random(7);
        for (std::size_t length = 1; length <= 150; ++length) {
            std::string text(length, 'x');
            for (auto& c : text) c = "0123456789ab /:\xff"[random() % 16];
            for (std::size_t at = 0; at < length; ++at) {
                CAPTURE(length);
                CAPTURE(at);
                const std::uint64_t digits = detail::digit_mask_portable(text, at);
                CHECK(digit_mask(text, at) == digits);
#if defined(__x86_64__)
                CHECK(detail::digit_mask_sse2(text, at) == digits);
#endif
                // Many blocks in one call: each as digit_mask gives it, those past the end 0.
                std::array<std::uint64_t, 4> batch{};
                digit_masks(text, at, batch.data(), batch.size());
                for (std::size_t b = 0; b < batch.size(); ++b)
                    CHECK(batch[b] == (at + 64 * b < length ? detail::digit_mask_portable(text, at + 64 * b) : 0));
            }
        }
    }

    TEST_CASE("the first byte of a class is found where a byte-by-byte check finds it") {
        std::mt19937 random(20261124);
        for (int round = 0; round < 400; ++round) {
            std::array<bool, 256> members{};
            const int size = 1 + static_cast<int>(random() % 6);
            for (int m = 0; m < size; ++m) members[random() % 256] = true;
            const ByteClass chars(members);
            std::string text(random() % 300, ' ');
            for (auto& c : text) c = static_cast<char>(random() % 16 == 0 ? random() % 256 : 'a' + random() % 26);
            for (std::size_t from = 0; from <= text.size(); from += 1 + random() % 9) {
                CAPTURE(text);
                CAPTURE(from);
                std::size_t expected = from;
                while (expected < text.size() && !members[static_cast<unsigned char>(text[expected])]) ++expected;
                CHECK(chars.find_first(text, from) == expected);
            }
        }
    }

    TEST_CASE("find_bytes gives every place of one to five byte values, as a byte-by-byte check does") {
        std::mt19937 random(20261124);
        // Four or five ASCII values are looked up in a table indexed by a byte's low seven bits: the text
        // holds bytes beyond ASCII with the same low bits (0xA5 and 0xBA: '%' and ':'), which are not them.
        for (const std::string_view bytes : {std::string_view("%"), std::string_view("%&"), std::string_view("%&\\"),
                                             std::string_view("%&\\<"), std::string_view("%&\\<:"),
                                             std::string_view("%&\\<\xba")}) {
            // Every length to 300, and long texts, which the AVX-512 search reads by a table lookup.
            std::vector<std::size_t> lengths(301);
            for (std::size_t i = 0; i < lengths.size(); ++i) lengths[i] = i;
            for (const std::size_t length : {1023, 1024, 1025, 1150, 2048, 3001}) lengths.push_back(length);
            for (const std::size_t length : lengths) {
                std::string text(length, 'x');
                for (auto& c : text) c = "%&\\ab \xff\x80<:\xa5\xba"[random() % 12];
                for (std::size_t from = 0; from <= length; from += 1 + random() % (length > 300 ? 40 : 5)) {
                    const std::size_t to = from + random() % (length - from + 2);  // may pass the end
                    CAPTURE(bytes);
                    CAPTURE(text);
                    CAPTURE(from);
                    CAPTURE(to);
                    std::vector<std::size_t> expected;
                    for (std::size_t i = from; i < std::min(to, length); ++i)
                        if (bytes.find(text[i]) != std::string_view::npos) expected.push_back(i);
                    std::vector<std::size_t> found{999};  // appended to, not replaced
                    find_bytes(text, from, to, bytes, found);
                    expected.insert(expected.begin(), 999);
                    CHECK(found == expected);
                    found.assign(1, 999);
                    detail::find_bytes_portable(text, from, std::min(to, length), bytes, found);
                    CHECK(found == expected);
#if defined(__x86_64__)
                    if (detail::has_avx2()) {
                        found.assign(1, 999);
                        detail::find_bytes_avx2(text, from, std::min(to, length), bytes, found);
                        CHECK(found == expected);
                    }
#endif
                }
            }
        }
    }

    TEST_CASE("TextMarks gives each byte's places as a memchr pass per byte value does") {
        // The one pass a scan makes for '<', ':' and the escape marks, against a memchr pass for each
        // byte, on random texts from sparse to dense in those bytes, of every length around the
        // 32-, 64- and 128-byte steps and longer.
        const auto memchr_places = [](const std::string& text, std::string_view bytes) {
            std::vector<std::size_t> places;
            for (const char b : bytes)
                for (std::size_t from = 0; from < text.size();) {
                    const void* found = std::memchr(text.data() + from, b, text.size() - from);
                    if (found == nullptr) break;
                    places.push_back(static_cast<std::size_t>(static_cast<const char*>(found) - text.data()));
                    from = places.back() + 1;
                }
            std::sort(places.begin(), places.end());
            return places;
        };
        std::mt19937 random(20261125);
        TextMarks marks;  // reused, as the scanner reuses its lists
        const std::string_view alphabet = "%&\\<:ab 09\xff\x80;>";
        for (int round = 0; round < 3000; ++round) {
            const std::size_t length = round < 600 ? static_cast<std::size_t>(round) : random() % 5000;
            const unsigned density = 1 + random() % 64;  // one byte in `density` drawn from the whole alphabet
            std::string text(length, 'x');
            for (auto& c : text) c = random() % density == 0 ? alphabet[random() % alphabet.size()] : "etaoin "[random() % 7];
            CAPTURE(text);
            marks.find(text);
            CHECK(marks.tags() == memchr_places(text, "<"));
            CHECK(marks.colons() == memchr_places(text, ":"));
            CHECK(marks.escapes().offsets() == memchr_places(text, "%&\\"));
            CHECK(marks.escapes().offsets() == EscapeMarks(text).offsets());
        }
    }

    TEST_CASE("find_run finds the first window of a class run, as a scan of every window would") {
        // An ASCII class (one lookup a block with AVX-512) and one with a byte from 0x80 (two).
        for (const std::string& members_of : {std::string("ab+"), std::string("ab\xC3")})
            find_run_agrees_with_every_window(members_of);
    }

    TEST_CASE("find_run with an empty width finds nothing") {
        std::array<bool, 256> members{};
        members['a'] = true;
        const ByteClass chars(members);
        CHECK(find_run("aaaa", 0, chars, 0) == std::string::npos);
        CHECK(detail::find_run_by_masks("aaaa", 0, chars, 0) == std::string::npos);
    }

    TEST_CASE("runs of capitals and digits are found where a check of every window finds them") {
        const auto in = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
        const auto every_window = [&](const std::string& text, std::size_t from, std::size_t width) {
            return first_window(text, from, width, in);
        };
        std::mt19937 random(20261128);
        std::size_t found = 0;
        // Short texts, texts over several 64-byte blocks with runs across their edges and widths up
        // to a whole block, and texts over several groups of eight blocks with a long run or none.
        for (int round = 0; round < 14000; ++round) {
            const bool long_text = round >= 8000;
            const bool longer_text = round >= 12000;
            std::string text(longer_text ? 500 + random() % 1600 : long_text ? 60 + random() % 300 : random() % 70, ' ');
            for (char& c : text) c = "AZ09Qa z@[/:"[random() % (random() % (long_text ? 12 : 3) == 0 ? 12 : 5)];
            if (longer_text && random() % 2 == 0) {
                const std::size_t at = random() % text.size();
                for (std::size_t i = at; i < std::min(text.size(), at + 10 + random() % 60); ++i) text[i] = 'Q';
            }
            const std::size_t width = 1 + random() % (long_text ? 64 : 20);
            const std::size_t from = random() % (text.size() + 1);
            CAPTURE(text);
            CAPTURE(width);
            CAPTURE(from);
            const std::size_t expected = every_window(text, from, width);
            CHECK(find_capitals_and_digits(text, from, width) == expected);
            CHECK(detail::find_capitals_and_digits_by_masks(text, from, width, detail::capital_digit_mask_portable) ==
                  expected);
            found += expected != std::string::npos;
        }
        CHECK(found > 3000);
    }

    TEST_CASE("chains of digits are found where the pattern they replace reports them") {
        // Every end e at which [0-9](?:(?:[^0-9]{0,3}|LINE_BREAK)[0-9]){5}(?:[^0-9]|$) matches some
        // text[s, e), LINE_BREAK being a line break between groups (policy/line_breaks.hpp); a match is at
        // most 6 + 5 * 11 + 1 characters long.
        const std::string gap = "(?:[^0-9]{0,3}|-?[ \\t]{0,4}\\r?\\n[ \\t]{0,4})";
        const std::regex closed("[0-9](?:" + gap + "[0-9]){5}[^0-9]");
        const std::regex at_end("[0-9](?:" + gap + "[0-9]){5}");
        const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
        const auto reference = [&](const std::string& text) {
            std::vector<std::size_t> ends;
            for (std::size_t e = 1; e <= text.size(); ++e) {
                const bool closes = e >= 2 && is_digit(text[e - 2]) && !is_digit(text[e - 1]);
                const bool ends_text = e == text.size() && is_digit(text[e - 1]);
                if (!closes && !ends_text) continue;
                for (std::size_t s = e > 62 ? e - 62 : 0; s < e; ++s)
                    if (is_digit(text[s]) && ((closes && std::regex_match(text.substr(s, e - s), closed)) ||
                                              (ends_text && std::regex_match(text.substr(s), at_end)))) {
                        ends.push_back(e);
                        break;
                    }
            }
            return ends;
        };
        std::mt19937 random(20261126);
        std::size_t places = 0;
        std::size_t over_lines = 0;
        // Short texts, and texts across several 64-byte blocks (runs and gaps over their edges); some
        // with line breaks and blanks between groups of digits.
        for (int round = 0; round < 4400; ++round) {
            const bool lines = round >= 3400;
            std::string text(round < 3000 || lines ? random() % 40 : 60 + random() % 140, ' ');
            if (lines) {
                for (char& c : text) c = "0123456789 \t\n\r-a"[random() % (random() % 3 == 0 ? 16 : 10 + random() % 6)];
            } else {
                for (char& c : text) c = "0123456789 -./ab:"[random() % (random() % 3 == 0 ? 17 : 10 + random() % 8)];
            }
            CAPTURE(text);
            std::vector<std::size_t> found;
            for_each_digit_chain(text, [&](std::size_t end) { found.push_back(end); });
            const std::vector<std::size_t> expected = reference(text);
            CHECK(found == expected);
            places += expected.size();
            if (lines) over_lines += expected.size();
        }
        CHECK(over_lines > 300);  // chains over line breaks were there
        CHECK(places > 4000);  // the texts did hold chains
    }
}
