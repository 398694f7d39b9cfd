#include "policy/byte_runs.hpp"

#include <algorithm>

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() values as the unused operand of their masked
// builtins, which its own flow analysis then reports as uninitialised wherever they inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SOVEREIGN_X86_MASKS 1
#endif

namespace sovereign::policy {
namespace {

// '0'..'9' plus 0x50 are the ten lowest signed bytes, -128..-119: one comparison finds them.
constexpr char digit_shift = 0x50;
constexpr char digit_limit = -118;

#if defined(SOVEREIGN_X86_MASKS)
#define AVX512_LOOKUPS __attribute__((target("avx512f,avx512bw,avx512vbmi")))

// AVX-512 BW for the comparisons and masked loads, VBMI for the 128-entry byte lookups.
bool has_avx512_lookups() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vbmi");
    }();
    return has;
}

// The up to 64 bytes from `at`; a masked load reads nothing past the text.
AVX512_LOOKUPS inline __m512i load_block(std::string_view text, std::size_t at, __mmask64& valid) {
    const std::size_t n = std::min<std::size_t>(64, text.size() - at);
    valid = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
    return _mm512_maskz_loadu_epi8(valid, text.data() + at);
}

AVX512_LOOKUPS std::uint64_t digit_mask_avx512(std::string_view text, std::size_t at) {
    __mmask64 valid;
    const __m512i bytes = load_block(text, at, valid);
    return _mm512_mask_cmplt_epi8_mask(valid, _mm512_add_epi8(bytes, _mm512_set1_epi8(digit_shift)),
                                       _mm512_set1_epi8(digit_limit));
}

AVX512_LOOKUPS std::uint64_t class_mask_avx512(const std::uint8_t* table, std::string_view text, std::size_t at) {
    __mmask64 valid;
    const __m512i bytes = load_block(text, at, valid);
    // Each lookup takes the index's low seven bits: one for bytes below 0x80, one for the rest.
    const __m512i low = _mm512_permutex2var_epi8(_mm512_load_si512(table), bytes, _mm512_load_si512(table + 64));
    const __m512i high = _mm512_permutex2var_epi8(_mm512_load_si512(table + 128), bytes, _mm512_load_si512(table + 192));
    const __mmask64 upper = _mm512_movepi8_mask(bytes);
    return valid & ((_mm512_test_epi8_mask(low, low) & ~upper) | (_mm512_test_epi8_mask(high, high) & upper));
}

// The bytes of `block` below 0x80 whose entry in the 128-byte table (low, high) is not zero.
AVX512_LOOKUPS inline __mmask64 ascii_members(__m512i low, __m512i high, __m512i block) {
    const __m512i looked_up = _mm512_permutex2var_epi8(low, block, high);
    return _mm512_test_epi8_mask(looked_up, looked_up) & ~_mm512_movepi8_mask(block);
}

// Bit i set when text[at + i] is an ASCII capital or digit: two range comparisons.
AVX512_LOOKUPS std::uint64_t capital_digit_mask_avx512(std::string_view text, std::size_t at) {
    __mmask64 valid;
    const __m512i bytes = load_block(text, at, valid);
    const __mmask64 capitals =
        _mm512_mask_cmplt_epu8_mask(valid, _mm512_sub_epi8(bytes, _mm512_set1_epi8('A')), _mm512_set1_epi8(26));
    const __mmask64 digits =
        _mm512_mask_cmplt_epu8_mask(valid, _mm512_sub_epi8(bytes, _mm512_set1_epi8('0')), _mm512_set1_epi8(10));
    return capitals | digits;
}

// The run search's filter over eight blocks at once also counts bits in vector lanes: AVX-512 CD and
// VPOPCNTDQ besides the lookups' instructions.
#define AVX512_RUN_FILTER __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512cd,avx512vpopcntdq")))

bool has_avx512_run_filter() {
    static const bool has = has_avx512_lookups() && __builtin_cpu_supports("avx512cd") &&
                            __builtin_cpu_supports("avx512vpopcntdq");
    return has;
}
#else
bool has_avx512_lookups() { return false; }
#endif

bool capital_or_digit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// Positions s of `mask` where `width` (1 to 64) set bits follow one another from s upwards; runs are
// cut at bit 63.
std::uint64_t run_starts(std::uint64_t mask, std::size_t width) {
    std::size_t have = 1;  // mask marks where `have` set bits begin
    while (have * 2 <= width) {
        mask &= mask >> have;
        have *= 2;
    }
    // Two runs of `have` bits, width - have (at most have) apart, cover width bits together.
    return have < width ? mask & (mask >> (width - have)) : mask;
}

