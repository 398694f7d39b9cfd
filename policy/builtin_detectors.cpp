#include "policy/builtin_detectors.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "policy/byte_runs.hpp"
#include "policy/email_forms.hpp"
#include "policy/line_breaks.hpp"
#include "policy/lower_case_values.hpp"
#include "policy/putty_keys.hpp"
#include "policy/validators.hpp"
#include "policy/written_dates.hpp"

namespace sovereign::policy {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool digits_and_separators(char c) { return is_digit(c) || c == ' ' || c == '-' || c == '.' || c == '/'; }
// Tabs and line breaks too: values written in groups may have them between groups (line_breaks.hpp).
bool gap_chars(char c) { return c == '\t' || c == '\n' || c == '\r'; }
bool grouped_digits(char c) { return digits_and_separators(c) || gap_chars(c); }
bool card_chars(char c) { return grouped_digits(c) || c == '_' || c == ','; }
// A comma too: whether ",00" follows decides that a number is an amount (expand_e164), so a streamed
// answer holds it back with the number.
bool phone_chars(char c) { return grouped_digits(c) || c == '+' || c == '(' || c == ')' || c == ','; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool upper_digit(char c) { return is_upper(c) || is_digit(c); }
bool upper_digit_gap(char c) { return upper_digit(c) || c == ' ' || gap_chars(c); }
bool upper_digit_dash(char c) { return upper_digit(c) || c == '-'; }
// A Spanish DNI as cards print it: "12.345.678-Z", "12345678 Z".
bool dni_chars(char c) { return upper_digit_dash(c) || c == '.' || c == ' '; }
// The lead bytes of the letters beyond ASCII an address may hold (email_forms::name_char_at: U+00C0
// to U+07FF, U+1E00 to U+1EFF).
bool email_letter_lead(unsigned char c) { return (c >= 0xC3 && c <= 0xDF) || c == 0xE1; }
// Bytes of those letters too, and of the typographic apostrophe (E2 80 99).
bool email_chars(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '@' || c == '\'' ||
           (byte >= 0x80 && byte <= 0xBF) || email_letter_lead(byte) || byte == 0xE2;
}
bool ipv6_chars(char c) { return is_hex(c) || c == ':'; }
// Dots too: an address may end in an IPv4 address ("::ffff:10.20.30.40"), which a streamed answer
// holds back with the rest.
bool ipv6_value_chars(char c) { return ipv6_chars(c) || c == '.'; }
bool token_chars(char c) {
    return is_alnum(c) || c == '_' || c == '-' || c == '.' || c == '+' || c == '/' || c == '=';
}
bool pem_chars(char c) {
    return token_chars(c) || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ':' || c == ',';
}

bool base64url_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }
bool secret_char(char c) { return is_alnum(c) || c == '+' || c == '/' || c == '_' || c == '-'; }

// What an address may begin with: a character of a local part, or the lead byte of a letter beyond
// ASCII, so that a streamed answer holds back a letter a chunk ends inside; released, it would leave
// the address found after it beginning in text already sent.
std::string_view email_first_chars() {
    static const std::string chars = [] {
        std::string out = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-";
        for (unsigned lead = 0x80; lead < 256; ++lead)
            if (email_letter_lead(static_cast<unsigned char>(lead))) out.push_back(static_cast<char>(lead));
        return out;
    }();
    return chars;
}

constexpr std::size_t email_local_max = 64;
constexpr std::size_t email_domain_max = 253;
// With forms of '@' and '.' written out: the parts count their written dots, the '@' form up to 9 bytes.
constexpr std::size_t email_written_max = email_local_max + 9 + email_domain_max;
constexpr std::size_t pem_body_max = 8192;
constexpr std::size_t jwt_max = 6144;
constexpr std::size_t slack_max = 256;
constexpr std::size_t secret_max = 256;
constexpr std::size_t service_key_max = 256;
// Line breaks a value written in groups may have between them (policy/line_breaks.hpp): an IBAN one
// for each group of four, a telephone number and a card one for each group they are printed in.
constexpr std::size_t iban_line_breaks = 8;
constexpr std::size_t phone_line_breaks = 4;
constexpr std::size_t card_line_breaks = 4;
// What a line break adds to a value's length where a one-character separator could stand.
constexpr std::size_t line_break_extra = line_breaks::max_gap - 1;
// 34 letters and digits, a space before each after the first four, some of them line breaks.
constexpr std::size_t iban_max = 4 + 30 * 2 + iban_line_breaks * line_break_extra;
// '+', then 15 digits, a separator before each after the first (some of them line breaks), two
// parentheses; then what decides that it is an amount (a comma, two digits and the character after them).
constexpr std::size_t e164_max = 1 + 15 + 14 + phone_line_breaks * line_break_extra + 2 + 4;
// 19 digits, a separator before each after the first (some of them line breaks); then what decides
// whether the grouping goes on (continues_grouping): a separator of up to three characters or a line
// break, and a group of up to six digits with the character after it, which a streamed answer holds
// back with the value.
constexpr std::size_t card_max = 19 + 18 + card_line_breaks * line_break_extra + line_breaks::max_gap + 7;
// Eight groups of four hexadecimal digits and the seven colons between them, or six and an IPv4
// address in place of the last two ("0:0:0:0:0:ffff:255.255.255.255").
constexpr std::size_t ipv6_max = 6 * 4 + 6 + 4 * 3 + 3;
// Four groups of three digits and the three dots between them.
constexpr std::size_t ipv4_max = 4 * 3 + 3;

std::size_t extend_right(std::string_view text, std::size_t from, std::size_t limit, bool (*allowed)(char)) {
    std::size_t end = from;
    while (end < text.size() && end < limit && allowed(text[end])) ++end;
    return end;
}

// Anchor: a character of the local part and the form of '@' after it ("a@b", "a [at] b"), or a dot written
// out ("[dot]", " DOT "), the form of '@' then being before the domain's first label. The local part runs
// left from the form of '@', the domain right; both may write their dots out (policy/email_forms.hpp).
TextRange expand_email(std::string_view text, std::size_t begin, std::size_t) {
    std::size_t at = begin + 1;
    std::size_t at_length = email_forms::at_sign_at(text, at).length;
    if (at_length == 0) {
        if (email_forms::dot_at(text, begin).length == 0) return {};
        std::size_t label = begin > 0 && text[begin - 1] == ' ' ? begin - 1 : begin;  // " [dot]"
        const std::size_t label_end = label;
        while (label_end - label < email_domain_max) {
            const std::size_t length = email_forms::domain_char_before(text, label);
            if (length == 0) break;
            label -= length;
        }
        at_length = label < label_end ? email_forms::at_sign_ending(text, label) : 0;
        if (at_length == 0 || label - at_length == 0 || email_forms::name_char_before(text, label - at_length) == 0)
            return {};
        at = label - at_length;
    }
    const std::size_t left = email_forms::name_start(text, at, at > email_local_max ? at - email_local_max : 0);
    const std::size_t domain = at + at_length;
    std::size_t right = domain;
    while (right < text.size() && right - domain < email_domain_max) {
        if (const std::size_t length = email_forms::domain_char_at(text, right); length != 0) {
            right += length;
            continue;
        }
        const std::size_t dot = email_forms::dot_at(text, right).length;
        if (dot == 0 || right + dot >= text.size() || !is_alnum(text[right + dot])) break;
        right += dot;
    }
    while (right > domain && (text[right - 1] == '.' || text[right - 1] == '-')) --right;
    return {left, right};
}

// Anchor "-----BEGIN ... PRIVATE KEY-----": the block runs to the matching "-----END ...-----" line.
// A block cut before its END line (a paste cut short, a truncated file) still gives the key away: it
// runs over the body, to the end of its last base64 run that begins a line or is long enough to be
// part of a key written on one line (lines joined with spaces), so that words after the key on its
// last line are not taken for it. Whether that body is a key's, private_key_block decides.
TextRange expand_pem(std::string_view text, std::size_t begin, std::size_t end) {
    const auto window = text.substr(end, std::min(pem_body_max, text.size() - end));
    if (const auto end_marker = window.find("-----END "); end_marker != std::string_view::npos) {
        const auto close = window.find("-----", end_marker + 9);
        if (close == std::string_view::npos) return {};
        return {begin, end + close + 5};
    }
    constexpr std::size_t joined_line_min = 16;
    std::size_t block_end = 0;
    bool line_start = true;
    for (std::size_t at = 0; at < window.size() && pem_chars(window[at]);) {
        if (!validators::base64_char(window[at])) {
            line_start = window[at] == '\n' || (line_start && (window[at] == ' ' || window[at] == '\t' || window[at] == '\r'));
            ++at;
            continue;
        }
        const std::size_t run = at;
        while (at < window.size() && validators::base64_char(window[at])) ++at;
        if (line_start || at - run >= joined_line_min) block_end = at;
        line_start = false;
    }
    if (block_end == 0) return {};
    return {begin, end + block_end};
}

TextRange expand_jwt(std::string_view text, std::size_t begin, std::size_t) {
    auto end = extend_right(text, begin, begin + jwt_max, [](char c) { return base64url_char(c) || c == '.'; });
    while (end > begin && text[end - 1] == '.') --end;
    return {begin, end};
}

TextRange expand_slack(std::string_view text, std::size_t begin, std::size_t end) {
    return {begin, extend_right(text, end, begin + slack_max, [](char c) { return is_alnum(c) || c == '-'; })};
}

// A service key's anchor (its prefix and the first characters) extended over the rest of the key.
TextRange expand_service_key(std::string_view text, std::size_t begin, std::size_t end) {
    return {begin, extend_right(text, end, begin + service_key_max, base64url_char)};
}

// Anchor: a country code and check digits ("DE89") after a character that is not a letter or digit. The
// IBAN runs on for as many letters and digits as that country's IBANs have, each after at most one space
// or tab (groups of four, or any other spacing) or a line break; the value is the one with a valid check,
// or nothing, so that a candidate that fails leaves the next anchor inside it free to start one.
TextRange expand_iban(std::string_view text, std::size_t begin, std::size_t end) {
    const std::size_t length = validators::iban_length(text.substr(begin, 2));
    if (length == 0 || end != begin + 4) return {};
    std::size_t count = 4;
    std::size_t at = end;
    std::size_t line_breaks_left = iban_line_breaks;
    while (count < length) {
        if (at + 1 < text.size() && line_breaks::is_blank(text[at]) && upper_digit(text[at + 1])) {
            ++at;
        } else if (const std::size_t gap = line_breaks::gap_at(text, at);
                   gap != 0 && line_breaks_left > 0 && at + gap < text.size() && upper_digit(text[at + gap])) {
            at += gap;
            --line_breaks_left;
        }
        if (at >= text.size() || !upper_digit(text[at])) return {};
        ++at;
        ++count;
    }
    if (!validators::iban(text.substr(begin, at - begin))) return {};
    return {begin, at};
}

// How a number written in groups may be laid out over lines: how many line breaks it may have, and after
// groups of which lengths (bit n: a group of n digits).
struct LineBreaks {
    std::size_t most = 0;
    std::uint32_t after_groups = 0;
};

// The longest number from `begin`, whose first digit ends at `first_digit_end`: digits, each after at most
// one of " .-" or a tab (the same one throughout), or after a line break that `wrapping` allows,
// `min_digits` to `max_digits` of them, ending before a character that is not a digit, that `valid`
// confirms; empty when there is none. Completes anchors of numbers written in groups. A number that is
// complete where a line ends does not go on over the line break: the next line may begin another (a
// table of card numbers).
TextRange longest_number(std::string_view text, std::size_t begin, std::size_t first_digit_end, std::size_t min_digits,
                         std::size_t max_digits, LineBreaks wrapping, Validator valid) {
    std::size_t digits = 1;
    std::size_t at = first_digit_end;
    std::size_t group = 1;  // digits since the last separator or line break
    std::size_t line_breaks_read = 0;
    char separator = 0;
    TextRange longest;
    while (digits < max_digits) {
        std::size_t next = at;
        if (next + 1 < text.size() && (text[next] == ' ' || text[next] == '\t' || text[next] == '.' || text[next] == '-') &&
            is_digit(text[next + 1])) {
            // Another separator than the number's: a number written in groups uses one.
            if (separator != 0 && text[next] != separator) break;
            separator = text[next];
            ++next;
            group = 0;
        } else if (const std::size_t gap = line_breaks::gap_after_dash_at(text, next);
                   gap != 0 && next + gap < text.size() && is_digit(text[next + gap])) {
            if (longest.end == at || line_breaks_read == wrapping.most || group >= 32 ||
                (wrapping.after_groups >> group & 1) == 0)
                break;
            if (text[next] == '-') {
                if (separator != 0 && separator != '-') break;
                separator = '-';
            }
            ++line_breaks_read;
            next += gap;
            group = 0;
        }
        if (next >= text.size() || !is_digit(text[next])) break;
        at = next + 1;
        ++digits;
        ++group;
        if (digits >= min_digits && (at == text.size() || !is_digit(text[at])) && valid(text.substr(begin, at - begin)))
            longest = {begin, at};
    }
    return longest;
}

// Anchor: '+' and a first digit other than 0, after a character that is not a digit; the number has
// eight to fifteen digits (E.164), the longest that passes the check. Its digits may be apart by a
// space, tab, dot or dash, or by a line break (a number wrapped, or copied out of a table), and one
// group of one to four of them may stand in parentheses, as an area code ("+1 (212) 555-0187") or the
// trunk prefix dialled at home ("+49 (0)30 1234567"). A number followed by a decimal comma and two
// digits ("+12.345.678,00") is an amount, not a telephone number.
TextRange expand_e164(std::string_view text, std::size_t begin, std::size_t end) {
    if (end != begin + 2) return {};
    const auto separator = [](char c) { return c == ' ' || c == '\t' || c == '.' || c == '-'; };
    const auto group_start = [&](std::size_t at) { return at < text.size() && (is_digit(text[at]) || text[at] == '('); };
    std::size_t digits = 1;
    std::size_t at = end;
    std::size_t line_breaks_left = phone_line_breaks;
    bool grouped = false;  // the one parenthesised group has been read
    TextRange longest;
    while (digits < 15 && at < text.size()) {
        std::size_t next = at;
        if (separator(text[next]) && group_start(next + 1)) {
            ++next;
        } else if (const std::size_t gap = line_breaks::gap_after_dash_at(text, next);
                   gap != 0 && line_breaks_left > 0 && group_start(next + gap)) {
            next += gap;
            --line_breaks_left;
        }
        if (text[next] == '(' && !grouped) {
            std::size_t close = next + 1;
            while (close < text.size() && close - next <= 4 && is_digit(text[close])) ++close;
            if (close == next + 1 || close >= text.size() || text[close] != ')' ||
                digits + (close - next - 1) > 15)
                break;
            digits += close - next - 1;
            grouped = true;
            at = close + 1;
            continue;  // a number does not end at its parenthesis
        }
        if (!is_digit(text[next])) break;
        at = next + 1;
        ++digits;
        if (digits >= 8 && (at == text.size() || !is_digit(text[at])) && validators::phone(text.substr(begin, at - begin)))
            longest = {begin, at};
    }
    if (longest.end > longest.begin && longest.end + 2 < text.size() && text[longest.end] == ',' &&
        is_digit(text[longest.end + 1]) && is_digit(text[longest.end + 2]) &&
        (longest.end + 3 == text.size() || !is_digit(text[longest.end + 3])))
        return {};
    return longest;
}

// Anchor: a first digit 2 to 6 after a character that is not a digit; the card number has 13 to 19
// digits, the longest that passes the check (issuer, layout, Luhn). A line break may follow a group
// of four, or the six in the middle of an Amex or Diners number: after another group no card goes on.
TextRange expand_card(std::string_view text, std::size_t begin, std::size_t end) {
    if (end != begin + 1) return {};
    return longest_number(text, begin, end, 13, 19, {card_line_breaks, 1u << 4 | 1u << 6}, validators::credit_card);
}

// A dot between two digits (the pattern [0-9]\.[0-9]) at a run of digits [run_begin, run_end) of the
// pass over a text's digits: every such match begins with a run's last digit, so the runs give them
// all, in order, and the anchor costs no pass over the text of its own (one over its digit masks,
// and memchr at every dot before that, cost about 5% of a 1 MB document's scan).
TextRange ipv4_anchor_at_run(std::string_view text, std::size_t, std::size_t run_end) {
    if (run_end + 1 < text.size() && text[run_end] == '.' && is_digit(text[run_end + 1])) return {run_end - 1, run_end + 2};
    return {std::string_view::npos, std::string_view::npos};
}

// An Italian fiscal code: sixteen capitals and digits, standing alone among them, whose letters and
// digits fall where a code has them (digits in digit places may be replaced by letters, omocodia), the
// first at or after `from`; the validator checks the rest. Found without vectorscan, and not only near
// other digits (a digit-dense pattern is only run there): a code with two or more of its seven digits
// replaced holds too few. The run search rules out most of prose 64 bytes at a time.
TextRange find_codice_fiscale(std::string_view text, std::size_t from) {
    constexpr std::size_t length = 16;
    const auto digit_place = [](char c) { return is_digit(c) || std::string_view("LMNPQRSTUV").find(c) != std::string_view::npos; };
    for (std::size_t at = from; (at = find_capitals_and_digits(text, at, length)) != std::string_view::npos;) {
        std::size_t end = at + length;
        while (end < text.size() && upper_digit(text[end])) ++end;
        const std::string_view code = text.substr(at, length);
        if (end - at == length && (at == 0 || !upper_digit(text[at - 1])) &&
            std::all_of(code.begin(), code.begin() + 6, is_upper) && digit_place(code[6]) && digit_place(code[7]) &&
            is_upper(code[8]) && digit_place(code[9]) && digit_place(code[10]) && is_upper(code[11]) &&
            digit_place(code[12]) && digit_place(code[13]) && digit_place(code[14]) && is_upper(code[15]))
            return {at, end};
        at = end;
    }
    return {std::string_view::npos, std::string_view::npos};
}

// A date with its month written as a word, at the run of four digits it ends with (its year).
TextRange written_date_at(std::string_view text, std::size_t run_begin, std::size_t run_end) {
    if (run_end - run_begin != 4) return {std::string_view::npos, std::string_view::npos};
    return written_dates::find_at_year(text, run_begin);
}

// Anchor: a dot between two digits. The address is the whole dotted number around it, digits with
// single dots between them (the boundary allows neither a digit nor a dot and a digit next to an
// address); the validator checks its four groups. A dotted number longer than any address is refused
// after ipv4_max + 1 characters either way, so each anchor inside a long one costs a bounded look.
TextRange expand_ipv4(std::string_view text, std::size_t begin, std::size_t end) {
    const auto continues = [&](std::size_t at, std::size_t digit) {  // text[at] extends the number
        return is_digit(text[at]) || (text[at] == '.' && is_digit(text[digit]));
    };
    std::size_t left = begin;
    while (left > 0 && begin - left <= ipv4_max && continues(left - 1, left > 1 ? left - 2 : left - 1)) --left;
    std::size_t right = end;
    while (right < text.size() && right - left <= ipv4_max &&
           continues(right, right + 1 < text.size() ? right + 1 : right))
        ++right;
    if (right - left > ipv4_max) return {};
    // Written as the last 32 bits of an IPv6 address ("::ffff:10.20.30.40"): the IPv4 address is that
    // whole address, found by both detectors alike, so that either one's redaction removes all of it.
    if (left > 0 && text[left - 1] == ':') {
        std::size_t mapped = left - 1;
        while (mapped > 0 && left - mapped <= ipv6_max && ipv6_chars(text[mapped - 1])) --mapped;
        if (right - mapped <= ipv6_max && validators::ipv6(text.substr(mapped, right - mapped))) return {mapped, right};
    }
    return {left, right};
}

// Two colons with at most four hexadecimal digits between them (the pattern :[0-9A-Fa-f]{0,4}:) that
// begin at the colon text[at], or begin == npos.
TextRange ipv6_anchor_at_colon(std::string_view text, std::size_t first) {
    std::size_t next = first + 1;
    while (next < text.size() && next - first <= 4 && is_hex(text[next])) ++next;
    if (next < text.size() && text[next] == ':') return {first, next + 1};
    return {std::string_view::npos, std::string_view::npos};
}

// The same, the first at or after `from`; memchr finds the colons (a whole text's scan takes them from
// its one pass over the marks instead: BuiltinPattern::at_colon).
TextRange find_ipv6_anchor(std::string_view text, std::size_t from) {
    while (from < text.size()) {
        const void* colon = std::memchr(text.data() + from, ':', text.size() - from);
        if (colon == nullptr) break;
        const std::size_t first = static_cast<std::size_t>(static_cast<const char*>(colon) - text.data());
        if (const TextRange anchor = ipv6_anchor_at_colon(text, first); anchor.begin == first) return anchor;
        from = first + 1;
    }
    return {std::string_view::npos, std::string_view::npos};
}

// Anchor: two colons with at most four hexadecimal digits between them. The address is the whole run
// of hexadecimal digits and colons around it (its boundary allows neither next to it), and where its
// last group is decimal digits followed by a dot and a digit, the dotted rest: an IPv4 address written
// in its last 32 bits ("::ffff:10.20.30.40", "64:ff9b::10.20.30.40"), which is one address, not
// "::ffff:10" and ".20.30.40" left beside it. The validator checks its groups. A run longer than any
// address is refused after ipv6_max + 1 characters either way, so each anchor inside a long run costs
// a bounded look.
TextRange expand_ipv6(std::string_view text, std::size_t begin, std::size_t end) {
    std::size_t left = begin;
    while (left > 0 && begin - left <= ipv6_max && ipv6_chars(text[left - 1])) --left;
    const std::size_t limit = left + ipv6_max + 1;
    std::size_t right = extend_right(text, end, limit, ipv6_chars);
    std::size_t last_group = right;
    while (last_group > left && text[last_group - 1] != ':') --last_group;
    const bool decimal_group = last_group < right && std::all_of(text.begin() + static_cast<std::ptrdiff_t>(last_group),
                                                                 text.begin() + static_cast<std::ptrdiff_t>(right), is_digit);
    if (decimal_group)
        while (right + 1 < text.size() && right < limit && text[right] == '.' && is_digit(text[right + 1]))
            right = extend_right(text, right + 1, limit, is_digit);
    if (right - left > ipv6_max) return {};
    return {left, right};
}

// The whole run of key characters around a 32-character window. A run longer than any key is returned
// whole so that the validator rejects it once, rather than once per position inside it.
TextRange expand_secret(std::string_view text, std::size_t begin, std::size_t end) {
    std::size_t left = begin;
    while (left > 0 && secret_char(text[left - 1])) --left;
    return {left, extend_right(text, end, text.size(), secret_char)};
}

// The length of the line break (policy/line_breaks.hpp) that ends at `end`, a dash before it included;
// 0 when there is none.
std::size_t line_break_before(std::string_view text, std::size_t end) {
    std::size_t at = end;
    while (at > 0 && end - at < line_breaks::max_blanks && line_breaks::is_blank(text[at - 1])) --at;
    if (at == 0 || text[at - 1] != '\n') return 0;
    --at;
    if (at > 0 && text[at - 1] == '\r') --at;
    const std::size_t line_end = at;
    while (at > 0 && line_end - at < line_breaks::max_blanks && line_breaks::is_blank(text[at - 1])) --at;
    if (at > 0 && text[at - 1] == '-') --at;
    return end - at;
}

// Grouped numbers ("ES91 4631 5558 0100 3569 3845") are one value: a card is not a run of groups
// inside a longer run. Next to a dash or a dot and a digit a value always continues (dotted and dashed
// numbers are versions, builds and references). Written in groups apart by spaces or tabs, it continues
// when its separator and a group as long as its last follow it ("4111 1111 1111 1111 2222"), or its
// separator and a token as long as its first group, ending in a digit, come before it ("ES91 4631
// ..."); an expiry date or a security code after a card ("4111 1111 1111 1111 12/26", "... 1111 123")
// is another token, as is any number beside a value written without spaces. A value that has a line
// break between its groups continues in the same way over a line break (a column of groups, one a
// line, longer than a card); one on a single line does not (a table of cards, one a line).
bool continues_grouping(std::string_view text, std::size_t begin, std::size_t end) {
    const auto joins = [](char c) { return c == '-' || c == '.'; };
    if (end + 1 < text.size() && joins(text[end]) && is_digit(text[end + 1])) return true;
    if (begin > 1 && joins(text[begin - 1]) && is_digit(text[begin - 2])) return true;
    const std::string_view value = text.substr(begin, end - begin);
    std::size_t first_group = 0;
    while (first_group < value.size() && is_digit(value[first_group])) ++first_group;
    if (first_group == value.size()) return false;
    // The separator is the first gap between groups that is not a line break.
    std::string_view separator;
    bool over_lines = false;
    for (std::size_t gap = first_group; gap < value.size();) {
        std::size_t gap_end = gap;
        while (gap_end < value.size() && !is_digit(value[gap_end])) ++gap_end;
        const std::string_view between = value.substr(gap, gap_end - gap);
        if (between.find('\n') != std::string_view::npos) over_lines = true;
        else if (separator.empty()) separator = between;
        gap = gap_end;
        while (gap < value.size() && is_digit(value[gap])) ++gap;
    }
    std::size_t last_group = 0;
    while (last_group < value.size() && is_digit(value[value.size() - 1 - last_group])) ++last_group;
    // Another separator ("_", " - ", "/"): a digit after the same separator continues the value. Spaces
    // and tabs: a group as long as its last after it, or a token as long as its first before it.
    const bool blank_separated = separator.find_first_not_of(" \t") == std::string_view::npos;
    const auto goes_on_at = [&](std::size_t next) {  // the run of groups would go on at text[next]
        if (!blank_separated) return next < text.size() && is_digit(text[next]);
        std::size_t group_end = next;
        while (group_end < text.size() && is_digit(text[group_end])) ++group_end;
        return group_end - next == last_group;
    };
    const auto ends_at = [&](std::size_t previous_end) {  // a run of groups would end at text[previous_end]
        if (previous_end == 0) return false;
        if (!blank_separated) return is_digit(text[previous_end - 1]);
        std::size_t token = previous_end;
        while (token > 0 && previous_end - token <= first_group && is_alnum(text[token - 1])) --token;
        return previous_end - token == first_group && is_digit(text[previous_end - 1]);
    };
    if (!separator.empty() && text.substr(end, separator.size()) == separator && goes_on_at(end + separator.size()))
        return true;
    if (!separator.empty() && begin >= separator.size() &&
        text.substr(begin - separator.size(), separator.size()) == separator && ends_at(begin - separator.size()))
        return true;
    if (!over_lines) return false;
    const std::size_t after = line_breaks::gap_after_dash_at(text, end);
    const std::size_t before = line_break_before(text, begin);
    return (after != 0 && goes_on_at(end + after)) || (before != 0 && ends_at(begin - before));
}

// Whether the word right before `begin` names a version ("version 1.2.3.4", "Release: 10.0.0.1",
// "ver. 2.4.0.12", "Versión 1.2.0.3"): apart from it by at most three spaces, tabs, ':', '=', '#' or '-',
// after the dot of an abbreviation or not. A dotted quad there numbers a release, not a host.
bool after_version_word(std::string_view text, std::size_t begin) {
    static constexpr std::array<std::string_view, 16> words{
        "version", "versions", "ver", "vers", "v", "release", "rel", "build", "firmware", "fw", "kernel", "patch",
        "revision", "versione", "versie", "versi\xC3\xB3n"};
    constexpr std::size_t longest = 9;
    std::size_t at = begin;
    while (at > 0 && begin - at < 3 && std::string_view(" \t:=#-").find(text[at - 1]) != std::string_view::npos) --at;
    if (at > 0 && text[at - 1] == '.') --at;
    const std::size_t word_end = at;
    // Letters, and the bytes of one beyond ASCII ("ó").
    while (at > 0 && word_end - at <= longest &&
           (is_alpha(text[at - 1]) || static_cast<unsigned char>(text[at - 1]) >= 0x80))
        --at;
    if (at == word_end || word_end - at > longest) return false;
    std::array<char, longest> lower{};
    for (std::size_t i = at; i < word_end; ++i)
        lower[i - at] = is_alpha(text[i]) ? static_cast<char>(text[i] | 0x20) : text[i];
    const std::string_view word(lower.data(), word_end - at);
    return std::find(words.begin(), words.end(), word) != words.end();
}

}  // namespace

