#include "policy/inline_markup.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace sovereign::policy {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_alnum(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

// Elements shown inside a line: a tag of theirs reads as nothing.
constexpr std::array<std::string_view, 32> inline_elements{
    "a",    "abbr", "b",   "bdi",  "bdo",  "big",    "cite", "code", "data",  "del",  "dfn",
    "em",   "font", "i",   "ins",  "kbd",  "mark",   "q",    "s",    "samp",  "small", "span",
    "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "nobr"};
// Elements that break the line or stand in a cell or a block of their own: a tag of theirs reads as
// a blank.
constexpr std::array<std::string_view, 38> breaking_elements{
    "br",      "td",     "th",      "tr",     "p",       "div",    "li",      "ul",     "ol",    "dl",
    "dt",      "dd",     "table",   "thead",  "tbody",   "tfoot",  "caption", "h1",     "h2",    "h3",
    "h4",      "h5",     "h6",      "hr",     "blockquote", "pre", "section", "article", "header", "footer",
    "nav",     "aside",  "address", "center", "label",   "figure", "figcaption", "main"};
constexpr std::size_t longest_name = 10;

enum class Element { unknown, inline_element, breaking };

// An element name in lower case (names are ASCII letters and digits); `name` at most longest_name long.
struct FoldedName {
    explicit FoldedName(std::string_view name) : size(name.size()) {
        for (std::size_t i = 0; i < name.size(); ++i) lower[i] = static_cast<char>(name[i] | 0x20);
    }
    std::string_view view() const { return {lower.data(), size}; }
    std::array<char, longest_name> lower{};
    std::size_t size;
};

Element element(std::string_view name) {
    if (name.empty() || name.size() > longest_name) return Element::unknown;
    const FoldedName lower(name);
    const std::string_view folded = lower.view();
    if (std::find(inline_elements.begin(), inline_elements.end(), folded) != inline_elements.end())
        return Element::inline_element;
    if (std::find(breaking_elements.begin(), breaking_elements.end(), folded) != breaking_elements.end())
        return Element::breaking;
    return Element::unknown;
}

// Whether `name` begins the name of a known element (a tag the next chunk may complete).
bool begins_element(std::string_view name) {
    if (name.size() > longest_name) return false;
    const FoldedName lower(name);
    const std::string_view folded = lower.view();
    const auto begins = [&](std::string_view known) { return known.substr(0, folded.size()) == folded; };
    return std::any_of(inline_elements.begin(), inline_elements.end(), begins) ||
           std::any_of(breaking_elements.begin(), breaking_elements.end(), begins);
}

// The next tag at or after `from`, or text.size(). `tags`: the offsets of every '<' of the text, in
// order, or null (then memchr finds them).
std::size_t next_tag(std::string_view text, std::size_t from, std::size_t& length, bool& breaks,
                     const std::vector<std::size_t>* tags) {
    if (tags != nullptr) {
        for (auto it = std::lower_bound(tags->begin(), tags->end(), from); it != tags->end(); ++it)
            if ((length = tag_at(text, *it, breaks)) != 0) return *it;
        return text.size();
    }
    while (from < text.size()) {
        const void* found = std::memchr(text.data() + from, '<', text.size() - from);
        if (found == nullptr) break;
        const auto at = static_cast<std::size_t>(static_cast<const char*>(found) - text.data());
        if ((length = tag_at(text, at, breaks)) != 0) return at;
        from = at + 1;
    }
    return text.size();
}

}  // namespace

std::size_t tag_at(std::string_view text, std::size_t at, bool& breaks) {
    if (at >= text.size() || text[at] != '<') return 0;
    std::size_t i = at + 1;
    if (i < text.size() && text[i] == '/') ++i;
    const std::size_t name_begin = i;
    while (i < text.size() && i - name_begin <= longest_name && is_alnum(text[i])) ++i;
    const Element kind = element(text.substr(name_begin, i - name_begin));
    if (kind == Element::unknown || i >= text.size()) return 0;
    breaks = kind == Element::breaking;
    if (text[i] == '>') return i + 1 - at;
    if (text[i] == '/') return i + 1 < text.size() && text[i + 1] == '>' ? i + 2 - at : 0;
    if (!is_space(text[i])) return 0;
    // Attributes, up to the '>' that closes the tag.
    for (; i < text.size() && i - at < max_tag_length; ++i) {
        if (text[i] == '>') return i + 1 - at;
        if (text[i] == '<') return 0;
    }
    return 0;
}

bool read_without_tags(std::string_view text, UnescapedText& out, const std::vector<std::size_t>* tags) {
    std::size_t length = 0;
    bool breaks = false;
    std::size_t tag = next_tag(text, 0, length, breaks, tags);
    if (tag == text.size()) return false;
    out.text.clear();
    out.source.clear();
    out.text.reserve(text.size());
    out.source.reserve(text.size() + 1);
    const auto copy = [&](std::size_t from, std::size_t to) {
        out.text.append(text, from, to - from);
        for (std::size_t i = from; i < to; ++i) out.source.push_back(i);
    };
    std::size_t at = 0;
    while (tag < text.size()) {
        // The run: the white space before the tag, then tags and white space.
        std::size_t run = tag;
        while (run > at && is_space(text[run - 1])) --run;
        copy(at, run);
        bool blank = run < tag || breaks;
        std::size_t end = tag + length;
        for (;;) {
            if (end < text.size() && is_space(text[end])) {
                blank = true;
                ++end;
            } else if (const std::size_t next = tag_at(text, end, breaks); next != 0) {
                blank = blank || breaks;
                end += next;
            } else {
                break;
            }
        }
        if (blank) {
            out.text.push_back(' ');
            out.source.push_back(run);
        }
        at = end;
        tag = next_tag(text, at, length, breaks, tags);
    }
    copy(at, text.size());
    out.source.push_back(text.size());
    return true;
}

std::size_t tag_ending_at(std::string_view text, std::size_t end) {
    if (end == 0 || text[end - 1] != '>') return 0;
    const std::size_t lowest = end > max_tag_length ? end - max_tag_length : 0;
    for (std::size_t at = end - 1; at > lowest;) {
        --at;
        if (text[at] == '<') {
            bool breaks = false;
            return tag_at(text, at, breaks) == end - at ? end - at : 0;
        }
        if (text[at] == '>') return 0;
    }
    return 0;
}

std::size_t unfinished_tag_start(std::string_view text, std::size_t from) {
    const std::size_t lowest = std::max(from, text.size() > max_tag_length ? text.size() - max_tag_length : 0);
    if (lowest >= text.size()) return text.size();
    const void* found = memrchr(text.data() + lowest, '<', text.size() - lowest);
    if (found == nullptr) return text.size();
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(found) - text.data()) + 1;
    if (std::memchr(text.data() + at, '>', text.size() - at) != nullptr) return text.size();
    const std::size_t open = at - 1;
    std::size_t i = at;
    if (i < text.size() && text[i] == '/') ++i;
    const std::size_t name_begin = i;
    while (i < text.size() && is_alnum(text[i])) ++i;
    const std::string_view name = text.substr(name_begin, i - name_begin);
    if (i == text.size()) return begins_element(name) ? open : text.size();
    // A whole name, then attributes or the '/' of "/>", cut off before the '>'.
    if (element(name) == Element::unknown || !(is_space(text[i]) || text[i] == '/')) return text.size();
    if (text[i] == '/' && i + 1 != text.size()) return text.size();
    return open;
}

}  // namespace sovereign::policy