// One block of the counted search below: the start of the first run of `width` class characters that
// reaches into the block at `at` (its class mask `mask`), npos if none, with `carried` (the class
// characters that end the blocks before it) brought past the block. A run of `width` that reaches into
// a block has at least `width` characters of the class there and in the run carried over, which rules
// out most blocks by a count; the others are searched within, or for the carried run's end.
[[gnu::always_inline]] inline std::size_t counted_run_in_block(std::uint64_t mask, std::size_t at, std::size_t width,
                                                               std::size_t& carried) {
    constexpr std::uint64_t all = ~std::uint64_t{0};
    if (static_cast<std::size_t>(__builtin_popcountll(mask)) + carried >= width) {
        const std::size_t leading = mask == all ? 64 : static_cast<std::size_t>(__builtin_ctzll(~mask));
        if (carried > 0 && carried + leading >= width) return at - carried;
        if (const std::uint64_t starts = run_starts(mask, width); starts != 0)
            return at + static_cast<std::size_t>(__builtin_ctzll(starts));
    }
    carried = mask == all ? carried + 64 : (mask >> 63 != 0 ? static_cast<std::size_t>(__builtin_clzll(~mask)) : 0);
    return std::string_view::npos;
}

// Blocks of 64 bytes one after the other (counted_run_in_block). Inlined into each caller with its
// mask, so that a block costs no call.
template <typename MaskOf>
[[gnu::always_inline]] inline std::size_t find_counted_run(std::string_view text, std::size_t from, std::size_t width,
                                                           MaskOf&& mask_of) {
    if (width == 0 || width > 64) return std::string_view::npos;
    std::size_t carried = 0;
    for (std::size_t at = from; at < text.size(); at += 64)
        if (const std::size_t start = counted_run_in_block(mask_of(text, at), at, width, carried);
            start != std::string_view::npos)
            return start;
    return std::string_view::npos;
}

#if defined(SOVEREIGN_X86_MASKS)
// Whether a run of `width` (1 to 64) class characters ends in one of the eight blocks whose masks are
// `masks`, `carried` class characters standing before the first: within a block (run_starts' shifts,
// in all eight lanes at once), or across two neighbours (the class characters that end one and those
// that begin the next). A run across three blocks fills the middle one, which holds a run itself. It
// never answers no where a run ends in these blocks; where it answers yes they are searched one by one.
AVX512_RUN_FILTER inline bool run_in_eight_blocks(__m512i m, std::size_t carried, std::size_t width) {
    __m512i within = m;
    std::size_t have = 1;
    for (; have * 2 <= width; have *= 2)
        within = _mm512_and_si512(within, _mm512_srl_epi64(within, _mm_cvtsi64_si128(static_cast<long long>(have))));
    if (have < width)
        within = _mm512_and_si512(within, _mm512_srl_epi64(within, _mm_cvtsi64_si128(static_cast<long long>(width - have))));
    // m & ~(m + 1): the class characters that begin each block; the count of the zeros that begin ~m:
    // those that end it (64 in a block of them only, either way).
    const __m512i leading = _mm512_popcnt_epi64(_mm512_andnot_si512(_mm512_add_epi64(m, _mm512_set1_epi64(1)), m));
    const __m512i trailing = _mm512_lzcnt_epi64(_mm512_ternarylogic_epi64(m, m, m, 0x55));
    // Lane i: what ends block i - 1 (lane 0: what the blocks before these carried).
    const __m512i before = _mm512_alignr_epi64(trailing, _mm512_set1_epi64(static_cast<long long>(carried)), 7);
    const __mmask8 across = _mm512_cmpge_epu64_mask(_mm512_add_epi64(before, leading),
                                                    _mm512_set1_epi64(static_cast<long long>(width)));
    return (_mm512_test_epi64_mask(within, within) | across) != 0;
}

