#include "policy/encoded_text.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "policy/byte_runs.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

namespace {

// Decodes a run whose length is a multiple of four, with `padding` '=' at its end; -1 if not base64.
int decode_block(std::string_view padded, std::size_t padding, std::string& out) {
    out.resize(padded.size() / 4 * 3);
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                       reinterpret_cast<const unsigned char*>(padded.data()),
                                       static_cast<int>(padded.size()));
    if (length < 0) return -1;
    out.resize(static_cast<std::size_t>(length) - padding);
    return length;
}

// Printable characters, white space and UTF-8: random bytes are control characters often and above
// 0x7F half of the time, where they rarely form a well-formed character. Characters are counted, not
// bytes: a value written with no-break spaces or fullwidth digits (three bytes each) is text too.
bool looks_like_text(std::string_view bytes) {
    std::size_t printable = 0;
    std::size_t characters = 0;
    for (std::size_t at = 0; at < bytes.size(); ++characters) {
        const auto c = static_cast<unsigned char>(bytes[at]);
        if (c < 0x80) {
            if (c >= 0x20 && c < 0x7F) ++printable;
            else if (c != '\t' && c != '\n' && c != '\r') return false;
            ++at;
            continue;
        }
        const std::size_t length = utf8_character_length(bytes, at);
        if (length > 0) ++printable;
        at += std::max<std::size_t>(length, 1);
    }
    return printable * 4 >= characters * 3;
}

}  // namespace

std::optional<std::string> decode_base64_text(std::string_view run) {
    while (!run.empty() && run.back() == '=') run.remove_suffix(1);
    if (run.size() < min_encoded_run || run.size() % 4 == 1) return std::nullopt;
    const bool standard = run.find_first_of("+/") != std::string_view::npos;
    const bool url_safe = run.find_first_of("-_") != std::string_view::npos;
    if (standard && url_safe) return std::nullopt;
    std::string padded(run);
    if (url_safe)
        for (char& c : padded) c = c == '-' ? '+' : c == '_' ? '/' : c;
    std::string decoded;
    // A long run is judged by its first 48 bytes before all of it is decoded: most are keys or data.
    constexpr std::size_t prefix = 64;
    if (padded.size() > 2 * prefix &&
        (decode_block(std::string_view(padded).substr(0, prefix), 0, decoded) < 0 || !looks_like_text(decoded)))
        return std::nullopt;
    const std::size_t padding = (4 - padded.size() % 4) % 4;
    padded.append(padding, '=');
    if (decode_block(padded, padding, decoded) < 0 || !looks_like_text(decoded)) return std::nullopt;
    return decoded;
}

std::optional<std::string> decode_hex_text(std::string_view run) {
    if (run.size() < min_encoded_run || run.size() % 2 != 0) return std::nullopt;
    std::string decoded(run.size() / 2, '\0');
    std::size_t length = 0;
    if (OPENSSL_hexstr2buf_ex(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), &length,
                              std::string(run).c_str(), '\0') != 1)
        return std::nullopt;
    decoded.resize(length);
    if (!looks_like_text(decoded)) return std::nullopt;
    return decoded;
}

std::optional<std::string> decode_encoded_text(std::string_view run) {
    const bool hex = run.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
    return hex ? decode_hex_text(run) : decode_base64_text(run);
}

