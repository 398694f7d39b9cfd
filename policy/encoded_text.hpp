#pragma once
// Text hidden in base64 ("NDExMSAxMTExIDExMTEgMTExMQ==" is a card number) or hex ("34313131..."): the
// scanner decodes each run of such characters it meets (DetectorSet::scan) and scans what it spells,
// one level deep. And text written with escapes, as URLs, form data, HTML, JSON and source code carry
// it ("jane%40example.com", "jane&#64;example.com", "\u0035\u0033\u0036-22-1234" in a tool call's
// arguments): the scanner unescapes the stretches around them and scans those, a value found there
// covering exactly the characters that wrote it.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/builtin_detectors.hpp"

namespace sovereign::policy {

// Runs shorter than this hold fewer than 15 bytes: no value worth a decode.
inline constexpr std::size_t min_encoded_run = 20;

// The text a run of base64 characters (standard or URL-safe alphabet, with or without padding) decodes to,
// or nothing when it is not base64 or does not decode to text (printable characters, white space,
// UTF-8): random keys and binary data decode to bytes that are not.
std::optional<std::string> decode_base64_text(std::string_view run);
// The same for a run of an even number of hex digits ("34313131" is "4111").
std::optional<std::string> decode_hex_text(std::string_view run);
// A run as hex where it is all hex digits, else as base64.
std::optional<std::string> decode_encoded_text(std::string_view run);

// Text with its escapes replaced by the characters they stand for: percent-escapes ("%40"); HTML
// character references, numeric ("&#64;", "&#x40;", the ';' optional as browsers read them) and the
// named ones for characters values are written with ("&commat;", "&period;", "&nbsp;" as a space...);
// and JSON's backslash escapes ("\u0034", a surrogate pair "\uD83D\uDE00" as one character, "\n",
// "\t", "\"", "\\"...), read left to right so that "\\u0034" is a backslash and then "u0034". A
// backslash that starts no escape, and a surrogate without its other half, stay as written.
struct UnescapedText {
    std::string text;
    // text.size() + 1 entries: where the character or escape that gave each byte begins in the
    // original, then the original's size; a range [b, e) of text was written by [source[b], source[e]).
    std::vector<std::size_t> source;
};
UnescapedText unescape_text(std::string_view text);
// JSON text (a tool call's arguments, JSON inside a JSON string) with its string escapes resolved and
// no others, as the request side reads such text before its detectors do: the backslash escapes
// above, read the same way. The answer side reads it so too (ResponseScanner), and then the detectors
// read the escapes in what it gives, as they do in any text: two levels of escapes inside the JSON
// string the text came in, on both sides, and no more.
UnescapedText unescape_json_text(std::string_view text);
// The unescaped offset of original offset `at`: the first byte that the character or escape at or
// after `at` gave (text.size() past the last).
std::size_t unescaped_offset(const UnescapedText& unescaped, std::size_t at);
// Where in the original an unescaped range ending at `end` ends: after the whole character or escape
// that gave byte end - 1, never inside it.
std::size_t written_end(const UnescapedText& unescaped, std::size_t end);

// The place at or before `at` from which the text unescapes as it does read from its beginning:
// `at` itself unless an odd number of backslashes stand right before it, the last of which starts an
// escape with text[at] (read from there, "\\u0034" would be a '4'). Text kept from such a place
// reads the same.
std::size_t escape_safe_start(std::string_view text, std::size_t at);

// Where the marks that may begin an escape ('%', '&' and '\') stand in a text, found in one pass over
// it: taken once per text, they serve every question about its escapes below (its regions, then the
// region of each value written with escapes, last_escape_region), none of which passes over the text
// again. Before, each question made a memchr pass per kind of mark.
class EscapeMarks {
public:
    EscapeMarks() = default;
    // The marks of text[from, to).
    explicit EscapeMarks(std::string_view text, std::size_t from = 0, std::size_t to = std::string_view::npos);
    // Offsets in the text, in order.
    const std::vector<std::size_t>& offsets() const { return offsets_; }

private:
    friend class TextMarks;
    std::vector<std::size_t> offsets_;
};

// The bytes a scan of a whole text looks for one at a time ('<' for tags, ':' for the IPv6 anchors,
// and the escape marks), found in one pass over it (find_bytes, five values a block): before, each
// kind made a memchr pass of its own ('<', ':') or the escape marks' pass (EscapeMarks). Each list
// holds the offsets of its bytes in order, as a memchr pass per byte value would give them.
class TextMarks {
public:
    // Finds the marks of `text`, reusing the lists' memory.
    void find(std::string_view text);
    const std::vector<std::size_t>& tags() const { return tags_; }      // '<'
    const std::vector<std::size_t>& colons() const { return colons_; }  // ':'
    const EscapeMarks& escapes() const { return escapes_; }              // '%', '&', '\'

private:
    std::vector<std::size_t> all_;
    std::vector<std::size_t> tags_;
    std::vector<std::size_t> colons_;
    EscapeMarks escapes_;
};

// The stretches of text worth unescaping: each escape with the words around it (as far as context
// words are looked for, then to the next white space), merged where they meet. Empty when the
// text holds no escape, which most text does not. `marks`: those of the whole text.
std::vector<TextRange> escaped_regions(std::string_view text, const EscapeMarks& marks);
std::vector<TextRange> escaped_regions(std::string_view text);

// Whether a region's edges cut into a word of the text, rather than meeting white space or an end of
// the text: a value its unescaped reading shows touching such an edge may go on beyond it.
struct RegionCuts {
    bool before = false;
    bool after = false;
};
RegionCuts region_cuts(std::string_view text, TextRange region);

// How far before and after an escape its region reaches, at most (after: past the escape's end).
inline constexpr std::size_t escape_reach_before = 128;
inline constexpr std::size_t escape_reach_after = 64 + 256;

// The region of the last escape that lies wholly inside `within`, as escaped_regions gives it before
// merging; none when `within` holds no escape. A value written with escapes is decided on it when it
// runs past it in a merged region: a later escape's region must not change what an earlier escape's
// value is (a streamed answer decides it before the later escape arrives).
// `marks`: those of the whole text, or at least of [escape_safe_start(text, within.begin), within.end).
std::optional<TextRange> last_escape_region(std::string_view text, TextRange within, const EscapeMarks& marks);
std::optional<TextRange> last_escape_region(std::string_view text, TextRange within);

// For a streamed answer received up to the end of buffer: where to hold it back from so that a value
// written with an escape near the end (or with one the next chunk completes: "%4", "&#6", "\u00", a
// high surrogate "\uD83D" that waits for its low half) is decided whole, as if the answer had come at
// once: the start of that escape's region, not before `from`. buffer.size() when there is no such escape.
std::size_t escape_hold_start(std::string_view buffer, std::size_t from);

}  // namespace sovereign::policy
