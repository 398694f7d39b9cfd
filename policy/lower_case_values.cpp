#include "policy/lower_case_values.hpp"

#include <algorithm>

#include "policy/line_breaks.hpp"
#include "policy/validators.hpp"

namespace sovereign::policy::lower_case {

namespace {

constexpr TextRange none{std::string_view::npos, std::string_view::npos};
// IBAN letters and digits of an IBAN whose country is not known yet (the longest IBANs have 34), and
// the line breaks its groups may have between them, as the capitals' expander reads them.
constexpr std::size_t iban_longest = 34;
constexpr std::size_t iban_line_breaks = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_letter(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_letter(c); }
char upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
bool has_lower(std::string_view value) { return std::any_of(value.begin(), value.end(), is_lower); }

// Nothing of a longer word or number before `at`, or after the character before `at`.
bool starts_word(std::string_view text, std::size_t at) { return at == 0 || !is_alnum(text[at - 1]); }
bool ends_word(std::string_view text, std::size_t at) { return at >= text.size() || !is_alnum(text[at]); }

// After a run of digits at `at`: a dash or not, one letter, and the end of the word. The position after
// the letter, or 0.
std::size_t check_letter_after(std::string_view text, std::size_t at) {
    if (at < text.size() && text[at] == '-') ++at;
    if (at >= text.size() || !is_letter(text[at]) || !ends_word(text, at + 1)) return 0;
    return at + 1;
}

// The length of an IBAN of the country its first two letters name, in either case; 0 for none.
std::size_t iban_length_of(char first, char second) {
    const char country[2] = {upper(first), upper(second)};
    return validators::iban_length(std::string_view(country, 2));
}

// Whether `rest` (from a letter to the end of a buffer) is the beginning of an IBAN as iban_at reads
// it, with a lower-case letter in its country code and fewer letters and digits than its IBANs have.
bool could_be_iban(std::string_view rest) {
    std::size_t alnum = 0;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        const char c = rest[i];
        const bool fits = i < 2   ? is_letter(c)
                          : i < 4 ? is_digit(c)
                                  : is_alnum(c) || line_breaks::is_blank(c) || c == '\r' || c == '\n';
        if (!fits) return false;
        alnum += is_alnum(c) ? 1 : 0;
    }
    if (!has_lower(rest.substr(0, 2))) return false;
    const std::size_t length = rest.size() < 2 ? iban_longest : iban_length_of(rest[0], rest[1]);
    return alnum < length;
}

// The same for a NIE (nie_at) that begins with a lower-case x, y or z and lacks its check letter.
bool could_be_nie(std::string_view rest) {
    if (std::string_view("xyz").find(rest[0]) == std::string_view::npos) return false;
    std::size_t i = 1;
    if (i < rest.size() && rest[i] == '-') ++i;
    std::size_t digits = 0;
    for (; i < rest.size() && digits < 7 && is_digit(rest[i]); ++i) ++digits;
    if (i == rest.size()) return true;
    if (digits < 7 || rest[i] != '-') return false;
    return i + 1 == rest.size();
}

// The same for a National Insurance number (nino_at) with a lower-case letter before its digits, that
// lacks its last letter.
bool could_be_nino(std::string_view rest) {
    std::size_t i = 0;
    while (i < rest.size() && i < 2 && is_letter(rest[i])) ++i;
    if (!has_lower(rest.substr(0, i))) return false;
    if (i == rest.size()) return true;
    if (i < 2) return false;
    if (line_breaks::is_blank(rest[i])) ++i;
    for (std::size_t digits = 0; i < rest.size(); ++digits) {
        if (digits > 0 && digits % 2 == 0 && line_breaks::is_blank(rest[i])) {
            if (++i == rest.size()) return true;
            if (digits == 6) return false;  // a character after the blank before the last letter
        }
        if (digits == 6 || !is_digit(rest[i])) return false;
        ++i;
    }
    return true;
}

// The earliest place in buffer[from, end), at most `reach` before the end, where a word begins with a
// letter and `could_begin` says what follows to the end may be the start of a value; buffer.size()
// when there is none.
std::size_t earliest(std::string_view buffer, std::size_t from, std::size_t reach, bool (*could_begin)(std::string_view)) {
    const std::size_t end = buffer.size();
    std::size_t at = std::max(from, end - std::min(reach, end));
    // Each of these values goes on from at most two letters (and a blank, or a hyphen) with digits: where
    // the end holds no digit, only its last three characters can begin one. Most chunks of prose end so,
    // and one pass for a digit costs less than asking at every word.
    constexpr std::size_t digit_free_start = 3;
    if (std::none_of(buffer.begin() + static_cast<std::ptrdiff_t>(at), buffer.end(), is_digit))
        at = std::max(at, end - std::min(digit_free_start, end));
    for (; at < end; ++at)
        if (is_letter(buffer[at]) && starts_word(buffer, at) && could_begin(buffer.substr(at))) return at;
    return end;
}

}  // namespace

