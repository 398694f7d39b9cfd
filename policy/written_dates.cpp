#include "policy/written_dates.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "policy/validators.hpp"

namespace sovereign::policy::written_dates {

namespace {

struct MonthName {
    std::string_view name;  // lower case, UTF-8
    int month;
};

constexpr std::array<MonthName, 87> month_names{{
    {"january", 1},
    {"jan", 1},
    {"januar", 1},
    {"j\xC3\xA4nner", 1},
    {"janvier", 1},
    {"enero", 1},
    {"gennaio", 1},
    {"januari", 1},
    {"stycznia", 1},
    {"february", 2},
    {"feb", 2},
    {"februar", 2},
    {"f\xC3\xA9vrier", 2},
    {"fevrier", 2},
    {"febrero", 2},
    {"febbraio", 2},
    {"februari", 2},
    {"lutego", 2},
    {"march", 3},
    {"mar", 3},
    {"m\xC3\xA4rz", 3},
    {"maerz", 3},
    {"mars", 3},
    {"marzo", 3},
    {"maart", 3},
    {"marca", 3},
    {"april", 4},
    {"apr", 4},
    {"avril", 4},
    {"abril", 4},
    {"aprile", 4},
    {"kwietnia", 4},
    {"may", 5},
    {"mai", 5},
    {"mayo", 5},
    {"maggio", 5},
    {"mei", 5},
    {"maja", 5},
    {"june", 6},
    {"jun", 6},
    {"juni", 6},
    {"juin", 6},
    {"junio", 6},
    {"giugno", 6},
    {"czerwca", 6},
    {"july", 7},
    {"jul", 7},
    {"juli", 7},
    {"juillet", 7},
    {"julio", 7},
    {"luglio", 7},
    {"lipca", 7},
    {"august", 8},
    {"aug", 8},
    {"ao\xC3\xBBt", 8},
    {"aout", 8},
    {"agosto", 8},
    {"augustus", 8},
    {"sierpnia", 8},
    {"september", 9},
    {"sep", 9},
    {"sept", 9},
    {"septembre", 9},
    {"septiembre", 9},
    {"setiembre", 9},
    {"settembre", 9},
    {"wrze\xC5\x9Bnia", 9},
    {"october", 10},
    {"oct", 10},
    {"oktober", 10},
    {"octobre", 10},
    {"octubre", 10},
    {"ottobre", 10},
    {"pa\xC5\xBA" "dziernika", 10},
    {"november", 11},
    {"nov", 11},
    {"novembre", 11},
    {"noviembre", 11},
    {"listopada", 11},
    {"december", 12},
    {"dec", 12},
    {"dezember", 12},
    {"d\xC3\xA9" "cembre", 12},
    {"decembre", 12},
    {"diciembre", 12},
    {"dicembre", 12},
    {"grudnia", 12},
}};

// The month names by their first letter (every one begins with an ASCII letter), so that a word is
// compared only with the names it could be.
const std::array<std::vector<const MonthName*>, 26>& names_by_initial() {
    static const auto index = [] {
        std::array<std::vector<const MonthName*>, 26> by_initial;
        for (const auto& m : month_names) by_initial[static_cast<std::size_t>(m.name[0] - 'a')].push_back(&m);
        return by_initial;
    }();
    return index;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// A letter of a word: ASCII letters and the bytes of other characters' UTF-8 forms.
bool word_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

// How text[at, ...) compares with a name, ASCII letters in any case.
enum class Fit { no, prefix, whole };  // prefix: the text ends inside the name
Fit fit(std::string_view text, std::size_t at, std::string_view name) {
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (at + i >= text.size()) return Fit::prefix;
        if (lower(text[at + i]) != name[i]) return Fit::no;
    }
    return Fit::whole;
}

// A date read from text[begin, ...): where it ends, or that the text ran out first (a date the
// next chunk of a stream could complete).
struct Reading {
    enum class Outcome { no, ran_out, date } outcome = Outcome::no;
    std::size_t end = 0;
    int day = 0;
    int month = 0;
    int year = 0;
};

class Reader {
public:
    Reader(std::string_view text, std::size_t at) : text_(text), at_(at) {}

    bool out() const { return at_ >= text_.size(); }
    std::size_t at() const { return at_; }
    bool ran_out() const { return ran_out_; }

