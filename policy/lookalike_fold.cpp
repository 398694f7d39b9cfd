#include "policy/lookalike_fold.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "policy/byte_runs.hpp"

namespace sovereign::policy {
namespace {

// What a code point folds to: a replacement byte, nothing (removed), or itself (kept as it is).
enum class Fold { keep, remove, replace };

struct FoldResult {
    Fold fold = Fold::keep;
    char ascii = 0;
};

}  // namespace

bool invisible_code_point(std::uint32_t cp) {
    return cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 || cp == 0x17B4 ||
           cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206F) ||
           cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || cp == 0xFFA0 ||
           (cp >= 0xE0000 && cp <= 0xE0FFF);
}

namespace {

FoldResult fold_code_point(std::uint32_t cp) {
    auto digit = [](std::uint32_t zero, std::uint32_t c) { return FoldResult{Fold::replace, static_cast<char>('0' + (c - zero) % 10)}; };
    // Decimal digits of other scripts: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, and
    // the five sets of mathematical digits (bold, double-struck, sans-serif, sans bold, monospace).
    for (std::uint32_t zero : {0x0660u, 0x06F0u, 0x0966u, 0x09E6u})
        if (cp >= zero && cp <= zero + 9) return digit(zero, cp);
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) return digit(0x1D7CE, cp);
    // Fullwidth forms of ASCII ! to ~ (digits, letters, @, ., -).
    if (cp >= 0xFF01 && cp <= 0xFF5E) return {Fold::replace, static_cast<char>(cp - 0xFF01 + 0x21)};
    // Spaces: no-break, the typographic spaces, line and paragraph separators, narrow no-break,
    // medium mathematical, ideographic.
    if (cp == 0x00A0 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000)
        return {Fold::replace, ' '};
    // Hyphens and dashes, and the minus sign.
    if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212) return {Fold::replace, '-'};
    if (invisible_code_point(cp)) return {Fold::remove, 0};  // can sit between a value's digits unseen
    // Control characters other than tab and line ends (C0, DEL, C1): a model passes over them as it
    // does over invisible characters, so "4111\u00001111..." is a card number to it. The vertical
    // tab, form feed and next line break a line as a space would. So does the substitute character,
    // which the scan itself writes for bytes that are not UTF-8 (replace_ill_formed_utf8): it stands
    // for a character, and must not join what stands on either side of it.
    if (cp == 0x0B || cp == 0x0C || cp == 0x1A || cp == 0x85) return {Fold::replace, ' '};
    if (control_code_point(cp)) return {Fold::remove, 0};
    return {};
}

// Decodes the UTF-8 sequence at text[i] (well-formed or not: a bad byte is taken alone).
std::uint32_t decode(std::string_view text, std::size_t i, std::size_t& length) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char lead = byte(0);
    length = 1;
    const std::size_t need = lead >= 0xC2 && lead <= 0xDF   ? 1
                             : lead >= 0xE0 && lead <= 0xEF ? 2
                             : lead >= 0xF0 && lead <= 0xF4 ? 3
                                                            : 0;
    if (need == 0 || i + need >= text.size()) return lead;
    std::uint32_t cp = lead & (0x3F >> need);
    for (std::size_t k = 1; k <= need; ++k) {
        if ((byte(k) & 0xC0) != 0x80) return lead;
        cp = (cp << 6) | (byte(k) & 0x3F);
    }
    length = need + 1;
    return cp;
}

// The next byte at or after i that may begin a sequence fold_code_point changes: an ASCII control
// character other than tab, LF and CR (control_byte), 0xC2 (U+0080 to U+00BF: C1 controls,
// no-break space, soft hyphen), 0xCD (U+0340 to U+037F: combining grapheme joiner) or 0xD8 and
// above (the Arabic letter mark and digits on, three- and four-byte sequences). Latin letters with
// accents (0xC3 to 0xC5), continuation bytes and the line ends of prose never are, so prose in
// European languages is passed over sixteen bytes at a time. With AVX-512 VBMI, sixty-four, every byte
// sorted exactly by one table lookup (ByteClass::find_first): prose in German or French holds an
// accented letter in most 64-byte stretches, which the SSE2 search must then sort sixteen at a time.
std::size_t next_candidate(std::string_view text, std::size_t i) {
#if defined(__x86_64__)
    if (ByteClass::lookups_64_wide()) return detail::next_candidate_avx512(text, i);
#endif
    return detail::next_candidate_sse2(text, i);
}

}  // namespace

std::size_t detail::next_candidate_sse2(std::string_view text, std::size_t i) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
#if defined(__SSE2__)
    // The candidates among the sixteen bytes at `at`, one bit each. A block of printable ASCII (most
    // blocks of most prompts) is told by one comparison: x + 1 is below 0x21, as a signed byte, for
    // the C0 controls, DEL and every byte from 0x80. Only a block with such a byte is sorted exactly.
    const auto candidates = [p](std::size_t at) -> unsigned {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
        if (_mm_movemask_epi8(_mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(1)), _mm_set1_epi8(0x21))) == 0) return 0;
        const __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0xC2))),
                         _mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0xCD)))),
            _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(static_cast<char>(0xD8))), x));
        const __m128i line_ends =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))),
                         _mm_cmpeq_epi8(x, _mm_set1_epi8('\r')));
        const __m128i control =
            _mm_or_si128(_mm_andnot_si128(line_ends, _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x)),
                         _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7F)));
        return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(hit, control)));
    };
    for (; i + 16 <= n; i += 16)
        if (const unsigned mask = candidates(i); mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
    // The rest of a text of sixteen bytes or more is its last sixteen, less the bytes before i.
    if (i < n && n >= 16) {
        const unsigned mask = candidates(n - 16) >> (i - (n - 16));
        return mask != 0 ? i + static_cast<std::size_t>(__builtin_ctz(mask)) : n;
    }
#endif
    for (; i < n; ++i)
        if (p[i] == 0xC2 || p[i] == 0xCD || p[i] >= 0xD8 || control_byte(p[i])) return i;
    return n;
}