namespace {

// OpenSSL's digit table: 0-15, or -1 for a character that is no hex digit.
int hex_value(char c) { return OPENSSL_hexchar2int(static_cast<unsigned char>(c)); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Named references of the characters values are written with, and the common ones of prose.
struct NamedReference {
    std::string_view name;
    char character;
};
constexpr std::array<NamedReference, 22> named_references{{
    {"amp", '&'},    {"lt", '<'},     {"gt", '>'},     {"quot", '"'},   {"apos", '\''},  {"nbsp", ' '},
    {"commat", '@'}, {"period", '.'}, {"hyphen", '-'}, {"dash", '-'},   {"lowbar", '_'}, {"colon", ':'},
    {"sol", '/'},    {"plus", '+'},   {"num", '#'},    {"comma", ','},  {"excl", '!'},   {"equals", '='},
    {"lpar", '('},   {"rpar", ')'},   {"semi", ';'},   {"percnt", '%'},
}};
constexpr std::size_t longest_reference = 10;  // "&#1114111;"
constexpr std::size_t longest_escape = 12;     // "\uD83D\uDE00", a surrogate pair
static_assert(longest_escape >= longest_reference);

// A code point (already checked: not a surrogate, at most U+10FFFF) as UTF-8, by OpenSSL.
void append_utf8(std::string& out, std::uint32_t cp) {
    unsigned char bytes[4];
    const int length = UTF8_putc(bytes, sizeof bytes, cp);
    if (length > 0) out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
}

// The length of the percent-escape at text[at] (3), its byte appended to out; 0 if there is none.
std::size_t percent_escape_at(std::string_view text, std::size_t at, std::string* out) {
    if (at + 2 >= text.size() || text[at] != '%') return 0;
    const int high = hex_value(text[at + 1]);
    const int low = hex_value(text[at + 2]);
    if (high < 0 || low < 0) return 0;
    if (out != nullptr) out->push_back(static_cast<char>(high * 16 + low));
    return 3;
}

// The length of the HTML character reference at text[at], its character appended to out as UTF-8;
// 0 if there is none (or it names no character: zero, a surrogate, beyond U+10FFFF).
std::size_t character_reference_at(std::string_view text, std::size_t at, std::string* out) {
    if (at + 2 >= text.size() || text[at] != '&') return 0;
    std::size_t i = at + 1;
    if (text[i] == '#') {
        ++i;
        const bool hex = i < text.size() && (text[i] == 'x' || text[i] == 'X');
        if (hex) ++i;
        const std::size_t digits_from = i;
        std::uint32_t cp = 0;
        while (i < text.size() && i - digits_from < 7 && (hex ? hex_value(text[i]) >= 0 : is_digit(text[i]))) {
            cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(hex ? hex_value(text[i]) : text[i] - '0');
            ++i;
        }
        if (i == digits_from || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        if (i < text.size() && text[i] == ';') ++i;
        if (out != nullptr) append_utf8(*out, cp);
        return i - at;
    }
    // Looked for only as far as the longest name reaches: prose holds many '&' and few ';'.
    const std::size_t semicolon = text.substr(0, at + longest_reference + 1).find(';', i);
    if (semicolon == std::string_view::npos) return 0;
    const std::string_view name = text.substr(i, semicolon - i);
    for (const NamedReference& r : named_references)
        if (r.name == name) {
            if (out != nullptr) out->push_back(r.character);
            return semicolon + 1 - at;
        }
    return 0;
}

// The value of the four hex digits (either case) at text[at], or -1.
long hex4_at(std::string_view text, std::size_t at) {
    if (at + 4 > text.size()) return -1;
    long value = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
        const int digit = hex_value(text[i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

bool is_high_surrogate(long cp) { return cp >= 0xD800 && cp <= 0xDBFF; }
bool is_low_surrogate(long cp) { return cp >= 0xDC00 && cp <= 0xDFFF; }

// The character the short JSON escape "\c" stands for, or none for a c that starts no such escape.
std::optional<char> short_escape(char c) {
    switch (c) {
        case '"': return '"';
        case '\\': return '\\';
        case '/': return '/';
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        default: return std::nullopt;
    }
}

// The length of the JSON (or C, JavaScript, Python...) backslash escape at text[at], its character
// appended to out as UTF-8; 0 if there is none. "\uXXXX" names a UTF-16 unit: a high surrogate with
// its low half after it is one character (12 characters long); a surrogate without its other half
// names no character and stays as written, as any backslash that starts no escape does.
std::size_t backslash_escape_at(std::string_view text, std::size_t at, std::string* out) {
    if (at + 1 >= text.size() || text[at] != '\\') return 0;
    if (text[at + 1] != 'u') {
        const std::optional<char> c = short_escape(text[at + 1]);
        if (!c) return 0;
        if (out != nullptr) out->push_back(*c);
        return 2;
    }
    const long cp = hex4_at(text, at + 2);
    if (cp < 0 || is_low_surrogate(cp)) return 0;
    if (!is_high_surrogate(cp)) {
        if (out != nullptr) append_utf8(*out, static_cast<std::uint32_t>(cp));
        return 6;
    }
    if (at + 12 > text.size() || text[at + 6] != '\\' || text[at + 7] != 'u') return 0;
    const long low = hex4_at(text, at + 8);
    if (!is_low_surrogate(low)) return 0;
    if (out != nullptr) append_utf8(*out, static_cast<std::uint32_t>(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)));
    return 12;
}

std::size_t escape_at(std::string_view text, std::size_t at, std::string* out) {
    switch (text[at]) {
        case '%': return percent_escape_at(text, at, out);
        case '&': return character_reference_at(text, at, out);
        case '\\': return backslash_escape_at(text, at, out);
        default: return 0;
    }
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// How far around an escape its region reaches: the context words' window (64 bytes before a value,
// 24 after) with room for the value itself, then on to white space but not beyond `to_space_before`
// or `to_space_after` more. After the escape that is far enough for the longest value to end inside
// the region (an e-mail domain has at most 253 characters), so that a region's edge does not cut a
// value short, which would make it depend on whether another escape's region extends it. Before the
// escape one character is kept in reserve for escape_safe_start, which may take a region's beginning
// back over a backslash.
constexpr std::size_t to_space_before = 32;
constexpr std::size_t to_space_after = 256;
constexpr std::size_t region_before = escape_reach_before - to_space_before - 1;
constexpr std::size_t region_after = escape_reach_after - to_space_after;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// True when a backslash escape begins `rest` that more text could complete: "\", "\u", "\u0" to
// "\u003", and a high surrogate ("\uD83D") with no more than the beginning of its low half after it
// ("\uD83D\uDE0"), which would make the two one character.
bool unfinished_backslash_escape(std::string_view rest) {
    if (rest.size() == 1) return true;
    if (rest[1] != 'u') return false;
    for (std::size_t i = 2; i < std::min<std::size_t>(rest.size(), 6); ++i)
        if (hex_value(rest[i]) < 0) return false;
    if (rest.size() < 6) return true;
    if (rest.size() >= 12 || !is_high_surrogate(hex4_at(rest, 2))) return false;
    for (std::size_t i = 6; i < rest.size(); ++i) {
        const char c = rest[i];
        const bool in_low_half = i == 6   ? c == '\\'
                                 : i == 7 ? c == 'u'
                                 : i == 8 ? c == 'd' || c == 'D'
                                 : i == 9 ? hex_value(c) >= 0xC  // DC00 to DFFF
                                          : hex_value(c) >= 0;
        if (!in_low_half) return false;
    }
    return true;
}

// True when text[at..] is the beginning of an escape that more text could complete: "%", "%4",
// "&", "&#", "&#6", "&#x4", "&comm", "\", "\u00".
bool unfinished_escape_at(std::string_view text, std::size_t at) {
    const std::string_view rest = text.substr(at);
    if (rest[0] == '%') return rest.size() < 3 && (rest.size() < 2 || hex_value(rest[1]) >= 0);
    if (rest[0] == '\\') return unfinished_backslash_escape(rest);
    if (rest.size() > longest_reference) return false;
    std::size_t i = 1;
    if (i < rest.size() && rest[i] == '#') {
        ++i;
        const bool hex = i < rest.size() && (rest[i] == 'x' || rest[i] == 'X');
        if (hex) ++i;
        while (i < rest.size() && (hex ? hex_value(rest[i]) >= 0 : is_digit(rest[i]))) ++i;
        return i == rest.size();
    }
    while (i < rest.size() && is_alpha(rest[i])) ++i;
    return i == rest.size();
}

// Calls on_mark(at, length) for each '%', '&' and '\' in text[from, to) as unescape_text meets them
// reading from `from` (which escape_safe_start gives): length is that of the escape it begins, 0
// for none; a mark inside an escape (the second '\' of "\\") begins nothing and is skipped. Stops
// when on_mark returns false. `marks` holds at least those of [from, to).
template <typename OnMark>
void for_each_escape_mark(std::string_view text, const EscapeMarks& marks, std::size_t from, std::size_t to,
                          OnMark&& on_mark) {
    const std::vector<std::size_t>& offsets = marks.offsets();
    std::size_t after = from;  // where the escape before ends
    for (auto it = std::lower_bound(offsets.begin(), offsets.end(), from); it != offsets.end() && *it < to; ++it) {
        const std::size_t at = *it;
        if (at < after) continue;
        const std::size_t length = escape_at(text, at, nullptr);
        if (!on_mark(at, length)) return;
        after = at + std::max<std::size_t>(length, 1);
    }
}

}  // namespace

EscapeMarks::EscapeMarks(std::string_view text, std::size_t from, std::size_t to) {
    find_bytes(text, from, std::min(to, text.size()), "%&\\", offsets_);
}

void TextMarks::find(std::string_view text) {
    all_.clear();
    tags_.clear();
    colons_.clear();
    escapes_.offsets_.clear();
    find_bytes(text, 0, text.size(), "%&\\<:", all_);
    for (const std::size_t at : all_) {
        const char c = text[at];
        if (c == '<') tags_.push_back(at);
        else if (c == ':') colons_.push_back(at);
        else escapes_.offsets_.push_back(at);
    }
}

std::size_t escape_safe_start(std::string_view text, std::size_t at) {
    std::size_t backslashes = 0;
    while (backslashes < at && text[at - backslashes - 1] == '\\') ++backslashes;
    return backslashes % 2 == 1 && backslash_escape_at(text, at - 1, nullptr) > 0 ? at - 1 : at;
}

namespace {

// The text with the escapes that `escape` reads (a length and the character appended, or 0) resolved.
template <typename Escape>
UnescapedText unescape_with(std::string_view text, Escape escape) {
    UnescapedText out;
    out.text.reserve(text.size());
    out.source.reserve(text.size() + 1);
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t before = out.text.size();
        std::size_t length = escape(text, at, &out.text);
        if (length == 0) {
            out.text.push_back(text[at]);
            length = 1;
        }
        out.source.insert(out.source.end(), out.text.size() - before, at);
        at += length;
    }
    out.source.push_back(text.size());
    return out;
}

}  // namespace

UnescapedText unescape_text(std::string_view text) { return unescape_with(text, escape_at); }

UnescapedText unescape_json_text(std::string_view text) {
    return unescape_with(text, [](std::string_view t, std::size_t at, std::string* out) {
        return t[at] == '\\' ? backslash_escape_at(t, at, out) : 0;
    });
}

std::size_t unescaped_offset(const UnescapedText& unescaped, std::size_t at) {
    return static_cast<std::size_t>(std::lower_bound(unescaped.source.begin(), unescaped.source.end(), at) -
                                    unescaped.source.begin());
}

std::size_t written_end(const UnescapedText& unescaped, std::size_t end) {
    while (end > 0 && end < unescaped.text.size() && unescaped.source[end] == unescaped.source[end - 1]) ++end;
    return unescaped.source[end];
}

namespace {

// One escape's region, before regions that meet are merged and before its beginning is moved to
// where the text reads as it does from its beginning (escape_safe_start).
TextRange escape_region(std::string_view text, std::size_t at, std::size_t length) {
    std::size_t begin = at > region_before ? at - region_before : 0;
    std::size_t end = std::min(text.size(), at + length + region_after);
    for (std::size_t n = 0; begin > 0 && n < to_space_before && !is_space(text[begin - 1]); ++n) --begin;
    for (std::size_t n = 0; end < text.size() && n < to_space_after && !is_space(text[end]); ++n) ++end;
    return {begin, end};
}

}  // namespace

RegionCuts region_cuts(std::string_view text, TextRange region) {
    return {region.begin > 0 && !is_space(text[region.begin - 1]),
            region.end < text.size() && !is_space(text[region.end])};
}

std::optional<TextRange> last_escape_region(std::string_view text, TextRange within) {
    const std::size_t from = escape_safe_start(text, within.begin);
    return last_escape_region(text, within, EscapeMarks(text, from, within.end));
}

std::optional<TextRange> last_escape_region(std::string_view text, TextRange within, const EscapeMarks& marks) {
    std::optional<TextRange> last;
    const std::size_t from = escape_safe_start(text, within.begin);
    for_each_escape_mark(text, marks, from, within.end, [&](std::size_t at, std::size_t length) {
        if (length > 0 && at >= within.begin && at + length <= within.end) last = escape_region(text, at, length);
        return true;
    });
    if (last) last->begin = escape_safe_start(text, last->begin);
    return last;
}

namespace {

// Merges into `region` the region of a later escape whose end is walked to white space from
// `walk_from`. The region's end is where the walk of the escape before stopped: white space, the
// end of the text, or where its walk ran out with none before it; a walk from further on stops at
// the same white space, or passes the same characters and goes on. So it goes on from there: text
// dense with escapes costs one walk over it, not one per escape.
void extend_region(std::string_view text, TextRange& region, std::size_t walk_from) {
    if (region.end >= walk_from && (region.end == text.size() || is_space(text[region.end]))) return;
    std::size_t end = std::max(region.end, walk_from);
    for (std::size_t n = end - walk_from; end < text.size() && n < to_space_after && !is_space(text[end]); ++n) ++end;
    region.end = end;
}

}  // namespace

std::vector<TextRange> escaped_regions(std::string_view text) { return escaped_regions(text, EscapeMarks(text)); }

std::vector<TextRange> escaped_regions(std::string_view text, const EscapeMarks& marks) {
    // Escapes come in order, and so do their regions' beginnings and ends: each region merges with the
    // one before or begins the next.
    std::vector<TextRange> regions;
    for_each_escape_mark(text, marks, 0, text.size(), [&](std::size_t at, std::size_t length) {
        if (length == 0) return true;
        const std::size_t nearest_begin = at > region_before ? at - region_before : 0;
        if (!regions.empty() && nearest_begin <= regions.back().end) {
            extend_region(text, regions.back(), std::min(text.size(), at + length + region_after));
            return true;
        }
        const TextRange region = escape_region(text, at, length);
        if (regions.empty() || region.begin > regions.back().end) regions.push_back(region);
        else regions.back().end = std::max(regions.back().end, region.end);
        return true;
    });
    // Only now, for the few regions merging left: a run of backslashes is escapes whose regions merge,
    // and counting back through it for each of them would take time that grows with its square. (A
    // region that begins right after the backslash of an escape merged with that escape's region.)
    for (TextRange& r : regions) r.begin = escape_safe_start(text, r.begin);
    return regions;
}

std::size_t escape_hold_start(std::string_view buffer, std::size_t from) {
    const std::size_t end = buffer.size();
    // An escape's region reaches escape_reach_after past the escape's own end.
    const std::size_t reach = escape_reach_after + longest_escape;
    const std::size_t look_from = std::max(from, end > reach ? end - reach : 0);
    // The earliest escape whose region is not complete yet; most text has no '%', '&' or '\' at all.
    std::size_t first = end;
    const std::size_t safe_from = escape_safe_start(buffer, look_from);
    for_each_escape_mark(buffer, EscapeMarks(buffer, safe_from, end), safe_from, end, [&](std::size_t at, std::size_t length) {
        if (length > 0 ? at + length + escape_reach_after <= end : !unfinished_escape_at(buffer, at)) return true;
        first = at;
        return false;
    });
    if (first == end) return end;
    return std::max(from, first > escape_reach_before ? first - escape_reach_before : 0);
}

}  // namespace sovereign::policy
