#pragma once
// Runs of characters found 64 bytes at a time, for the places the detector set looks without
// vectorscan: chains of digits (where the digit-dense patterns must run) and runs of one character
// class (the whole-runs patterns, such as a key's alphabet). Each 64-byte block becomes a bit mask,
// with AVX-512 (BW and VBMI: one table lookup for all 64 bytes) where the processor has it; elsewhere
// digits take SSE2 (or plain C++) and runs of a class the search that skips by a window's last
// character. The masks then answer with a few integer instructions per block; the run searches rule
// out eight blocks at a time in vector lanes (AVX-512 CD and VPOPCNTDQ besides).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/line_breaks.hpp"

namespace sovereign::policy {

// Bit i set when text[at + i] is an ASCII digit, for the (up to) 64 bytes from `at`.
std::uint64_t digit_mask(std::string_view text, std::size_t at);
// digit_mask of `blocks` blocks of 64 bytes one after the other from `at` (those past the text's end
// 0), into out[0, blocks): one call, and one choice of instructions, for many blocks.
void digit_masks(std::string_view text, std::size_t at, std::uint64_t* out, std::size_t blocks);

// Appends to `out` the offset of every byte of text[from, to) that is one of `bytes` (one to five
// values), in order: one pass of comparisons, 64 bytes a step with AVX-512 BW, 32 with AVX2, rather
// than a memchr pass per value.
void find_bytes(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                std::vector<std::size_t>& out);

// A set of byte values, arranged for 64-byte lookups.
class ByteClass {
public:
    ByteClass() = default;
    explicit ByteClass(const std::array<bool, 256>& members);
    bool contains(char c) const { return table_[static_cast<unsigned char>(c)] != 0; }
    // Bit i set when text[at + i] is in the class, for the (up to) 64 bytes from `at`.
    std::uint64_t mask(std::string_view text, std::size_t at) const;
    const std::uint8_t* table() const { return table_.data(); }  // 256 entries, 0xFF for members
    bool ascii_only() const { return ascii_only_; }                 // no member from 0x80
    // The first byte of the class at or after `from` (text.size(): none): with AVX-512 VBMI, 64 bytes
    // a step by the table lookups of mask(); elsewhere a byte at a time.
    std::size_t find_first(std::string_view text, std::size_t from) const;
    // Whether this processor runs mask() and find_first() by table lookups, 64 bytes a step
    // (AVX-512 BW and VBMI); callers with a faster search of their own use it otherwise.
    static bool lookups_64_wide();

private:
    alignas(64) std::array<std::uint8_t, 256> table_{};  // 0xFF for members
    bool ascii_only_ = true;
};

// The first place at or after `from` where `width` characters of the class follow one another (the
// start of the first such window; npos: none), as if the text began at `from`. With AVX-512 the
// blocks' masks are ruled out eight at a time: a run of a key's alphabet is rare in prose, but a
// block of prose has enough letters for its own count never to rule it out.
std::size_t find_run(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width);

// The first place at or after `from` where `width` (1 to 64) ASCII capitals and digits follow one
// another (npos: none), as if the text began at `from`. Prose holds few of them: with AVX-512 each
// 64-byte block's mask is two range comparisons, and the blocks are ruled out eight at a time as
// find_run's are; without it, the search that skips by a window's last character.
std::size_t find_capitals_and_digits(std::string_view text, std::size_t from, std::size_t width);

// The implementations the functions above choose between by processor, for tests to compare.
namespace detail {
std::uint64_t digit_mask_portable(std::string_view text, std::size_t at);
#if defined(__x86_64__)
std::uint64_t digit_mask_sse2(std::string_view text, std::size_t at);
bool has_avx2();
void find_bytes_avx2(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                     std::vector<std::size_t>& out);
#endif
std::uint64_t class_mask_portable(const ByteClass& chars, std::string_view text, std::size_t at);
void find_bytes_portable(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                         std::vector<std::size_t>& out);
std::size_t find_run_skipping(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width);
std::size_t find_run_by_masks(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width);
std::uint64_t capital_digit_mask_portable(std::string_view text, std::size_t at);
std::size_t find_capitals_and_digits_by_masks(std::string_view text, std::size_t from, std::size_t width,
                                              std::uint64_t (*mask_of)(std::string_view, std::size_t));
}  // namespace detail

// Where digit-dense values may be: every run of digits that closes a chain of at least six digits,
// each at most three characters after the one before or after a line break between groups
// (line_breaks.hpp) (every digit-dense value holds one; years, prices and versions in prose mostly do
// not). Calls on_place(end) for each, in order, with the end the pattern
// [0-9](?:(?:[^0-9]{0,3}|LINE_BREAK)[0-9]){5}(?:[^0-9]|$) has there: one past the character after the
// run, or the end of the text. As a vectorscan pattern it cost as much as all the others together on
// text full of digits (log lines), being reported at almost every number; here each digit costs a
// few instructions. on_run(begin, end) is called for every run of digits, before on_place for the
// chain it closes.
template <typename OnPlace, typename OnRun>
void for_each_digit_chain(std::string_view text, OnPlace&& on_place, OnRun&& on_run) {
    std::size_t chain = 0;                      // digits in the chain so far
    std::size_t last = std::string_view::npos;  // the last digit seen
    std::size_t run = 0;                        // where the run of digits that ends at `last` began
    const auto close_run = [&](std::size_t run_end) {
        on_run(run, run_end);
        if (chain >= 6) on_place(run_end < text.size() ? run_end + 1 : run_end);
    };
    constexpr std::size_t batch = 16;  // blocks whose masks are taken in one call
    std::array<std::uint64_t, batch> masks{};
    for (std::size_t block = 0; block < text.size(); block += 64) {
        const std::size_t index = block / 64 % batch;
        if (index == 0) digit_masks(text, block, masks.data(), std::min(batch, (text.size() - block + 63) / 64));
        for (std::uint64_t digits = masks[index]; digits != 0; digits &= digits - 1) {
            const std::size_t at = block + static_cast<std::size_t>(__builtin_ctzll(digits));
            if (last == std::string_view::npos || at != last + 1) {  // a new run
                if (last != std::string_view::npos) {
                    close_run(last + 1);
                    if (at - (last + 1) > 3 && !line_breaks::is_gap(text, last + 1, at)) chain = 0;
                }
                run = at;
            }
            ++chain;
            last = at;
        }
    }
    if (last != std::string_view::npos) close_run(last + 1);
}

// The chains alone, for callers that do not need each run (on_run: every run of digits, [begin, end)).
template <typename OnPlace>
void for_each_digit_chain(std::string_view text, OnPlace&& on_place) {
    for_each_digit_chain(text, std::forward<OnPlace>(on_place), [](std::size_t, std::size_t) {});
}

}  // namespace sovereign::policy
