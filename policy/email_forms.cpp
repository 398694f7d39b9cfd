#include "policy/email_forms.hpp"

#include <algorithm>
#include <cstdint>

#include "policy/utf8.hpp"

namespace sovereign::policy::email_forms {

namespace {

// The longest form: " [ dot ] ".
constexpr std::size_t longest_form = 9;

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool ascii_name_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool ascii_domain_char(char c) { return is_alnum(c) || c == '.' || c == '-'; }

// Letters of the scripts written in and around Europe: Latin with its extensions, Greek, Cyrillic,
// Armenian, Hebrew and Arabic (U+00C0 to U+07FF, and Latin Extended Additional for the letters of
// Welsh and Vietnamese), without the few signs among them. Scripts beyond are not looked for: an
// address may hold them (RFC 6531), but a streamed answer would then hold back every run of Chinese or
// Japanese text (which has no spaces) for the address it might begin.
bool letter_beyond_ascii(std::uint32_t cp) {
    if (cp >= 0x1E00 && cp <= 0x1EFF) return true;
    if (cp < 0xC0 || cp >= 0x800 || cp == 0xD7 || cp == 0xF7) return false;  // × and ÷ sit among the letters
    return cp != 0x37E && cp != 0x387 && !(cp >= 0x55A && cp <= 0x55F) && cp != 0x589 && cp != 0x5BE &&
           cp != 0x5C0 && cp != 0x5C3 && cp != 0x5C6 && cp != 0x5F3 && cp != 0x5F4 && cp != 0x60C && cp != 0x61B &&
           cp != 0x61F && !(cp >= 0x66A && cp <= 0x66D) && cp != 0x6D4;  // punctuation of those scripts
}

// The length of the letter beyond ASCII at text[pos]; 0 where none begins.
std::size_t letter_beyond_ascii_at(std::string_view text, std::size_t pos) {
    std::size_t length = 0;
    const std::uint32_t cp = utf8_code_point(text, pos, length);
    return length > 1 && letter_beyond_ascii(cp) ? length : 0;
}

// The start of the character that ends at text[end - 1], or end where no well-formed one does.
std::size_t character_start(std::string_view text, std::size_t end) {
    for (std::size_t length = 1; length <= 4 && length <= end; ++length)
        if (utf8_character_length(text, end - length) == length) return end - length;
    return end;
}

// The length of the character that ends at text[end - 1] when `at` accepts it there; 0 otherwise.
std::size_t ending(std::string_view text, std::size_t end, std::size_t (*at)(std::string_view, std::size_t)) {
    const std::size_t start = character_start(text, end);
    return start < end && at(text, start) == end - start ? end - start : 0;
}

std::size_t letter_or_digit_at(std::string_view text, std::size_t pos) {
    if (pos >= text.size()) return 0;
    return is_alnum(text[pos]) ? 1 : letter_beyond_ascii_at(text, pos);
}

// The length of the apostrophe (' or the typographic ’) at text[pos] that stands between two letters
// or digits; 0 where none does.
std::size_t inner_apostrophe_at(std::string_view text, std::size_t pos) {
    std::size_t length = 0;
    if (pos < text.size() && text[pos] == '\'') length = 1;
    else if (text.substr(pos, 3) == "\xE2\x80\x99") length = 3;
    if (length == 0 || ending(text, pos, letter_or_digit_at) == 0 || letter_or_digit_at(text, pos + length) == 0)
        return 0;
    return length;
}

char closing(char open) {
    switch (open) {
        case '[': return ']';
        case '(': return ')';
        case '{': return '}';
        case '<': return '>';
        default: return 0;
    }
}

// Every form begins with a space, '@' or an opening bracket, and ends with a space, '@' or a closing one:
// most positions are ruled out by their character alone.
bool may_begin_form(char c) { return c == ' ' || c == '@' || closing(c) != 0; }
bool may_end_form(char c) { return c == ' ' || c == '@' || c == ']' || c == ')' || c == '}' || c == '>'; }

// Reads text from pos, remembering whether the text ended before the form could be decided.
struct Reader {
    std::string_view text;
    std::size_t at;
    bool ran_out = false;

