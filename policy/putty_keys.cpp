#include "policy/putty_keys.hpp"

#include <algorithm>

#include "policy/validators.hpp"

namespace sovereign::policy::putty_keys {

namespace {

constexpr std::string_view header = "PuTTY-User-Key-File-";
constexpr std::string_view private_lines = "Private-Lines:";
// What closes the file: the MAC of versions 2 and 3, the hash of version 1.
constexpr std::string_view closings[] = {"Private-MAC:", "Private-Hash:"};
// The longest file read after its header: the private_key detector's reach (an RSA key of 8192 bits
// takes about 4 KB).
constexpr std::size_t file_max = 8192;
// As for a PEM block cut before its END line: most of a line of base64.
constexpr std::size_t body_run_min = 40;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return is_blank(c) || c == '\r' || c == '\n'; }

std::size_t skip(std::string_view text, std::size_t at, bool (*chars)(char)) {
    while (at < text.size() && chars(text[at])) ++at;
    return at;
}

// Where the closing line's label begins in text, or npos.
std::size_t closing_at(std::string_view text) {
    std::size_t at = std::string_view::npos;
    for (const std::string_view closing : closings) at = std::min(at, text.find(closing));
    return at;
}

}  // namespace

TextRange expand(std::string_view text, std::size_t begin, std::size_t end) {
    const std::string_view window = text.substr(0, std::min(text.size(), end + file_max));
    const std::size_t label = window.find(private_lines, end);
    // Cut before its private lines, or another key's header first: no private key here.
    if (label == std::string_view::npos || window.find(header, end) < label) return {};
    std::size_t at = skip(window, label + private_lines.size(), is_blank);
    const std::size_t digits = at;
    std::size_t count = 0;
    while (at < window.size() && at - digits < 4 && is_digit(window[at]))
        count = count * 10 + static_cast<std::size_t>(window[at++] - '0');
    std::size_t value_end = 0;
    for (std::size_t line = 0; line < count; ++line) {
        const std::size_t run = skip(window, at, is_space);
        const std::size_t run_end = skip(window, run, validators::base64_char);
        // A label ("Private-MAC:") where a line should be: the file says fewer lines than it has.
        if (run_end == run || (run_end < window.size() && (window[run_end] == '-' || window[run_end] == ':'))) break;
        value_end = at = run_end;
    }
    if (value_end == 0) return {};
    const std::size_t next = skip(window, value_end, is_space);
    for (const std::string_view closing : closings) {
        if (window.substr(next, closing.size()) != closing) continue;
        const std::size_t hex = skip(window, next + closing.size(), is_blank);
        const std::size_t hex_end = skip(window, hex, is_hex);
        if (hex_end > hex) value_end = hex_end;
    }
    return {begin, value_end};
}

bool valid(std::string_view text) {
    if (!text.starts_with(header)) return false;
    const std::size_t label = text.find(private_lines);
    if (label == std::string_view::npos) return false;
    // The private lines only: the MAC after them is hexadecimal, a run of base64 characters too.
    std::string_view body = text.substr(label + private_lines.size());
    body = body.substr(0, closing_at(body));
    std::size_t run = 0;
    for (const char c : body)
        if ((run = validators::base64_char(c) ? run + 1 : 0) >= body_run_min) return true;
    return false;
}

std::size_t straddle(std::string_view buffer, std::size_t from, std::size_t reach) {
    const std::size_t end = buffer.size();
    for (std::size_t at = buffer.find(header[0], std::max(from, end - std::min(reach, end))); at < end;
         at = buffer.find(header[0], at + 1)) {
        const std::size_t n = std::min(header.size(), end - at);
        if (buffer.compare(at, n, header, 0, n) != 0) continue;
        if (n < header.size()) return at;  // the beginning of a header
        // Complete once the line that closes it has ended.
        const std::string_view key = buffer.substr(at);
        const std::size_t closing = closing_at(key);
        if (closing == std::string_view::npos || key.find('\n', closing) == std::string_view::npos) return at;
    }
    return end;
}

}  // namespace sovereign::policy::putty_keys