namespace detail {

std::size_t next_candidate_portable(std::string_view text, std::size_t i) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (; i < text.size(); ++i)
        if (p[i] == 0xC2 || p[i] == 0xCD || p[i] >= 0xD8 || control_byte(p[i])) return i;
    return text.size();
}

#if defined(__x86_64__)
std::size_t next_candidate_avx512(std::string_view text, std::size_t i) {
    static const ByteClass candidates = [] {
        std::array<bool, 256> members{};
        for (std::size_t b = 0; b < 256; ++b)
            members[b] = b == 0xC2 || b == 0xCD || b >= 0xD8 || control_byte(static_cast<unsigned char>(b));
        return ByteClass(members);
    }();
    return candidates.find_first(text, i);
}
#endif

}  // namespace detail

namespace {

// The removed characters (invisible, control) from text[i] on, one after the other: how many, and
// their bytes.
struct RemovedRun {
    std::size_t characters = 0;
    std::size_t bytes = 0;
};
RemovedRun removed_run(std::string_view text, std::size_t i) {
    RemovedRun run;
    for (std::size_t at = i; at < text.size();) {
        std::size_t length = 1;
        if (fold_code_point(decode(text, at, length)).fold != Fold::remove) break;
        ++run.characters;
        at += length;
        run.bytes = at - i;
    }
    return run;
}

// The offset of the first look-alike in text, or text.size(): the first character the fold changes,
// where a run of removed characters longer than max_removed_run, which it keeps, is none.
std::size_t first_lookalike(std::string_view text) {
    for (std::size_t i = next_candidate(text, 0); i < text.size(); i = next_candidate(text, i)) {
        std::size_t length = 1;
        const Fold fold = fold_code_point(decode(text, i, length)).fold;
        if (fold == Fold::replace) return i;
        if (fold == Fold::remove) {
            const RemovedRun run = removed_run(text, i);
            if (run.characters <= max_removed_run) return i;
            length = run.bytes;
        }
        i += length;
    }
    return text.size();
}

}  // namespace

std::size_t FoldedText::original_offset(std::size_t at) const {
    auto edit = std::upper_bound(edits.begin(), edits.end(), at,
                                 [](std::size_t offset, const Edit& e) { return offset < e.folded; });
    if (edit == edits.begin()) return at;
    --edit;
    return edit->original + (at - edit->folded);
}

std::size_t FoldedText::folded_offset(std::size_t at) const {
    auto edit = std::upper_bound(edits.begin(), edits.end(), at,
                                 [](std::size_t offset, const Edit& e) { return offset < e.original; });
    // Before the first edit the texts run in step up to the first folded character; an offset inside a
    // run of removed characters there maps to where the run was (the next folded byte).
    if (edit == edits.begin()) return edits.empty() ? at : std::min(at, static_cast<std::size_t>(edits.front().folded));
    --edit;
    // Within the edit's run when `at` lies there; otherwise (inside a folded or removed character)
    // the next folded byte, which starts the following run.
    const std::size_t next = std::next(edit) == edits.end() ? text.size() : std::next(edit)->folded;
    return std::min(edit->folded + (at - edit->original), next);
}

std::string unreadable_name(std::string_view name) {
    if (!name.empty() && (name.front() == ' ' || name.back() == ' ')) return "begins or ends with a space";
    for (std::size_t i = 0; i < name.size();) {
        std::size_t length = 1;
        const std::uint32_t cp = decode(name, i, length);
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || invisible_code_point(cp)) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "U+%04X", cp);
            return std::string("holds the invisible or control character ") + hex + " at byte " + std::to_string(i) +
                   ", which makes it look like another name";
        }
        i += length;
    }
    return {};
}

bool fold_lookalikes(std::string_view text, FoldedText& out) {
    // First only look: most text (ASCII, accented letters, typographic quotes) holds no look-alike.
    std::size_t i = first_lookalike(text);
    if (i == text.size()) return false;
    out.text.assign(text.substr(0, i));
    out.edits.clear();
    while (i < text.size()) {
        std::size_t length = 1;
        const FoldResult result = fold_code_point(decode(text, i, length));
        if (result.fold == Fold::replace) {
            out.edits.push_back({static_cast<std::uint32_t>(out.text.size()), static_cast<std::uint32_t>(i)});
            out.text.push_back(result.ascii);
        } else if (result.fold == Fold::remove) {
            // first_lookalike stops only at a run it removes whole.
            length = removed_run(text, i).bytes;
        }
        i += length;
        // The text runs in step again after the folded character, up to the next look-alike.
        const std::size_t next = i + first_lookalike(text.substr(i));
        out.edits.push_back({static_cast<std::uint32_t>(out.text.size()), static_cast<std::uint32_t>(i)});
        out.text.append(text.substr(i, next - i));
        i = next;
    }
    return true;
}

std::string lookalikes_folded(std::string_view text) {
    FoldedText folded;
    return fold_lookalikes(text, folded) ? std::move(folded.text) : std::string(text);
}

std::optional<Lookalike> find_lookalike(std::string_view text) {
    const std::size_t at = first_lookalike(text);
    if (at == text.size()) return std::nullopt;
    std::size_t length = 1;
    const std::uint32_t cp = decode(text, at, length);
    return Lookalike{at, cp, fold_code_point(cp).ascii};
}

}  // namespace sovereign::policy