// find_counted_run, eight blocks a step: their masks taken, then ruled out together (most of prose, for
// a key's alphabet: a block of prose holds enough letters for the count of one block to let it pass).
template <typename MaskOf>
AVX512_RUN_FILTER std::size_t find_counted_run_by_eights(std::string_view text, std::size_t from, std::size_t width,
                                                         MaskOf&& mask_of) {
    if (width == 0 || width > 64) return std::string_view::npos;
    std::size_t carried = 0;
    std::size_t at = from;
    alignas(64) std::uint64_t masks[8];
    for (; at < text.size() && text.size() - at >= 8 * 64; at += 8 * 64) {
        for (std::size_t b = 0; b < 8; ++b) masks[b] = mask_of(text, at + 64 * b);
        const __m512i lanes = _mm512_set_epi64(static_cast<long long>(masks[7]), static_cast<long long>(masks[6]),
                                               static_cast<long long>(masks[5]), static_cast<long long>(masks[4]),
                                               static_cast<long long>(masks[3]), static_cast<long long>(masks[2]),
                                               static_cast<long long>(masks[1]), static_cast<long long>(masks[0]));
        if (!run_in_eight_blocks(lanes, carried, width)) {
            // No block of them is full (it would hold a run): what ends the last is carried.
            carried = static_cast<std::size_t>(__builtin_clzll(~masks[7]));
            continue;
        }
        for (std::size_t b = 0; b < 8; ++b)
            if (const std::size_t start = counted_run_in_block(masks[b], at + 64 * b, width, carried);
                start != std::string_view::npos)
                return start;
    }
    for (; at < text.size(); at += 64)
        if (const std::size_t start = counted_run_in_block(mask_of(text, at), at, width, carried);
            start != std::string_view::npos)
            return start;
    return std::string_view::npos;
}

AVX512_LOOKUPS void digit_masks_avx512(std::string_view text, std::size_t at, std::uint64_t* out, std::size_t blocks) {
    for (std::size_t b = 0; b < blocks; ++b, at += 64) out[b] = at < text.size() ? digit_mask_avx512(text, at) : 0;
}

// The offsets of the set bits of `mask`, which covers the bytes from `at`.
inline void append_offsets(std::uint64_t mask, std::size_t at, std::vector<std::size_t>& out) {
    for (; mask != 0; mask &= mask - 1) out.push_back(at + static_cast<std::size_t>(__builtin_ctzll(mask)));
}

// `bytes` padded to N values by repeating its first.
template <std::size_t N>
inline std::array<char, N> padded_bytes(std::string_view bytes) {
    std::array<char, N> out{};
    for (std::size_t i = 0; i < N; ++i) out[i] = i < bytes.size() ? bytes[i] : bytes[0];
    return out;
}

// Below this many bytes, find_bytes compares each byte with the values even where they are ASCII: the
// table costs more to set up than the compares save.
constexpr std::size_t ascii_lookup_min_bytes = 256;

// The offsets of the bytes of text[from, to) that `found` (block -> mask) marks, in order: 128 bytes
// a step, tested at once, since most text holds none of them.
template <typename Found>
AVX512_LOOKUPS inline void find_marked_bytes(std::string_view text, std::size_t from, std::size_t to, Found&& found,
                                             std::vector<std::size_t>& out) {
    std::size_t at = from;
    for (; at + 128 <= to; at += 128) {
        const __mmask64 first = found(_mm512_loadu_si512(text.data() + at));
        const __mmask64 second = found(_mm512_loadu_si512(text.data() + at + 64));
        if ((first | second) == 0) continue;
        append_offsets(first, at, out);
        append_offsets(second, at + 64, out);
    }
    for (; at < to; at += 64) {
        const std::size_t n = std::min<std::size_t>(64, to - at);
        const __mmask64 valid = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
        append_offsets(valid & found(_mm512_maskz_loadu_epi8(valid, text.data() + at)), at, out);
    }
}

// Up to N byte values, a compare for each.
template <std::size_t N>
struct EqualBytesAvx512 {
    __m512i values[N];
    AVX512_LOOKUPS __mmask64 operator()(__m512i block) const {
        __mmask64 mask = _mm512_cmpeq_epi8_mask(block, values[0]);
        for (std::size_t i = 1; i < N; ++i) mask |= _mm512_cmpeq_epi8_mask(block, values[i]);
        return mask;
    }
};

// ASCII values: one table lookup for 64 bytes (and a test of their high bits), where the compares take
// one for each value, all on the same execution port.
struct AsciiBytesAvx512 {
    __m512i low, high;
    AVX512_LOOKUPS __mmask64 operator()(__m512i block) const { return ascii_members(low, high, block); }
};