    bool peek(char c) {
        if (at >= text.size()) return ran_out = true, false;
        return text[at] == c;
    }
    bool take(char c) { return peek(c) ? (++at, true) : false; }
    void skip_space() { take(' '); }
    // The word, in any case; `at` is left where it was when the text differs.
    bool take_word(std::string_view word) {
        for (std::size_t i = 0; i < word.size(); ++i) {
            if (at + i >= text.size()) return ran_out = true, false;
            char c = text[at + i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c != word[i]) return false;
        }
        at += word.size();
        return true;
    }
};

// One grammar for both: [" "] open [" "] (word | symbol) [" "] close [" "], or " " word " ",
// or (for '@' only) the symbol itself.
Form read_form(Reader& r, std::string_view word, char symbol, bool bare_symbol) {
    const std::size_t start = r.at;
    if (start >= r.text.size()) return r.ran_out = true, Form{};
    if (!may_begin_form(r.text[start])) return {};
    if (bare_symbol && r.take(symbol)) return {1, false};
    const bool lead = r.take(' ');
    const std::size_t open_at = r.at;
    if (r.at < r.text.size() && closing(r.text[r.at]) != 0) {
        const char close = closing(r.text[r.at++]);
        r.skip_space();
        if (r.take(symbol) || r.take_word(word)) {
            r.skip_space();
            if (r.take(close)) {
                r.skip_space();
                return {r.at - start, false};
            }
        }
        r.at = open_at;
    } else if (r.at >= r.text.size()) {
        r.ran_out = true;
    }
    if (lead && r.take_word(word) && r.take(' ')) return {r.at - start, true};
    return {};
}

Form at_sign_form(std::string_view text, std::size_t pos, bool* ran_out = nullptr) {
    Reader r{text, pos};
    Form form = read_form(r, "at", '@', true);
    if (ran_out != nullptr) *ran_out = form.length == 0 && r.ran_out;
    return form;
}

Form dot_form(std::string_view text, std::size_t pos, bool* ran_out = nullptr) {
    Reader r{text, pos};
    Form form = read_form(r, "dot", '.', false);
    if (ran_out != nullptr) *ran_out = form.length == 0 && r.ran_out;
    return form;
}

template <class Read>
std::size_t longest_ending(std::string_view text, std::size_t end, Read read) {
    if (end == 0 || !may_end_form(text[end - 1])) return 0;
    for (std::size_t start = end > longest_form ? end - longest_form : 0; start < end; ++start)
        if (may_begin_form(text[start]) && read(text.substr(0, end), start).length == end - start) return end - start;
    return 0;
}

}  // namespace

std::size_t name_char_at(std::string_view text, std::size_t pos) {
    if (pos >= text.size()) return 0;
    if (ascii_name_char(text[pos])) return 1;
    if (const std::size_t letter = letter_beyond_ascii_at(text, pos); letter != 0) return letter;
    return inner_apostrophe_at(text, pos);
}

std::size_t name_char_before(std::string_view text, std::size_t end) { return ending(text, end, name_char_at); }

std::size_t domain_char_at(std::string_view text, std::size_t pos) {
    if (pos >= text.size()) return 0;
    return ascii_domain_char(text[pos]) ? 1 : letter_beyond_ascii_at(text, pos);
}

std::size_t domain_char_before(std::string_view text, std::size_t end) { return ending(text, end, domain_char_at); }

Form at_sign_at(std::string_view text, std::size_t pos) { return at_sign_form(text, pos); }
Form dot_at(std::string_view text, std::size_t pos) { return dot_form(text, pos); }

std::size_t at_sign_ending(std::string_view text, std::size_t end) {
    return longest_ending(text, end, [](std::string_view t, std::size_t p) { return at_sign_form(t, p); });
}

std::size_t dot_ending(std::string_view text, std::size_t end) {
    return longest_ending(text, end, [](std::string_view t, std::size_t p) { return dot_form(t, p); });
}

std::size_t name_start(std::string_view text, std::size_t pos, std::size_t floor) {
    while (pos > floor) {
        if (const std::size_t length = name_char_before(text, pos); length != 0 && pos - length >= floor) {
            pos -= length;
            continue;
        }
        const std::size_t dot = dot_ending(text, pos);
        if (dot != 0 && pos - dot > floor && name_char_before(text, pos - dot) != 0) {
            pos -= dot;
            continue;
        }
        break;
    }
    return pos;
}

std::string spelled_address(std::string_view text) {
    std::string address;
    address.reserve(text.size());
    bool seen_at = false;
    bool word_at = false;
    bool written_dot = false;
    for (std::size_t i = 0; i < text.size();) {
        if (!seen_at && !address.empty()) {
            if (const Form at = at_sign_form(text, i); at.length != 0) {
                address.push_back('@');
                seen_at = true;
                word_at = at.word;
                i += at.length;
                continue;
            }
        }
        if (const Form dot = dot_form(text, i); dot.length != 0) {
            address.push_back('.');
            written_dot = written_dot || seen_at;
            i += dot.length;
            continue;
        }
        const std::size_t length = name_char_at(text, i);
        if (length == 0) return {};
        address.append(text.substr(i, length));
        i += length;
    }
    if (!seen_at || (word_at && !written_dot)) return {};
    return address;
}

std::size_t straddle_start(std::string_view buffer, std::size_t from, std::size_t reach) {
    const std::size_t end = buffer.size();
    const std::size_t floor = end - std::min(reach, end - from);
    std::size_t hold = end;
    // Where a form (whole or cut off) may begin: the name before it, written dots included, may be part
    // of an address; and where a form of '@' stands before that name, the local part before the form.
    auto consider = [&](std::size_t cut) {
        cut = std::max(cut, floor);
        const std::size_t name = name_start(buffer, cut, floor);
        const std::size_t at = at_sign_ending(buffer, name);
        if (at != 0 && name - at > floor) {
            const std::size_t local = name_start(buffer, name - at, floor);
            if (local < name - at) hold = std::min(hold, local);
        }
        if (name < cut) hold = std::min(hold, name);  // a form with no name before it begins no address
    };
    consider(end);  // the last name itself
    if (const std::size_t form = std::max(at_sign_ending(buffer, end), dot_ending(buffer, end)); form != 0)
        consider(end - form);
    // Forms the chunk cut off (" [a", " do", "("). A space that may begin one may as well end a whole form
    // before it ("4111 dot d": "d" may begin the next name after " dot "), so both are considered.
    for (std::size_t start = std::max(floor, end > longest_form ? end - longest_form : 0); start < end; ++start) {
        if (!may_begin_form(buffer[start])) continue;
        bool ran_out = false;
        at_sign_form(buffer, start, &ran_out);
        if (!ran_out) dot_form(buffer, start, &ran_out);
        if (!ran_out) continue;
        consider(start);
        if (buffer[start] == ' ') consider(start + 1);
    }
    return hold;
}

}  // namespace sovereign::policy::email_forms