bool stands_alone(Boundary boundary, std::string_view text, std::size_t begin, std::size_t end) {
    const bool has_before = begin > 0;
    const bool has_after = end < text.size();
    const char before = has_before ? text[begin - 1] : ' ';
    const char after = has_after ? text[end] : ' ';
    const char after_next = end + 1 < text.size() ? text[end + 1] : ' ';
    const char before_previous = begin > 1 ? text[begin - 2] : ' ';
    switch (boundary) {
        case Boundary::none:
            return true;
        case Boundary::digit:
            return !is_digit(before) && !is_digit(after);
        case Boundary::digit_group:
            return !is_digit(before) && !is_digit(after) && !continues_grouping(text, begin, end);
        case Boundary::alnum:
            return !is_alnum(before) && !is_alnum(after);
        case Boundary::ipv4:
            // "1.2.3.4.5", "v1.2.3.4" and "version 1.2.3.4" are version numbers, not addresses.
            return !is_digit(before) && !is_digit(after) && !(after == '.' && is_digit(after_next)) &&
                   !(before == '.' && is_digit(before_previous)) && !is_alpha(before) &&
                   !after_version_word(text, begin);
        case Boundary::ipv6:
            return !ipv6_chars(before) && !ipv6_chars(after) && !is_alnum(before) && !is_alnum(after);
        case Boundary::email:
            return email_forms::name_char_before(text, begin) == 0 && !is_alnum(after) && after != '-' && after != '_';
        case Boundary::token:
            return !base64url_char(before) && !base64url_char(after);
    }
    return false;
}