template <std::size_t N>
AVX512_LOOKUPS void find_bytes_avx512(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                                      std::vector<std::size_t>& out) {
    const std::array<char, N> values = padded_bytes<N>(bytes);
    EqualBytesAvx512<N> equal;
    for (std::size_t i = 0; i < N; ++i) equal.values[i] = _mm512_set1_epi8(values[i]);
    find_marked_bytes(text, from, to, equal, out);
}

AVX512_LOOKUPS void find_ascii_bytes_avx512(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                                            std::vector<std::size_t>& out) {
    // The table is set in registers, a masked broadcast for each value: written to memory byte by byte
    // and loaded whole, it would wait for the stores.
    AsciiBytesAvx512 table{_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (const char b : bytes) {
        const auto value = static_cast<unsigned char>(b);
        __m512i& half = value < 64 ? table.low : table.high;
        half = _mm512_mask_set1_epi8(half, __mmask64{1} << (value & 63), static_cast<char>(0xFF));
    }
    find_marked_bytes(text, from, to, table, out);
}

// The class mask inlined into the counted search: no call, and no choice of instructions, per block.
struct ClassMaskAvx512 {
    const std::uint8_t* table;
    AVX512_LOOKUPS std::uint64_t operator()(std::string_view text, std::size_t at) const {
        return class_mask_avx512(table, text, at);
    }
};

// The same for a class of ASCII bytes only (a key's alphabet): one lookup, the bytes from 0x80 out.
struct AsciiClassMaskAvx512 {
    const std::uint8_t* table;
    AVX512_LOOKUPS std::uint64_t operator()(std::string_view text, std::size_t at) const {
        __mmask64 valid;
        const __m512i bytes = load_block(text, at, valid);
        return valid & ascii_members(_mm512_load_si512(table), _mm512_load_si512(table + 64), bytes);
    }
};

AVX512_RUN_FILTER std::size_t find_run_avx512(std::string_view text, std::size_t from, const std::uint8_t* table,
                                              bool ascii_only, std::size_t width) {
    if (ascii_only) return find_counted_run_by_eights(text, from, width, AsciiClassMaskAvx512{table});
    return find_counted_run_by_eights(text, from, width, ClassMaskAvx512{table});
}

AVX512_LOOKUPS std::size_t find_first_avx512(const std::uint8_t* table, std::string_view text, std::size_t from) {
    for (std::size_t at = from; at < text.size(); at += 64)
        if (const std::uint64_t found = class_mask_avx512(table, text, at); found != 0)
            return at + static_cast<std::size_t>(__builtin_ctzll(found));
    return text.size();
}

AVX512_RUN_FILTER std::size_t find_capitals_and_digits_avx512(std::string_view text, std::size_t from, std::size_t width) {
    return find_counted_run_by_eights(text, from, width, capital_digit_mask_avx512);
}
#endif

}  // namespace

namespace detail {

std::uint64_t digit_mask_portable(std::string_view text, std::size_t at) {
    std::uint64_t mask = 0;
    const std::size_t end = std::min(text.size(), at + 64);
    for (std::size_t i = at; i < end; ++i)
        if (text[i] >= '0' && text[i] <= '9') mask |= std::uint64_t{1} << (i - at);
    return mask;
}

#if defined(SOVEREIGN_X86_MASKS)
// Sixteen bytes a step. The last block of a text (most texts end in one shorter than 64 bytes) takes
// as many whole steps as fit, then the text's last sixteen bytes, less those already counted; only
// a text shorter than sixteen bytes is read byte by byte.
std::uint64_t digit_mask_sse2(std::string_view text, std::size_t at) {
    const std::size_t end = std::min(text.size(), at + 64);
    if (text.size() < 16) return digit_mask_portable(text, at);
    const auto digits_at = [&text](std::size_t from) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + from));
        return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(
            _mm_cmplt_epi8(_mm_add_epi8(bytes, _mm_set1_epi8(digit_shift)), _mm_set1_epi8(digit_limit)))));
    };
    std::uint64_t mask = 0;
    std::size_t from = at;
    for (; from + 16 <= end; from += 16) mask |= digits_at(from) << (from - at);
    if (from < end) mask |= (digits_at(end - 16) >> (from - (end - 16))) << (from - at);
    return mask;
}
#endif

