#pragma once
// Look-alike characters hide a value from patterns written for ASCII while a model still reads it:
// a card number in fullwidth or Arabic-Indic digits, an IBAN with zero-width spaces between its
// groups, an e-mail address with a fullwidth @, groups separated by no-break or thin spaces or by
// typographic dashes. Such text is folded into an ASCII copy before it is scanned (digits of other
// scripts to 0-9, fullwidth forms to their ASCII letters, Unicode spaces to ' ', dashes to '-',
// invisible and control characters removed, up to max_removed_run in a row), and the findings are
// mapped back to the original bytes, so that a redaction covers the whole value, invisible
// characters included.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sovereign::policy {

struct FoldedText {
    std::string text;  // ASCII stands in for every look-alike
    // Where the two texts stop running in step: from folded offset `folded` on, folded byte
    // folded + k is original byte original + k (until the next edit). Sorted by both offsets.
    struct Edit {
        std::uint32_t folded;
        std::uint32_t original;
    };
    std::vector<Edit> edits;
    // The original offset of folded offset `at` (at <= text.size(): the end maps to the end).
    std::size_t original_offset(std::size_t at) const;
    // The folded offset of original offset `at` (the first folded byte at or after it).
    std::size_t folded_offset(std::size_t at) const;
};

// An ASCII control character other than tab, LF and CR (which prose and values' line breaks use):
// folded like an invisible character (vertical tab, form feed and substitute like a space).
constexpr bool control_byte(unsigned char byte) {
    return (byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F;
}
// The control characters the fold removes or reads as a space: control_byte's, and C1 (U+0080-009F).
constexpr bool control_code_point(std::uint32_t cp) {
    return (cp < 0x80 && control_byte(static_cast<unsigned char>(cp))) || (cp >= 0x80 && cp <= 0x9F);
}

// Whether `byte` may be part of a look-alike's UTF-8 sequence: a continuation byte, or the lead byte
// of a block fold_lookalikes changes (U+0080-00BF, the combining grapheme joiner, Arabic-Indic,
// Devanagari and Bengali digits, the Arabic letter mark, Hangul, Khmer and Mongolian fillers,
// typographic spaces, dashes and format characters, the ideographic space, variation selectors,
// fullwidth forms, mathematical digits, tag characters), or an ASCII control character. A streamed
// answer holds such bytes back like the ASCII characters a value may contain.
constexpr bool lookalike_byte(unsigned char byte) {
    return (byte >= 0x80 && byte <= 0xBF) || byte == 0xC2 || byte == 0xCD || byte == 0xD8 || byte == 0xD9 ||
           byte == 0xDB || byte == 0xE0 || byte == 0xE1 || byte == 0xE2 || byte == 0xE3 || byte == 0xEF ||
           byte == 0xF0 || byte == 0xF3 || control_byte(byte);
}

// The fold reads through at most this many invisible or control characters in a row (between two
// digits of a card number, say). A longer run is kept as it is written, so that it ends a value: a
// streamed answer must decide what it holds back within a bounded stretch of text, and the answer read
// whole must read the same (policy/response_scanner.hpp). Requests are read the same way.
inline constexpr std::size_t max_removed_run = 8;

// Invisible format characters and fillers: soft hyphen, combining grapheme joiner, Arabic letter
// mark, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors and vowel separator,
// zero-width space, non-joiner and joiner, directional marks, embeddings and overrides, word joiner,
// invisible operators, directional isolates, variation selectors, byte order mark, tag characters.
bool invisible_code_point(std::uint32_t cp);

// Why a name people read (a tenant's, a rule's) could mislead them: a control or invisible character
// in it, or a space at either end; empty when it has none.
std::string unreadable_name(std::string_view name);

// Folds `text` into `out`. Returns false, leaving `out` unspecified, when the text holds no
// look-alike (the common case, decided without copying): scan the original then.
bool fold_lookalikes(std::string_view text, FoldedText& out);

// `text` as the scan reads it: with its look-alikes folded. For the words a policy writes (keywords,
// context words), which must match folded text.
std::string lookalikes_folded(std::string_view text);

// The first look-alike in `text`, for a message that names it: its byte offset, its code point, and
// the ASCII character the scan reads in its place (0: none, it is removed).
struct Lookalike {
    std::size_t offset = 0;
    std::uint32_t code_point = 0;
    char read_as = 0;
};
std::optional<Lookalike> find_lookalike(std::string_view text);

// The search for the next byte that may begin a look-alike, by processor, for tests to compare.
namespace detail {
std::size_t next_candidate_portable(std::string_view text, std::size_t i);
std::size_t next_candidate_sse2(std::string_view text, std::size_t i);  // byte by byte without SSE2
#if defined(__x86_64__)
std::size_t next_candidate_avx512(std::string_view text, std::size_t i);
#endif
}  // namespace detail

}  // namespace sovereign::policy