    // One character, if it is there. Running out of text while looking counts as running out.
    bool optional(char c) {
        if (out()) {
            ran_out_ = true;
            return false;
        }
        if (text_[at_] != c) return false;
        ++at_;
        return true;
    }
    bool required(char c) { return optional(c); }
    // A short word ("de ", "of ", "st"...) in any case, if it is there whole.
    bool optional_word(std::string_view word) {
        const Fit f = fit(text_, at_, word);
        if (f == Fit::prefix) ran_out_ = true;
        if (f != Fit::whole) return false;
        at_ += word.size();
        return true;
    }
    // min to max digits, not followed by another digit; 0 if there are none or too many.
    int number(std::size_t min, std::size_t max, int& value) {
        std::size_t n = 0;
        value = 0;
        while (!out() && is_digit(text_[at_]) && n <= max) {
            value = value * 10 + (text_[at_] - '0');
            ++at_;
            ++n;
        }
        if (out() && n < max) ran_out_ = true;
        if (n < min || n > max) return 0;
        return static_cast<int>(n);
    }

private:
    std::string_view text_;
    std::size_t at_;
    bool ran_out_ = false;
};

// The day's ordinal suffix, if any: 1st, 2nd, 3rd, 4th, 1er.
void ordinal(Reader& r) {
    for (const std::string_view suffix : {"st", "nd", "rd", "th", "er"})
        if (r.optional_word(suffix)) return;
}

// A year from 1900 to 2099, four digits, preceded by " " or ", " (and Spanish "de ").
bool year(Reader& r, int& value) {
    r.optional(',');
    if (!r.required(' ')) return false;
    r.optional_word("de ");
    return r.number(4, 4, value) != 0 && value >= 1900 && value <= 2099;
}

// The month name at r's position, any of them: for each that fits, `rest` reads on after it.
template <typename Rest>
Reading month_then(std::string_view text, std::size_t at, Rest&& rest) {
    Reading best;
    if (at >= text.size()) {
        best.outcome = Reading::Outcome::ran_out;
        return best;
    }
    const char initial = lower(text[at]);
    if (initial < 'a' || initial > 'z') return best;
    for (const MonthName* month : names_by_initial()[static_cast<std::size_t>(initial - 'a')]) {
        const MonthName& m = *month;
        const Fit f = fit(text, at, m.name);
        if (f == Fit::prefix) best.outcome = Reading::Outcome::ran_out;
        if (f != Fit::whole) continue;
        const std::size_t after = at + m.name.size();
        if (after < text.size() && word_byte(text[after])) continue;  // part of a longer word
        Reading r = rest(after, m.month);
        if (r.outcome == Reading::Outcome::date) return r;
        if (r.outcome == Reading::Outcome::ran_out) best.outcome = Reading::Outcome::ran_out;
    }
    return best;
}

Reading date_read(std::size_t end, int day, int month, int year) {
    Reading reading;
    reading.outcome = Reading::Outcome::date;
    reading.end = end;
    reading.day = day;
    reading.month = month;
    reading.year = year;
    return reading;
}

Reading ran_out_or_no(const Reader& r) {
    Reading out;
    out.outcome = r.ran_out() ? Reading::Outcome::ran_out : Reading::Outcome::no;
    return out;
}

// "12 March 1985", "12. März 1985", "1er mars 1985", "12 de marzo de 1985", "12th of March, 1985".
Reading day_first(std::string_view text, std::size_t begin) {
    Reader r(text, begin);
    int day = 0;
    if (r.number(1, 2, day) == 0) return ran_out_or_no(r);
    ordinal(r);
    r.optional('.');
    if (!r.required(' ')) return ran_out_or_no(r);
    if (!r.optional_word("de ")) r.optional_word("of ");  // "12 de marzo", "12th of March"
    if (r.out()) {
        Reading more;
        more.outcome = Reading::Outcome::ran_out;
        return more;
    }
    Reading reading = month_then(text, r.at(), [&](std::size_t after, int month) {
        Reader rest(text, after);
        rest.optional('.');
        int y = 0;
        if (!year(rest, y)) return ran_out_or_no(rest);
        return date_read(rest.at(), day, month, y);
    });
    // "12th o" may yet be "12th of March": the reader ran out inside "de " or "of ".
    if (reading.outcome == Reading::Outcome::no && r.ran_out()) reading.outcome = Reading::Outcome::ran_out;
    return reading;
}

// "March 12, 1985", "Mar. 12 1985", "March 12th, 1985".
Reading month_first(std::string_view text, std::size_t begin) {
    return month_then(text, begin, [&](std::size_t after, int month) {
        Reader r(text, after);
        r.optional('.');
        int day = 0;
        int y = 0;
        if (!r.required(' ') || r.number(1, 2, day) == 0) return ran_out_or_no(r);
        ordinal(r);
        if (!year(r, y)) return ran_out_or_no(r);
        return date_read(r.at(), day, month, y);
    });
}

bool real(const Reading& r) {
    return r.outcome == Reading::Outcome::date && validators::valid_day(r.year, r.month, r.day);
}

// Whether what stands before the year at `year` can end a date: a month name ("March 1985", "März
// 1985", "marzo de 1985", "Mar. 1985") or a day ("March 12, 1985", "March 12th 1985"). Most years in
// text are neither, and are left after this look at a few bytes.
bool month_or_day_before(std::string_view text, std::size_t year) {
    std::size_t at = year;
    if (at == 0 || text[at - 1] != ' ') return false;
    --at;
    if (at > 0 && text[at - 1] == ',') --at;
    if (at >= 3 && text[at - 3] == ' ' && lower(text[at - 2]) == 'd' && lower(text[at - 1]) == 'e') at -= 3;
    if (at > 0 && text[at - 1] == '.') --at;
    if (at == 0) return false;
    if (is_digit(text[at - 1])) return true;  // a day; ordinals below
    std::size_t word = at;
    while (word > 0 && word_byte(text[word - 1]) && at - word < 16) --word;
    if (word < at && is_digit(text[word > 0 ? word - 1 : 0]) && at - word == 2) return true;  // 12th, 1er
    const char initial = lower(text[word]);
    if (word == at || initial < 'a' || initial > 'z') return false;
    for (const MonthName* month : names_by_initial()[static_cast<std::size_t>(initial - 'a')])
        if (month->name.size() == at - word && fit(text, word, month->name) == Fit::whole) return true;
    return false;
}

// Whether the buffer's last token (after at most three trailing spaces, dots and commas) can be
// part of a date cut off by the end of a chunk: digits (a day, a year), or a word that is, or begins,
// a month name, an ordinal or "de"/"of". A chunk ending in any other word ends no partial date: the
// common case, decided by this look at its last word.
bool may_end_partial_date(std::string_view buffer, std::size_t floor) {
    std::size_t at = buffer.size();
    for (int i = 0; i < 3 && at > floor && (buffer[at - 1] == ' ' || buffer[at - 1] == '.' || buffer[at - 1] == ','); ++i)
        --at;
    if (at == floor) return false;
    if (is_digit(buffer[at - 1])) return true;
    std::size_t word = at;
    while (word > floor && word_byte(buffer[word - 1])) --word;
    const std::size_t length = at - word;
    if (length == 0) return false;
    const auto begins = [&](std::string_view name) {
        if (length > name.size()) return false;
        for (std::size_t i = 0; i < length; ++i)
            if (lower(buffer[word + i]) != name[i]) return false;
        return true;
    };
    for (const std::string_view small : {"de", "of", "st", "nd", "rd", "th", "er"})
        if (begins(small)) return true;
    const char initial = lower(buffer[word]);
    if (initial < 'a' || initial > 'z') return false;
    for (const MonthName* month : names_by_initial()[static_cast<std::size_t>(initial - 'a')])
        if (begins(month->name)) return true;
    return false;
}

bool word_start(std::string_view text, std::size_t at) { return at == 0 || !word_byte(text[at - 1]); }

}  // namespace

TextRange find_at_year(std::string_view text, std::size_t year) {
    // The date ends with the year and begins at a number (day first) or a word (month first) at most
    // max_length before it; most years have neither a month nor a day before them and are left at once.
    const TextRange none{std::string_view::npos, std::string_view::npos};
    if (!((text[year] == '1' && text[year + 1] == '9') || (text[year] == '2' && text[year + 1] == '0')) ||
        !month_or_day_before(text, year))
        return none;
    const std::size_t end = year + 4;
    for (std::size_t at = year > max_length ? year - max_length : 0; at < year; ++at) {
        Reading r;
        if (is_digit(text[at]) && (at == 0 || !is_digit(text[at - 1]))) r = day_first(text, at);
        else if (word_byte(text[at]) && word_start(text, at)) r = month_first(text, at);
        else continue;
        if (real(r) && r.end == end) return {at, end};
    }
    return none;
}

bool valid(std::string_view value) {
    if (value.empty()) return false;
    const Reading r = is_digit(value[0]) ? day_first(value, 0) : month_first(value, 0);
    return real(r) && r.end == value.size();
}

std::size_t straddle_start(std::string_view buffer, std::size_t from, std::size_t reach) {
    // A date the next chunk could complete begins at one of the last few numbers (day first) or words
    // (month first) of the buffer: the rest of a date after its first number or month is at most a
    // month, a number, an ordinal and "de ". Earliest first, at most three of each.
    const std::size_t end = buffer.size();
    const std::size_t floor = end - std::min(reach, end - from);
    if (!may_end_partial_date(buffer, floor)) return end;
    std::array<std::size_t, 3> numbers{};
    std::array<std::size_t, 3> words{};
    std::size_t n_numbers = 0;
    std::size_t n_words = 0;
    for (std::size_t at = end; at > floor && (n_numbers < numbers.size() || n_words < words.size());) {
        --at;
        const char c = buffer[at];
        if (is_digit(c) && (at == 0 || !is_digit(buffer[at - 1])) && n_numbers < numbers.size())
            numbers[n_numbers++] = at;
        else if (word_byte(c) && word_start(buffer, at) && n_words < words.size())
            words[n_words++] = at;
    }
    std::size_t hold = end;
    for (std::size_t i = 0; i < n_numbers; ++i)
        if (day_first(buffer, numbers[i]).outcome == Reading::Outcome::ran_out) hold = std::min(hold, numbers[i]);
    for (std::size_t i = 0; i < n_words; ++i)
        if (month_first(buffer, words[i]).outcome == Reading::Outcome::ran_out) hold = std::min(hold, words[i]);
    return hold;
}

}  // namespace sovereign::policy::written_dates