void find_bytes_portable(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                         std::vector<std::size_t>& out) {
    if (bytes.empty()) return;
    // A few compares a byte, not a memchr call over `bytes` for each: this is also the tail of the
    // AVX2 search, short texts' (a streamed chunk's) whole search.
    const char b0 = bytes[0], b1 = bytes.size() > 1 ? bytes[1] : b0, b2 = bytes.size() > 2 ? bytes[2] : b0;
    if (bytes.size() <= 3) {
        for (std::size_t at = from; at < to; ++at) {
            const char c = text[at];
            if (c == b0 || c == b1 || c == b2) out.push_back(at);
        }
        return;
    }
    const char b3 = bytes[3], b4 = bytes.size() > 4 ? bytes[4] : b0;
    for (std::size_t at = from; at < to; ++at) {
        const char c = text[at];
        if (c == b0 || c == b1 || c == b2 || c == b3 || c == b4) out.push_back(at);
    }
}

#if defined(SOVEREIGN_X86_MASKS)
template <std::size_t N>
__attribute__((target("avx2"))) inline __m256i bytes_at(std::string_view text, std::size_t at,
                                                         const __m256i (&b)[N]) {
    const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text.data() + at));
    __m256i found = _mm256_cmpeq_epi8(block, b[0]);
    for (std::size_t i = 1; i < N; ++i) found = _mm256_or_si256(found, _mm256_cmpeq_epi8(block, b[i]));
    return found;
}

template <std::size_t N>
__attribute__((target("avx2"))) void find_bytes_avx2_n(std::string_view text, std::size_t from, std::size_t to,
                                                       std::string_view bytes, std::vector<std::size_t>& out) {
    const std::array<char, N> values = padded_bytes<N>(bytes);
    __m256i b[N];
    for (std::size_t i = 0; i < N; ++i) b[i] = _mm256_set1_epi8(values[i]);
    std::size_t at = from;
    // 128 bytes a step, tested at once: most text holds none of the bytes.
    for (; at + 128 <= to; at += 128) {
        const __m256i m0 = bytes_at<N>(text, at, b), m1 = bytes_at<N>(text, at + 32, b),
                      m2 = bytes_at<N>(text, at + 64, b), m3 = bytes_at<N>(text, at + 96, b);
        const __m256i any = _mm256_or_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m2, m3));
        if (_mm256_testz_si256(any, any)) continue;
        const __m256i quarters[4] = {m0, m1, m2, m3};
        for (std::size_t q = 0; q < 4; ++q)
            append_offsets(static_cast<std::uint32_t>(_mm256_movemask_epi8(quarters[q])), at + 32 * q, out);
    }
    for (; at + 32 <= to; at += 32) append_offsets(static_cast<std::uint32_t>(_mm256_movemask_epi8(bytes_at<N>(text, at, b))), at, out);
    find_bytes_portable(text, at, to, bytes, out);
}

void find_bytes_avx2(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                     std::vector<std::size_t>& out) {
    if (bytes.empty()) return;
    if (bytes.size() <= 3) return find_bytes_avx2_n<3>(text, from, to, bytes, out);
    find_bytes_avx2_n<5>(text, from, to, bytes, out);
}

bool has_avx2() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    }();
    return has;
}
#endif

std::uint64_t class_mask_portable(const ByteClass& chars, std::string_view text, std::size_t at) {
    std::uint64_t mask = 0;
    const std::size_t end = std::min(text.size(), at + 64);
    for (std::size_t i = at; i < end; ++i)
        if (chars.contains(text[i])) mask |= std::uint64_t{1} << (i - at);
    return mask;
}

// One character at a time, deciding most windows by their last character alone.
std::size_t find_run_skipping(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width) {
    const auto in = [&](std::size_t i) { return chars.contains(text[i]); };
    if (width == 0) return std::string_view::npos;
    std::size_t start = from;    // the earliest place a run may still begin
    std::size_t checked = from;  // every character of [start, checked) is in the class
    while (start + width <= text.size()) {
        // Outside the class, the window's last character is covered by no run, and the next one begins
        // after it.
        const std::size_t last = start + width - 1;
        if (!in(last)) {
            start = checked = last + 1;
            continue;
        }
        std::size_t k = last;
        while (k > checked && in(k - 1)) --k;
        if (k == checked) return start;
        start = k;  // text[k - 1] is outside the class, and [k, last] inside it
        checked = last + 1;
    }
    return std::string_view::npos;
}

std::uint64_t capital_digit_mask_portable(std::string_view text, std::size_t at) {
    std::uint64_t mask = 0;
    const std::size_t end = std::min(text.size(), at + 64);
    for (std::size_t i = at; i < end; ++i)
        if (capital_or_digit(text[i])) mask |= std::uint64_t{1} << (i - at);
    return mask;
}