// Between the groups of a value, in its patterns: a space or tab, or a line break (LINE_BREAK); with
// DASH, also a dash, or a line break after one (a dashed value wrapped after its dash); with
// SEPARATOR, also a dot.
#define LINE_BREAK SOVEREIGN_LINE_BREAK_REGEX
#define BLANK_OR_LINE_BREAK "(?:[ \\t]|" LINE_BREAK ")"
#define BLANK_DASH_OR_LINE_BREAK "(?:[ \\t-]|-?" LINE_BREAK ")"
#define SEPARATOR_OR_LINE_BREAK "(?:[ \\t.-]|-?" LINE_BREAK ")"

const std::vector<BuiltinDetector>& builtin_detectors() {
    namespace v = validators;
    static const std::vector<BuiltinDetector> detectors{
        {"credit_card", "restricted", "payment card numbers (13-19 digits, Luhn check)",
         // The anchor only, completed by expand_card: with the whole form, [2-6](?:[ .-]?[0-9]){12,18},
         // the digit-dense database cost about 90 ns more per window.
         {{R"([2-6])", false, true, false, nullptr, expand_card},
          // Written to slip past filters: every digit apart (by one character: with up to three, text
          // built of spaced digits scanned at a third of the speed), or groups apart by " - ", "_",
          // "  "...; only next to a context word.
          {R"([2-6](?:[ \t._/,-][0-9]){12,18})", true, true, false, v::credit_card_written_out},
          {R"([2-6][0-9]{3}(?:[ \t._/,-]{1,3}[0-9]{4}){2,3}[ \t._/,-]{1,3}[0-9]{1,4})", true, true, false,
           v::credit_card_written_out}},
         v::credit_card, Boundary::digit_group,
         {"card", "credit", "visa", "mastercard", "amex", "karte", "kreditkarte", "kartennummer", "carte", "tarjeta",
          "carta", "kaart", "creditcard", "karta"},
         card_chars, "0123456789", "", nullptr, card_max},
        {"iban", "confidential", "international bank account numbers (per-country length, mod-97 check)",
         // The anchor only: with the whole form, [A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}, vectorscan's
         // start-of-match tracking through the optional spaces cost about 1.8 us per IBAN.
         {{R"([A-Z]{2}[0-9]{2})", false, true},
          // Written in lower case ("de89 3704 0044 0532 0130 00"): found at the run of its check digits.
          {R"([A-Za-z]{2}[0-9]{2}[0-9A-Za-z \t\r\n]{11,120})", false, false, false, nullptr, nullptr, nullptr,
           lower_case::iban_at, true}},
         v::iban, Boundary::alnum,
         {"iban", "account", "konto", "compte", "cuenta", "conto", "rekening", "rachunek"}, upper_digit_gap,
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "", expand_iban, iban_max, false, lower_case::iban_straddle},
        {"us_ssn", "restricted", "US social security numbers (area, group and serial rules)",
         {{"[0-9]{3}-(?:" LINE_BREAK ")?[0-9]{2}-(?:" LINE_BREAK ")?[0-9]{4}", false, true},
          // Next to a context word also with spaces, or as forms and databases store it, without
          // separators ("SSN: 536221234").
          {"[0-9]{3}" BLANK_OR_LINE_BREAK "?[0-9]{2}" BLANK_OR_LINE_BREAK "?[0-9]{4}", true, true}},
         v::us_ssn, Boundary::digit, {"ssn", "social security"}, grouped_digits, "0123456789", ""},
        {"uk_nhs", "restricted", "UK NHS numbers (mod-11 check, next to the word NHS)",
         {{"[0-9]{3}" BLANK_DASH_OR_LINE_BREAK "?[0-9]{3}" BLANK_DASH_OR_LINE_BREAK "?[0-9]{4}", true, true}}, v::uk_nhs,
         Boundary::digit, {"nhs"}, grouped_digits, "0123456789", ""},
        {"uk_nino", "restricted", "UK National Insurance numbers",
         {{"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]" BLANK_OR_LINE_BREAK "?[0-9]{2}" BLANK_OR_LINE_BREAK "?[0-9]{2}"
           BLANK_OR_LINE_BREAK "?[0-9]{2}" BLANK_OR_LINE_BREAK "?[A-D]", false, true},
          // Written in lower case ("ab123456c", "ab 12 34 56 c"): found at the run of its last digits.
          {R"([A-Za-z]{2}[ \t]?[0-9]{2}[ \t]?[0-9]{2}[ \t]?[0-9]{2}[ \t]?[A-Da-d])", false, false, false, nullptr, nullptr,
           nullptr, lower_case::nino_at, true}},
         v::uk_nino, Boundary::alnum, {"national insurance", "nino", "ni number"}, upper_digit_gap,
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "", nullptr, 0, false, lower_case::nino_straddle},
        {"email", "confidential", "e-mail addresses, also written as \"name [at] example [dot] com\" and the like",
         // Around the '@', a letter beyond ASCII is seen by one of its bytes: the last (a continuation
         // byte) before it, the first (a lead byte, email_letter_lead) after it ("jöran@bücher.de"). Before
         // the '@' the two kinds are alternatives of their own: vectorscan 5.4.9 (Debian 12's) does not
         // report some matches of a class that mixes ASCII characters with bytes above 0x7F before a
         // literal. `[A-Za-z0-9._%+\x80-\xBF-]@[A-Za-z0-9]` missed "e@e" of "jane@example.org" after
         // "JANE AT EXAMPLE DOT COM j(at)example(dot)org [at]  example, mail, ", compiled alone too,
         // and five '@' of random texts of address fragments; these forms missed none of 600,000.
         {{R"([A-Za-z0-9._%+-]@[A-Za-z0-9\xC3-\xDF\xE1]|[\x80-\xBF]@[A-Za-z0-9\xC3-\xDF\xE1])"},
          // '@' written in brackets, in any case: "jane [at] example.com", "jane(AT)example(dot)com", "jane[@]example.com".
          {R"([A-Za-z0-9._%+-] ?(?:\[(?:[Aa][Tt]|@)\]|\((?:[Aa][Tt]|@)\)|\{(?:[Aa][Tt]|@)\}|<(?:[Aa][Tt]|@)>) ?[A-Za-z0-9\xC3-\xDF\xE1])"},
          // Not after a letter beyond ASCII ("josé [at] example.com": found only where the domain writes
          // its dot out too, "josé [at] example [dot] com", from the anchor below): the forms alone as
          // literals, or with a continuation byte before them, made the scan of all text a quarter slower.
          // A dot written in brackets or as the capital word " DOT ": the expander looks for the form of '@'
          // before the domain's first label, which may then be the bare word ("jane at example [dot] com").
          // Only the forms themselves, as literals: with the characters around them in the expression, or
          // with the lower-case bare word " dot " (which begins many words of prose), the scan of all text
          // was a fifth slower. So "jane at example dot com", all bare and lower case, is not looked for.
          {R"( DOT |\[(?:[Dd][Oo][Tt]|\.)\]|\((?:[Dd][Oo][Tt]|\.)\)|\{(?:[Dd][Oo][Tt]|\.)\}|<(?:[Dd][Oo][Tt]|\.)>)"}},
         v::email, Boundary::email, {"email", "e-mail", "mail"},
         email_chars, email_first_chars(), "", expand_email,
         email_written_max, false, email_forms::straddle_start},
        {"phone", "confidential", "telephone numbers (E.164, and national forms next to a context word)",
         // The anchor only, completed by expand_e164: the whole form, \+[1-9](?:[ .-]?[0-9]){7,14}, cost
         // the digit-dense database about 80 ns more per window.
         {{R"(\+[1-9])", false, true, false, nullptr, expand_e164},
          {"\\(?[2-9][0-9]{2}\\)?" SEPARATOR_OR_LINE_BREAK "?[2-9][0-9]{2}" SEPARATOR_OR_LINE_BREAK "[0-9]{4}", true, true},
          {"0[1-9][0-9]{1,4}(?:[ \\t/-]|-?" LINE_BREAK ")?[0-9]{3,4}" BLANK_DASH_OR_LINE_BREAK "?[0-9]{2,5}", true, true},
          // France and others in pairs ("06 12 34 56 78", "01.23.45.67.89"); an area code in parentheses
          // ("(020) 7946 0958", "(030) 1234567").
          {"0[1-9](?:" SEPARATOR_OR_LINE_BREAK "?[0-9]{2}){4}", true, true},
          {"\\(0[1-9][0-9]{1,4}\\)" BLANK_OR_LINE_BREAK "?[0-9]{3,4}" BLANK_DASH_OR_LINE_BREAK "?[0-9]{3,4}", true, true},
          // Spain: nine digits from 6 or 7 (mobile) or 8 or 9 (fixed), in threes ("612 345 678"), as mobiles
          // are printed ("612 34 56 78") or after a two-digit area code ("91 123 45 67"). Italy's mobiles:
          // ten digits from 3 ("333 123 4567", "333 1234567"); its fixed numbers begin with 0 (above).
          {"[6-9][0-9]{2}" SEPARATOR_OR_LINE_BREAK "?[0-9]{3}" SEPARATOR_OR_LINE_BREAK "?[0-9]{3}", true, true},
          {"[6-9][0-9]{2}(?:" SEPARATOR_OR_LINE_BREAK "?[0-9]{2}){3}", true, true},
          {"[89][0-9]" SEPARATOR_OR_LINE_BREAK "?[0-9]{3}(?:" SEPARATOR_OR_LINE_BREAK "?[0-9]{2}){2}", true, true},
          {"3[0-9]{2}" SEPARATOR_OR_LINE_BREAK "?[0-9]{3}" SEPARATOR_OR_LINE_BREAK "?[0-9]{3,4}", true, true}},
         v::phone, Boundary::digit,
         // A word counts where it begins a word of the text: "mobil" is also "Mobilnummer" and "mobile".
         {"phone", "tel", "telephone", "mobil", "cell", "call", "fax", "telefon", "handy", "rufnummer", "téléphone",
          "tél", "portable", "teléfono", "móvil", "movil", "telefono", "cellulare", "telefoon", "mobiel",
          "komórka", "whatsapp",
          // Spanish and Italian abbreviations and verbs: "Tfno.", "Tlf.", "celular", "llámame", "chiamami".
          "tfno", "tlf", "celular", "llam", "llám", "chiam"},
         phone_chars, "0123456789+(", "", nullptr, e164_max},
        // The anchor only, found by ipv4_anchor_at_run and completed by expand_ipv4. Compiled alone, the
        // whole form, [0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}, was not reported by vectorscan 5.4.9
        // after some texts with scattered digits (one in thirteen of a random corpus; among the other
        // patterns, depending on which), so the detector silently missed addresses.
        {"ipv4", "internal", "IPv4 addresses",
         {{R"([0-9]\.[0-9])", false, false, false, nullptr, nullptr, nullptr, nullptr, false, ipv4_anchor_at_run}}, v::ipv4, Boundary::ipv4,
         {"ip", "address", "host", "server"}, digits_and_separators, "0123456789", "", expand_ipv4, ipv6_max},
        // The anchor only, found by find_ipv6_anchor (not vectorscan: BuiltinPattern::find) and completed
        // by expand_ipv6. The whole form, [0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}, matched at every clock
        // time, cost as much as all other full-text patterns on log lines, and missed the eight-colon
        // form "1:2:3:4:5:6:7::".
        {"ipv6", "internal", "IPv6 addresses",
         {{R"(:[0-9A-Fa-f]{0,4}:)", false, false, false, nullptr, nullptr, find_ipv6_anchor, nullptr, false, nullptr,
           ipv6_anchor_at_colon}}, v::ipv6, Boundary::ipv6,
         {"ip", "ipv6", "address", "host"}, ipv6_value_chars, "0123456789abcdefABCDEF:", "", expand_ipv6, ipv6_max},
        {"date_of_birth", "confidential", "dates next to words such as 'born' or 'date of birth'",
         {{R"([0-9]{1,2}[./-][0-9]{1,2}[./-](?:19|20)[0-9]{2})", true, true},
          {R"((?:19|20)[0-9]{2}(?:-[0-9]{1,2}-|/[0-9]{1,2}/|\.[0-9]{1,2}\.)[0-9]{1,2})", true, true},
          // The month written as a word ("12 March 1985", "March 12, 1985"), found from the year it
          // ends with (written_date_at); the pattern says what every such value holds.
          {R"((?:19|20)[0-9]{2})", true, false, false, written_dates::valid, nullptr, nullptr, written_date_at}},
         v::date, Boundary::digit,
         // With the abbreviations forms print: "geb." (German and Dutch), "Geburtstag", "Fecha nac.", "ur."
         // (Polish); a word counts where it begins a word of the text ("geburts" is also "Geburtsdatum").
         {"born", "date of birth", "dob", "d.o.b", "birthday", "birth date", "geboren", "geb.", "geburts", "né",
          "née", "date de naissance", "nacido", "nacida", "fecha de nac", "fecha nac", "nato", "nata",
          "nascita", "geboortedatum", "urodzony", "urodzona", "ur.", "data urodzenia"},
         digits_and_separators, "0123456789", "", nullptr, written_dates::max_length, false,
         written_dates::straddle_start},
        {"aws_access_key", "restricted", "AWS access key ids",
         {{R"((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16})"}}, v::aws_access_key, Boundary::alnum,
         {"aws", "access key"}, upper_digit, "A", ""},
        {"private_key", "restricted", "PEM, OpenPGP and PuTTY private keys",
         // OpenPGP armors its secret keys the same way, as "-----BEGIN PGP PRIVATE KEY BLOCK-----" (RFC 4880).
         {{R"(-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----)"},
          // PuTTY's .ppk files (policy/putty_keys.hpp), which streamed answers hold back by their header.
          {R"(PuTTY-User-Key-File-[1-3]: )", false, false, false, putty_keys::valid, putty_keys::expand}},
         v::private_key_block, Boundary::none, {}, pem_chars, "-", "-----BEGIN ", expand_pem, pem_body_max + 64, false,
         putty_keys::straddle},
        {"jwt", "restricted", "JSON Web Tokens",
         {{R"(eyJ[A-Za-z0-9_-]{8,64}\.eyJ)"}}, v::jwt, Boundary::token, {"token", "bearer", "jwt"}, token_chars, "e",
         "eyJ", expand_jwt, jwt_max},
        {"github_token", "restricted", "GitHub personal access and app tokens",
         {{R"((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})"}, {R"(github_pat_[A-Za-z0-9_]{82})"}}, v::github_token,
         Boundary::token, {"github", "token"}, token_chars, "g", ""},
        {"slack_token", "restricted", "Slack bot, user and app tokens",
         // Bot, user and legacy tokens; refresh tokens (xoxe-1-...) and the access tokens of apps with token
         // rotation (xoxe.xoxb-1-..., xoxe.xoxp-1-...); app-level tokens (xapp-1-A0123ABCD-1234567890123-...).
         {{R"(xox[abposr]-[0-9]{6,15}-[0-9A-Za-z]{4})"},
          {R"(xoxe(?:\.xox[bp])?-[0-9]-[0-9A-Za-z]{20})"},
          {R"(xapp-[0-9]-[0-9A-Z]{8,12}-[0-9]{6,15}-[0-9A-Za-z]{4})"}},
         v::slack_token, Boundary::token, {"slack", "token"}, token_chars, "x", "x", expand_slack, slack_max},
        {"api_key", "restricted",
         "API keys of well-known services (OpenAI, Anthropic, Google, Stripe, Hugging Face, GitLab), by their prefix",
         {{R"(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20})"},
          {R"(sk-ant-[a-z]{3,5}[0-9]{2}-[A-Za-z0-9_-]{20})"},
          {R"(sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})"},
          {R"(AIza[0-9A-Za-z_-]{35})"},
          {R"([rs]k_(?:live|test)_[0-9A-Za-z]{20})"},
          {R"(hf_[A-Za-z]{34})"},
          {R"(glpat-[0-9A-Za-z_-]{20})"}},
         v::service_api_key, Boundary::token,
         {"api key", "api_key", "apikey", "openai", "anthropic", "stripe", "hugging face", "gitlab", "token", "key"},
         base64url_char, "sArhg", "", expand_service_key, service_key_max},
        {"generic_secret", "restricted", "high-entropy keys and passwords next to words such as 'secret' or 'key'",
         // Runs of 20 and more: the scanner also decodes those that are base64 (policy/encoded_text.hpp);
         // the validator takes keys of 32 characters and more.
         {{R"([A-Za-z0-9+/_-]{20})", true, false, true}}, v::high_entropy_secret, Boundary::none,
         {"key", "secret", "token", "password", "passwd", "pwd", "apikey", "api_key", "bearer", "credential",
          "auth", "schlüssel", "passwort", "clé", "mot de passe", "clave", "contraseña", "chiave", "wachtwoord",
          "hasło"},
         token_chars, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-", "", expand_secret, secret_max,
         true},
        {"de_steuer_id", "restricted", "German tax identification numbers (Steuer-ID, ISO 7064 check)",
         {{"[1-9][0-9]" BLANK_OR_LINE_BREAK "?[0-9]{3}" BLANK_OR_LINE_BREAK "?[0-9]{3}" BLANK_OR_LINE_BREAK "?[0-9]{3}", true,
           true}},
         v::de_steuer_id, Boundary::digit,
         {"steuer", "steuerid", "steuer-id", "steueridentifikationsnummer", "identifikationsnummer", "idnr",
          "tin", "tax id", "tax identification"},
         grouped_digits, "0123456789", ""},
        {"fr_nir", "restricted", "French social security numbers (NIR / INSEE, mod-97 key)",
         {{"[12]" BLANK_OR_LINE_BREAK "?[0-9]{2}" BLANK_OR_LINE_BREAK "?(?:0[1-9]|1[0-2]|[2-9][0-9])" BLANK_OR_LINE_BREAK
           "?(?:[0-9]{2}|2[AB])" BLANK_OR_LINE_BREAK "?[0-9]{3}" BLANK_OR_LINE_BREAK "?[0-9]{3}" BLANK_OR_LINE_BREAK "?[0-9]{2}",
           false, true}},
         v::fr_nir, Boundary::alnum,
         {"sécurité sociale", "securite sociale", "nir", "insee", "carte vitale", "social security"},
         upper_digit_gap, "12", ""},
        {"es_dni", "restricted", "Spanish national identity numbers (DNI, check letter)",
         // Also as identity cards and forms print it, next to a context word: "12.345.678-Z", "12345678 Z".
         {{R"([0-9]{8}-?[A-Z])", false, true}, {R"([0-9]{2}\.[0-9]{3}\.[0-9]{3}[ -]?[A-Z]|[0-9]{8} [A-Z])", true, true},
          // With its check letter in lower case ("12345678z"): found at the run of its digits.
          {R"([0-9]{8}-?[a-z])", false, false, false, nullptr, nullptr, nullptr, lower_case::dni_at, true}},
         v::es_dni, Boundary::alnum, {"dni", "documento nacional", "nif"},
         dni_chars, "0123456789", ""},
        {"es_nie", "restricted", "Spanish foreigner identity numbers (NIE, check letter)",
         {{R"([XYZ]-?[0-9]{7}-?[A-Z])", false, true},
          // With a letter in lower case ("x1234567l"): found at the run of its digits.
          {R"([XYZxyz]-?[0-9]{7}-?[A-Za-z])", false, false, false, nullptr, nullptr, nullptr, lower_case::nie_at, true}},
         v::es_nie, Boundary::alnum, {"nie", "extranjero"}, upper_digit_dash, "XYZ", "", nullptr, 0, false,
         lower_case::nie_straddle},
        // Found by find_codice_fiscale; the pattern says what every such value is.
        {"it_codice_fiscale", "restricted", "Italian fiscal codes (codice fiscale, check character)",
         {{R"([A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])", false, false, false,
           nullptr, nullptr, find_codice_fiscale},
          // Written in lower case ("rssmra85t10a562s"): found at the run of digits its year begins.
          {R"([A-Za-z]{6}[0-9][0-9A-Za-z]{9})", false, false, false, nullptr, nullptr, nullptr, lower_case::codice_fiscale_at, true}},
         v::it_codice_fiscale, Boundary::alnum, {"codice fiscale", "cf", "fiscale"}, is_alnum,
         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", ""},
        {"nl_bsn", "restricted", "Dutch citizen service numbers (BSN, eleven test)",
         {{R"([0-9]{9})", true, true}, {R"([0-9]{4}\.[0-9]{2}\.[0-9]{3})", true, true}}, v::nl_bsn, Boundary::digit,
         {"bsn", "burgerservicenummer", "sofinummer", "citizen service number"}, digits_and_separators, "0123456789", ""},
        {"pl_pesel", "restricted", "Polish PESEL numbers (weighted check, encoded birth date)",
         {{R"([0-9]{11})", true, true}}, v::pl_pesel, Boundary::digit, {"pesel"}, digits_and_separators, "0123456789", ""},
        {"be_national_number", "restricted", "Belgian national register numbers (mod-97 check)",
         {{"[0-9]{2}\\.?[0-9]{2}\\.?[0-9]{2}" BLANK_DASH_OR_LINE_BREAK "?[0-9]{3}\\.?[0-9]{2}", true, true}},
         v::be_national_number, Boundary::digit,
         {"rijksregisternummer", "rijksregister", "numéro national", "numero national", "registre national",
          "national number", "national register", "insz", "niss"},
         grouped_digits, "0123456789", ""},
    };
    return detectors;
}

#undef LINE_BREAK
#undef BLANK_OR_LINE_BREAK
#undef BLANK_DASH_OR_LINE_BREAK
#undef SEPARATOR_OR_LINE_BREAK

}  // namespace sovereign::policy