TextRange iban_at(std::string_view text, std::size_t run_begin, std::size_t run_end) {
    if (run_begin < 2 || run_end - run_begin < 2) return none;
    const std::size_t begin = run_begin - 2;
    if (!is_letter(text[begin]) || !is_letter(text[begin + 1]) || !has_lower(text.substr(begin, 2)) ||
        !starts_word(text, begin))
        return none;
    const std::size_t length = iban_length_of(text[begin], text[begin + 1]);
    if (length == 0) return none;
    std::size_t at = run_begin + 2;
    std::size_t count = 4;
    const bool grouped = at < text.size() && (line_breaks::is_blank(text[at]) || line_breaks::gap_at(text, at) != 0);
    std::size_t line_breaks_left = iban_line_breaks;
    while (count < length) {
        if (grouped) {
            if (at + 1 < text.size() && line_breaks::is_blank(text[at]) && is_alnum(text[at + 1])) {
                ++at;
            } else if (const std::size_t gap = line_breaks::gap_at(text, at); gap != 0 && line_breaks_left > 0) {
                at += gap;
                --line_breaks_left;
            } else {
                return none;
            }
        }
        // Groups of four, the last one shorter; unspaced, the rest at once.
        const std::size_t group = grouped ? std::min<std::size_t>(4, length - count) : length - count;
        for (std::size_t i = 0; i < group; ++i, ++at)
            if (at >= text.size() || !is_alnum(text[at])) return none;
        count += group;
    }
    return {begin, at};
}

TextRange dni_at(std::string_view text, std::size_t run_begin, std::size_t run_end) {
    if (run_end - run_begin != 8 || !starts_word(text, run_begin)) return none;
    const std::size_t end = check_letter_after(text, run_end);
    if (end == 0 || !is_lower(text[end - 1])) return none;
    return {run_begin, end};
}

TextRange nie_at(std::string_view text, std::size_t run_begin, std::size_t run_end) {
    if (run_end - run_begin != 7) return none;
    std::size_t begin = run_begin;
    if (begin > 0 && text[begin - 1] == '-') --begin;
    if (begin == 0 || std::string_view("XYZxyz").find(text[begin - 1]) == std::string_view::npos) return none;
    --begin;
    if (!starts_word(text, begin)) return none;
    const std::size_t end = check_letter_after(text, run_end);
    if (end == 0 || !(is_lower(text[begin]) || is_lower(text[end - 1]))) return none;
    return {begin, end};
}

TextRange nino_at(std::string_view text, std::size_t, std::size_t run_end) {
    // At its last digits (the run the letter beside it marks): a blank or not, and the last letter alone.
    std::size_t end = run_end;
    if (end < text.size() && line_breaks::is_blank(text[end])) ++end;
    if (end >= text.size() || !is_letter(text[end]) || !ends_word(text, end + 1)) return none;
    ++end;
    // Back over three pairs of digits, a blank between two of them or not, and the two letters before.
    std::size_t at = run_end;
    for (int pair = 0; pair < 3; ++pair) {
        if (pair > 0 && at > 0 && line_breaks::is_blank(text[at - 1])) --at;
        if (at < 2 || !is_digit(text[at - 1]) || !is_digit(text[at - 2])) return none;
        at -= 2;
    }
    if (at > 0 && line_breaks::is_blank(text[at - 1])) --at;
    if (at < 2 || !is_letter(text[at - 1]) || !is_letter(text[at - 2]) || !starts_word(text, at - 2)) return none;
    const std::size_t begin = at - 2;
    if (!has_lower(text.substr(begin, end - begin))) return none;
    return {begin, end};
}

TextRange codice_fiscale_at(std::string_view text, std::size_t run_begin, std::size_t) {
    constexpr std::size_t length = 16;
    constexpr std::size_t letters = 6;  // of surname and name, before the year
    if (run_begin < letters || run_begin - letters + length > text.size()) return none;
    const std::size_t begin = run_begin - letters;
    const std::string_view code = text.substr(begin, length);
    if (!starts_word(text, begin) || !ends_word(text, begin + length) ||
        !std::all_of(code.begin(), code.begin() + letters, is_letter) || !std::all_of(code.begin(), code.end(), is_alnum) ||
        !has_lower(code))
        return none;
    return {begin, begin + length};
}

std::size_t iban_straddle(std::string_view buffer, std::size_t from, std::size_t reach) {
    return earliest(buffer, from, reach, could_be_iban);
}

std::size_t nie_straddle(std::string_view buffer, std::size_t from, std::size_t reach) {
    return earliest(buffer, from, reach, could_be_nie);
}

std::size_t nino_straddle(std::string_view buffer, std::size_t from, std::size_t reach) {
    return earliest(buffer, from, reach, could_be_nino);
}

}  // namespace sovereign::policy::lower_case