std::size_t find_capitals_and_digits_by_masks(std::string_view text, std::size_t from, std::size_t width,
                                              std::uint64_t (*mask_of)(std::string_view, std::size_t)) {
    return find_counted_run(text, from, width, mask_of);
}

// Blocks of 64 bytes one after the other, each ruled out by its count or searched (find_counted_run).
// Before, blocks overlapped by width - 1 so that every window lay whole in one of them: for a key's
// 20 characters, a mask every 45 bytes instead of every 64.
std::size_t find_run_by_masks(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width) {
    if (width == 0 || width > 64) return find_run_skipping(text, from, chars, width);
    return find_counted_run(text, from, width, [&chars](std::string_view t, std::size_t at) { return chars.mask(t, at); });
}

}  // namespace detail

std::uint64_t digit_mask(std::string_view text, std::size_t at) {
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_lookups()) return digit_mask_avx512(text, at);
    return detail::digit_mask_sse2(text, at);
#else
    return detail::digit_mask_portable(text, at);
#endif
}

void digit_masks(std::string_view text, std::size_t at, std::uint64_t* out, std::size_t blocks) {
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_lookups()) return digit_masks_avx512(text, at, out, blocks);
    for (std::size_t b = 0; b < blocks; ++b, at += 64) out[b] = at < text.size() ? detail::digit_mask_sse2(text, at) : 0;
#else
    for (std::size_t b = 0; b < blocks; ++b, at += 64) out[b] = at < text.size() ? detail::digit_mask_portable(text, at) : 0;
#endif
}

void find_bytes(std::string_view text, std::size_t from, std::size_t to, std::string_view bytes,
                std::vector<std::size_t>& out) {
    to = std::min(to, text.size());
    if (bytes.empty() || from >= to) return;
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_lookups()) {
        if (bytes.size() <= 3) return find_bytes_avx512<3>(text, from, to, bytes, out);
        if (to - from >= ascii_lookup_min_bytes &&
            std::all_of(bytes.begin(), bytes.end(), [](char b) { return static_cast<unsigned char>(b) < 0x80; }))
            return find_ascii_bytes_avx512(text, from, to, bytes, out);
        return find_bytes_avx512<5>(text, from, to, bytes, out);
    }
    if (detail::has_avx2()) return detail::find_bytes_avx2(text, from, to, bytes, out);
#endif
    detail::find_bytes_portable(text, from, to, bytes, out);
}

ByteClass::ByteClass(const std::array<bool, 256>& members) {
    for (std::size_t c = 0; c < 256; ++c) table_[c] = members[c] ? 0xFF : 0;
    ascii_only_ = std::none_of(members.begin() + 128, members.end(), [](bool member) { return member; });
}

bool ByteClass::lookups_64_wide() { return has_avx512_lookups(); }

std::uint64_t ByteClass::mask(std::string_view text, std::size_t at) const {
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_lookups()) return class_mask_avx512(table_.data(), text, at);
#endif
    return detail::class_mask_portable(*this, text, at);
}

std::size_t ByteClass::find_first(std::string_view text, std::size_t from) const {
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_lookups()) return find_first_avx512(table_.data(), text, from);
#endif
    for (; from < text.size(); ++from)
        if (contains(text[from])) return from;
    return text.size();
}

std::size_t find_run(std::string_view text, std::size_t from, const ByteClass& chars, std::size_t width) {
    // Without one-instruction lookups, a block's mask costs more than the skipping search.
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_run_filter() && width > 0 && width <= 64) return find_run_avx512(text, from, chars.table(), chars.ascii_only(), width);
#endif
    return detail::find_run_skipping(text, from, chars, width);
}

std::size_t find_capitals_and_digits(std::string_view text, std::size_t from, std::size_t width) {
#if defined(SOVEREIGN_X86_MASKS)
    if (has_avx512_run_filter()) return find_capitals_and_digits_avx512(text, from, width);
#endif
    static const ByteClass capitals_and_digits = [] {
        std::array<bool, 256> members{};
        for (std::size_t c = 0; c < 256; ++c) members[c] = capital_or_digit(static_cast<char>(c));
        return ByteClass(members);
    }();
    return detail::find_run_skipping(text, from, capitals_and_digits, width);
}

}  // namespace sovereign::policy
