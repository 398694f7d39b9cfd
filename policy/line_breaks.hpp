#pragma once
// Line breaks inside values written in groups. A number wrapped at the end of a line, or copied out of
// a table one group a line, has a line break where a separator stood: between two groups, LF or CRLF
// with up to four spaces or tabs on either side, after the dash of a dashed value ("123-45-\n6789").
// The expanders, the validators and the pass that finds where digit-dense patterns run (byte_runs.hpp)
// all read such a gap from here, so that they agree on what a value may span.

#include <cstddef>
#include <string_view>

namespace sovereign::policy::line_breaks {

// Spaces or tabs on each side of the line break (trailing blanks before it, indentation after it).
inline constexpr std::size_t max_blanks = 4;
// The longest gap: a dash, the blanks, CRLF and the blanks.
inline constexpr std::size_t max_gap = 1 + max_blanks + 2 + max_blanks;
// The same gap as a vectorscan expression (`max_blanks` written out), for patterns of whole values.
#define SOVEREIGN_LINE_BREAK_REGEX R"([ \t]{0,4}\r?\n[ \t]{0,4})"

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The length of the line break at `at`, its blanks included (`[ \t]{0,4}\r?\n[ \t]{0,4}`, the longest);
// 0 when there is none.
inline std::size_t gap_at(std::string_view text, std::size_t at) {
    std::size_t i = at;
    while (i < text.size() && i - at < max_blanks && is_blank(text[i])) ++i;
    if (i < text.size() && text[i] == '\r') ++i;
    if (i >= text.size() || text[i] != '\n') return 0;
    const std::size_t after = ++i;
    while (i < text.size() && i - after < max_blanks && is_blank(text[i])) ++i;
    return i - at;
}

// The same, also after a dash (a dashed value wrapped after its dash).
inline std::size_t gap_after_dash_at(std::string_view text, std::size_t at) {
    if (at < text.size() && text[at] == '-') {
        const std::size_t gap = gap_at(text, at + 1);
        return gap == 0 ? 0 : gap + 1;
    }
    return gap_at(text, at);
}

// Whether text[begin, end) is exactly one such gap (a dash before it allowed).
inline bool is_gap(std::string_view text, std::size_t begin, std::size_t end) {
    return end > begin && end - begin <= max_gap && gap_after_dash_at(text.substr(0, end), begin) == end - begin;
}

}  // namespace sovereign::policy::line_breaks
