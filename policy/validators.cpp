#include "policy/validators.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "policy/email_forms.hpp"
#include "policy/line_breaks.hpp"

namespace sovereign::policy::validators {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
// Identifiers are checked as their capitals: people and OCR write them in lower case too.
char upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

// The digits (or letters and digits) of a candidate without its separators, held inline: checks run on
// every candidate of a scan and must not allocate. Every value checked here has at most 64 of them; a
// candidate with more is kept as nothing, which every check rejects.
class Kept {
public:
    void push_back(char c) {
        if (size_ < chars_.size()) chars_[size_] = c;
        if (size_ <= chars_.size()) ++size_;
    }
    std::string_view view() const {
        return size_ > chars_.size() ? std::string_view() : std::string_view(chars_.data(), size_);
    }

private:
    std::array<char, 64> chars_{};
    std::size_t size_ = 0;
};

Kept digits_only(std::string_view text) {
    Kept out;
    for (const char c : text)
        if (is_digit(c)) out.push_back(c);
    return out;
}

// Keeps letters (as capitals) and digits, dropping the separators people type ("DE89 3704",
// "X-1234567-L").
Kept alnum_only(std::string_view text) {
    Kept out;
    for (const char c : text)
        if (is_digit(c) || is_upper(c) || is_lower(c)) out.push_back(upper(c));
    return out;
}

// The lengths of the digit groups of a card candidate, inline. next() is false once there are more
// groups than a card number has digits.
class CardGroups {
public:
    bool next() { return ++count_ <= sizes_.size(); }
    void count_digit() { ++sizes_[count_ - 1]; }
    // Printed cards group digits in fours (the last group one to four long); Amex and Diners 4-6-5 and 4-6-4.
    bool printed() const {
        const bool fours = std::all_of(sizes_.begin(), sizes_.begin() + count_ - 1, [](std::size_t g) { return g == 4; }) &&
                           sizes_[count_ - 1] >= 1 && sizes_[count_ - 1] <= 4;
        const bool amex_diners = count_ == 3 && sizes_[0] == 4 && sizes_[1] == 6 && (sizes_[2] == 5 || sizes_[2] == 4);
        return fours || amex_diners;
    }
    bool digits_apart() const {
        return std::all_of(sizes_.begin(), sizes_.begin() + count_, [](std::size_t g) { return g == 1; });
    }

private:
    std::array<std::size_t, 19> sizes_{};
    std::size_t count_ = 1;
};

bool all_same(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return c == s.front(); });
}

int digit(char c) { return c - '0'; }

int number(std::string_view digits) {
    int n = 0;
    for (const char c : digits) n = n * 10 + digit(c);
    return n;
}

// Remainder of a long decimal string modulo m, without overflow.
int mod_decimal(std::string_view digits, int m) {
    int r = 0;
    for (const char c : digits) r = (r * 10 + digit(c)) % m;
    return r;
}


std::string base64url_decode(std::string_view in) {
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : in) {
        int v;
        if (is_upper(c)) v = c - 'A';
        else if (is_lower(c)) v = c - 'a' + 26;
        else if (is_digit(c)) v = c - '0' + 52;
        else if (c == '-' || c == '+') v = 62;
        else if (c == '_' || c == '/') v = 63;
        else if (c == '=') break;
        else return {};
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

}  // namespace

bool luhn(std::string_view digits) {
    int sum = 0;
    bool twice = false;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (!is_digit(*it)) return false;
        int d = digit(*it);
        if (twice) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        twice = !twice;
    }
    return !digits.empty() && sum % 10 == 0;
}

bool credit_card(std::string_view text) {
    // Groups must be separated consistently: "4111 1111 1111 1111" (or with tabs, dashes or dots) or not
    // at all, never "4111-1111 1111". A line break may stand between two groups, after the dash of a
    // dashed number (a number wrapped, or copied one group a line: policy/line_breaks.hpp).
    char separator = 0;
    bool grouped = false;
    CardGroups groups;
    for (std::size_t i = 0; i < text.size();) {
        if (is_digit(text[i])) {
            groups.count_digit();
            ++i;
            continue;
        }
        std::size_t gap = line_breaks::gap_after_dash_at(text, i);
        const char mark = gap == 0 || text[i] == '-' ? text[i] : 0;  // the separator this gap writes, if any
        if (gap == 0) {
            if (mark != ' ' && mark != '\t' && mark != '-' && mark != '.') return false;
            gap = 1;
        }
        if (mark != 0) {
            if (separator != 0 && separator != mark) return false;
            separator = mark;
        }
        grouped = true;
        if (!groups.next()) return false;
        i += gap;
    }
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() < 13 || d.size() > 19 || all_same(d)) return false;
    // Printed cards group digits in fours (Amex and Diners: 4-6-5 and 4-6-4); other groupings are
    // other numbers, such as French social security numbers.
    if (grouped && !groups.printed()) return false;
    // Issuer identification: 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard,
    // Maestro), 6 (Discover, UnionPay, Maestro). Other leading digits are not payment cards.
    if (d[0] < '2' || d[0] > '6') return false;
    if (d[0] == '3' && !(d[1] == '4' || d[1] == '7' || d[1] == '0' || d[1] == '6' || d[1] == '8' || d[1] == '5'))
        return false;
    return luhn(d);
}

bool credit_card_written_out(std::string_view text) {
    // The digit groups and the one separator between all of them.
    CardGroups groups;
    std::string_view separator;
    for (std::size_t i = 0; i < text.size();) {
        if (is_digit(text[i])) {
            groups.count_digit();
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_digit(text[end])) ++end;
        const std::string_view gap = text.substr(i, end - i);
        if (!separator.empty() && gap != separator) return false;
        separator = gap;
        if (!groups.next()) return false;
        i = end;
    }
    if (separator.empty()) return false;  // no separator: the plain form's validator decides
    const bool digits_apart = groups.digits_apart();
    if (!digits_apart && !groups.printed()) return false;
    // Groups apart by one space, tab, dash or dot are the usual way to write a card: credit_card decides.
    if (!digits_apart && separator.size() == 1 &&
        (separator[0] == ' ' || separator[0] == '\t' || separator[0] == '-' || separator[0] == '.'))
        return false;
    // The rest (length, issuer, Luhn) as for a card written the usual way.
    return credit_card(digits_only(text).view());
}

std::size_t iban_length(std::string_view country) {
    struct CountryLength {
        const char* code;
        std::size_t length;
    };
    // Every country of the SWIFT IBAN registry (release of 2025), by the IBAN's length in characters.
    static constexpr std::array<CountryLength, 89> lengths{{
        {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
        {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
        {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
        {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
        {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
        {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
        {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
        {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
        {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
        {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
        {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
        {"YE", 30},
    }};
    if (country.size() != 2) return 0;
    const auto entry = std::find_if(lengths.begin(), lengths.end(),
                                    [&](const CountryLength& c) { return country == std::string_view(c.code, 2); });
    return entry == lengths.end() ? 0 : entry->length;
}

bool iban(std::string_view text) {
    // The letters (as capitals) and digits, without the spaces between groups (at most 34 of them).
    std::array<char, 34> s{};
    std::size_t n = 0;
    for (const char c : text) {
        if (!is_digit(c) && !is_upper(c) && !is_lower(c)) continue;
        if (n == s.size()) return false;
        s[n++] = upper(c);
    }
    if (n < 15 || !is_upper(s[0]) || !is_upper(s[1]) || iban_length(std::string_view(s.data(), 2)) != n) return false;
    // ISO 13616: move the first four characters to the end, letters become 10..35, remainder mod 97 is 1.
    int remainder = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[(i + 4) % n];
        if (is_digit(c)) {
            remainder = (remainder * 10 + digit(c)) % 97;
        } else if (is_upper(c)) {
            remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
        } else {
            return false;
        }
    }
    return remainder == 1;
}

bool us_ssn(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 9) return false;
    const int area = number(std::string_view(d).substr(0, 3));
    const int group = number(std::string_view(d).substr(3, 2));
    const int serial = number(std::string_view(d).substr(5, 4));
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
    // Numbers published in advertising and documentation, never valid for a person.
    static constexpr std::array<std::string_view, 4> known_fakes{"078051120", "219099999", "123456789",
                                                                 "457555462"};
    return std::find(known_fakes.begin(), known_fakes.end(), d) == known_fakes.end();
}

bool uk_nhs(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 10 || all_same(d)) return false;
    int sum = 0;
    for (int i = 0; i < 9; ++i) sum += digit(d[static_cast<std::size_t>(i)]) * (10 - i);
    int check = 11 - sum % 11;
    if (check == 11) check = 0;
    if (check == 10) return false;
    return check == digit(d[9]);
}

bool uk_nino(std::string_view text) {
    const Kept kept = alnum_only(text);
    const std::string_view s = kept.view();
    if (s.size() != 9) return false;
    const std::string_view prefix = s.substr(0, 2);
    static constexpr std::array<std::string_view, 7> never_issued{"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    if (std::find(never_issued.begin(), never_issued.end(), prefix) != never_issued.end()) return false;
    if (std::string_view("DFIQUV").find(s[0]) != std::string_view::npos) return false;
    if (std::string_view("DFIQUVO").find(s[1]) != std::string_view::npos) return false;
    for (std::size_t i = 2; i < 8; ++i)
        if (!is_digit(s[i])) return false;
    return s[8] >= 'A' && s[8] <= 'D';
}

bool email(std::string_view written) {
    // "jane [at] example [dot] com" is checked as the address it spells.
    const std::string spelled = email_forms::spelled_address(written);
    const std::string_view text = spelled;
    const auto at = text.find('@');
    if (at == std::string_view::npos || at == 0 || text.find('@', at + 1) != std::string_view::npos) return false;
    const auto local = text.substr(0, at);
    const auto domain = text.substr(at + 1);
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    if (domain.find("..") != std::string_view::npos || domain.find('.') == std::string_view::npos) return false;
    // A domain has no apostrophe, which a local part may (email_forms::name_char_at).
    if (domain.find('\'') != std::string_view::npos || domain.find("\xE2\x80\x99") != std::string_view::npos)
        return false;
    std::size_t start = 0;
    while (start <= domain.size()) {
        const auto dot = domain.find('.', start);
        const auto label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.front() == '-' || label.back() == '-') return false;
        if (dot == std::string_view::npos) {
            // The top-level domain is letters only, two at least (no top-level domain has one); beyond
            // ASCII, the letters of internationalized ones (".рф"), which spelled_address let through.
            return label.size() >= 2 && std::all_of(label.begin(), label.end(), [](char c) {
                       return is_upper(c) || is_lower(c) || static_cast<unsigned char>(c) >= 0x80;
                   });
        }
        start = dot + 1;
    }
    return false;
}

bool phone(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() < 8 || d.size() > 15 || all_same(d.substr(1))) return false;
    // Parentheses must pair up: "(555) 123-4567" but not "555) 123-4567".
    const auto open = std::count(text.begin(), text.end(), '(');
    return open == std::count(text.begin(), text.end(), ')');
}

bool ipv4(std::string_view text) {
    // An IPv4 address written as the last 32 bits of an IPv6 one ("::ffff:10.20.30.40").
    if (const auto colon = text.rfind(':'); colon != std::string_view::npos)
        return ipv6(text) && ipv4(text.substr(colon + 1));
    int octets = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto dot = text.find('.', start);
        const auto part = text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
        if (!std::all_of(part.begin(), part.end(), is_digit) || number(part) > 255) return false;
        ++octets;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return octets == 4;
}

bool ipv6(std::string_view text) {
    if (text.size() > 45 || std::count(text.begin(), text.end(), ':') < 2) return false;
    // Require a few hex digits so clock times and separators ("12:30:45", "::") are not addresses.
    const auto hex = std::count_if(text.begin(), text.end(), [](char c) { return c != ':'; });
    if (hex < 4) return false;
    const std::string s(text);
    in6_addr address{};
    return inet_pton(AF_INET6, s.c_str(), &address) == 1;
}

bool date(std::string_view text) {
    std::array<int, 3> parts{};
    std::array<std::size_t, 3> widths{};
    std::size_t index = 0;
    for (const char c : text) {
        if (is_digit(c)) {
            parts[index] = parts[index] * 10 + digit(c);
            ++widths[index];
        } else if (++index >= parts.size()) {
            return false;
        }
    }
    if (index != 2) return false;
    if (widths[0] == 4) return parts[0] >= 1900 && parts[0] <= 2099 && valid_day(parts[0], parts[1], parts[2]);
    const int year = parts[2];
    if (widths[2] != 4 || year < 1900 || year > 2099) return false;
    // Day-month-year (Europe) or month-day-year (US): either reading must be a real date.
    return valid_day(year, parts[1], parts[0]) || valid_day(year, parts[0], parts[1]);
}

bool aws_access_key(std::string_view text) {
    return text.size() == 20 && std::all_of(text.begin() + 4, text.end(), [](char c) {
               return is_upper(c) || (c >= '2' && c <= '7');
           });
}

bool base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '=';
}

bool private_key_block(std::string_view text) {
    // The BEGIN and END labels must name the same kind of key.
    constexpr std::string_view begin = "-----BEGIN ";
    constexpr std::string_view end = "-----END ";
    if (text.substr(0, begin.size()) != begin) return false;
    const auto label_end = text.find("-----", begin.size());
    if (label_end == std::string_view::npos) return false;
    const auto end_at = text.rfind(end);
    if (end_at == std::string_view::npos || end_at <= label_end) {
        // Cut before its END line: a key's body, if it holds a run of base64 as long as most of a PEM
        // line (64 characters). A sentence naming the header ("a key file starts with -----BEGIN
        // PRIVATE KEY-----") holds none.
        constexpr std::size_t body_run_min = 40;
        std::size_t run = 0;
        for (char c : text.substr(label_end + 5))
            if ((run = base64_char(c) ? run + 1 : 0) >= body_run_min) return true;
        return false;
    }
    const auto label = text.substr(begin.size(), label_end - begin.size());
    const auto closing = text.substr(end_at + end.size());
    return closing.substr(0, label.size()) == label && closing.substr(label.size()) == "-----";
}

bool jwt(std::string_view text) {
    const auto first = text.find('.');
    if (first == std::string_view::npos) return false;
    const std::string header = base64url_decode(text.substr(0, first));
    return !header.empty() && header.front() == '{' && header.find("\"alg\"") != std::string::npos;
}

bool github_token(std::string_view text) {
    return text.size() == 40 || (text.rfind("github_pat_", 0) == 0 && text.size() == 93);
}

bool slack_token(std::string_view text) {
    // Bot and user tokens are xoxb-/xoxp- followed by numeric workspace and user ids and a secret; app
    // tokens (xapp-) carry numeric ids too; refresh and rotated tokens (xoxe-1-...) a long random secret,
    // which has digits where a placeholder ("xoxe-1-xxxx...") has none.
    const auto dashes = std::count(text.begin(), text.end(), '-');
    const auto digits = std::count_if(text.begin(), text.end(), is_digit);
    return dashes >= 2 && digits >= 8;
}

bool service_api_key(std::string_view text) {
    // Each service's prefix and the lengths its keys have; longer prefixes first ("sk-" last).
    struct Shape {
        std::string_view prefix;
        std::size_t min_size;
        std::size_t max_size;
    };
    static constexpr Shape shapes[] = {
        {"sk-proj-", 40, 256},  {"sk-svcacct-", 40, 256}, {"sk-admin-", 40, 256}, {"sk-ant-", 40, 256},
        {"sk_live_", 32, 256},  {"sk_test_", 32, 256},    {"rk_live_", 32, 256},  {"rk_test_", 32, 256},
        {"AIza", 39, 39},       {"hf_", 37, 37},          {"glpat-", 26, 26},     {"sk-", 51, 51},
    };
    for (const auto& shape : shapes) {
        if (!text.starts_with(shape.prefix)) continue;
        if (text.size() < shape.min_size || text.size() > shape.max_size) return false;
        // Keys are random: many distinct characters of at least two kinds. Placeholders such as
        // "sk-proj-xxxxxxxx..." are not keys.
        const auto secret = text.substr(shape.prefix.size());
        std::array<bool, 256> seen{};
        std::size_t distinct = 0;
        for (const char c : secret) distinct += !std::exchange(seen[static_cast<unsigned char>(c)], true);
        const int kinds = std::any_of(secret.begin(), secret.end(), is_digit) +
                          std::any_of(secret.begin(), secret.end(), is_upper) +
                          std::any_of(secret.begin(), secret.end(), is_lower);
        return distinct >= 10 && kinds >= 2;
    }
    return false;
}

double shannon_entropy(std::string_view text) {
    if (text.empty()) return 0.0;
    std::array<int, 256> counts{};
    for (const char c : text) ++counts[static_cast<unsigned char>(c)];
    double entropy = 0.0;
    const double n = static_cast<double>(text.size());
    for (const int count : counts) {
        if (count == 0) continue;
        const double p = count / n;
        entropy -= p * std::log2(p);
    }
    return entropy;
}

bool high_entropy_secret(std::string_view text) {
    if (text.size() < 32 || text.size() > 256) return false;
    const bool has_digit = std::any_of(text.begin(), text.end(), is_digit);
    const bool has_upper = std::any_of(text.begin(), text.end(), is_upper);
    const bool has_lower = std::any_of(text.begin(), text.end(), is_lower);
    // Random keys mix character kinds and approach log2(62) bits per character; words and hex digests do not.
    return has_digit && has_upper && has_lower && shannon_entropy(text) >= 4.2;
}

bool de_steuer_id(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 11 || d[0] == '0') return false;
    // The Federal Central Tax Office's rule: in the first ten digits exactly one digit repeats, twice
    // or (in numbers issued since 2016) three times, and all others appear once; a digit that appears
    // three times does not stand three times in a row ("111" is never issued, "1121" and "11211" are).
    std::array<int, 10> counts{};
    for (std::size_t i = 0; i < 10; ++i) ++counts[static_cast<std::size_t>(digit(d[i]))];
    int repeated = 0;
    for (const int count : counts) {
        if (count > 3) return false;
        if (count >= 2) ++repeated;
    }
    if (repeated != 1) return false;
    for (std::size_t i = 2; i < 10; ++i)
        if (d[i] == d[i - 1] && d[i] == d[i - 2]) return false;
    // ISO/IEC 7064 MOD 11,10.
    int product = 10;
    for (std::size_t i = 0; i < 10; ++i) {
        int sum = (digit(d[i]) + product) % 10;
        if (sum == 0) sum = 10;
        product = (sum * 2) % 11;
    }
    int check = 11 - product;
    if (check == 10) check = 0;
    return check == digit(d[10]);
}

bool fr_nir(std::string_view text) {
    std::string s(alnum_only(text).view());
    if (s.size() != 15 || (s[0] != '1' && s[0] != '2')) return false;
    // Corsica's departments 2A and 2B count as 19 and 18 in the key computation.
    if (s[5] == '2' && s[6] == 'A') s.replace(5, 2, "19");
    else if (s[5] == '2' && s[6] == 'B') s.replace(5, 2, "18");
    if (!std::all_of(s.begin(), s.end(), is_digit)) return false;
    const int month = number(std::string_view(s).substr(3, 2));
    if (month == 0 || (month > 12 && month < 20)) return false;
    const int key = 97 - mod_decimal(std::string_view(s).substr(0, 13), 97);
    return key == number(std::string_view(s).substr(13, 2));
}

bool es_dni(std::string_view text) {
    static constexpr std::string_view letters = "TRWAGMYFPDXBNJZSQVHLCKE";
    const Kept kept = alnum_only(text);
    const std::string_view s = kept.view();
    if (s.size() != 9 || !is_upper(s[8])) return false;
    const std::string_view d = s.substr(0, 8);
    if (!std::all_of(d.begin(), d.end(), is_digit) || all_same(d)) return false;
    return letters[static_cast<std::size_t>(mod_decimal(d, 23))] == s[8];
}

bool es_nie(std::string_view text) {
    std::string s(alnum_only(text).view());
    if (s.size() != 9) return false;
    const auto prefix = std::string_view("XYZ").find(s[0]);
    if (prefix == std::string_view::npos) return false;
    s[0] = static_cast<char>('0' + prefix);
    return es_dni(s);
}

bool it_codice_fiscale(std::string_view written) {
    if (written.size() != 16) return false;
    std::array<char, 16> capitals{};
    std::transform(written.begin(), written.end(), capitals.begin(), upper);
    const std::string_view text(capitals.data(), capitals.size());
    // Letters for surname and name, the month (A B C D E H L M P R S T), the place's letter and the check;
    // digits for the year, the day (women's plus 40) and the place's number. Where two people would get
    // the same code (omocodia), the tax office replaces digits by L M N P Q R S T U V (for 0 to 9), the
    // last digit first, then the one before it, and so on: a replaced digit has only replaced ones after it.
    static constexpr std::string_view replacements = "LMNPQRSTUV";
    static constexpr std::array<std::size_t, 7> digits_last_first{14, 13, 12, 10, 9, 7, 6};
    for (const std::size_t i : {0, 1, 2, 3, 4, 5, 11, 15})
        if (!is_upper(text[i])) return false;
    if (std::string_view("ABCDEHLMPRST").find(text[8]) == std::string_view::npos) return false;
    std::array<int, 16> decoded{};
    bool replacing = true;  // every digit after this one (in the code) was replaced
    for (const std::size_t i : digits_last_first) {
        if (is_digit(text[i])) {
            decoded[i] = digit(text[i]);
            replacing = false;
            continue;
        }
        const auto replaced = replacements.find(text[i]);
        if (replaced == std::string_view::npos || !replacing) return false;
        decoded[i] = static_cast<int>(replaced);
    }
    const int day = decoded[9] * 10 + decoded[10];
    if (day < 1 || (day > 31 && day < 41) || day > 71) return false;
    // The check character: over the first fifteen characters as written (replacement letters as letters),
    // odd positions (1st, 3rd, ...) map through this table, even positions count their plain value.
    static constexpr std::array<int, 36> odd{1, 0, 5, 7, 9, 13, 15, 17, 19, 21,               // 0-9
                                             1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3,
                                             6, 8, 12, 14, 16, 10, 22, 25, 24, 23};           // A-Z
    int sum = 0;
    for (std::size_t i = 0; i < 15; ++i) {
        const char c = text[i];
        const int index = is_digit(c) ? digit(c) : 10 + (c - 'A');
        const int plain = is_digit(c) ? digit(c) : c - 'A';
        sum += (i % 2 == 0) ? odd[static_cast<std::size_t>(index)] : plain;
    }
    return text[15] == static_cast<char>('A' + sum % 26);
}

bool nl_bsn(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 9 || all_same(d)) return false;
    // The "elfproef": weights 9..2 for the first eight digits, -1 for the last, total divisible by 11.
    int sum = 0;
    for (std::size_t i = 0; i < 8; ++i) sum += digit(d[i]) * static_cast<int>(9 - i);
    sum -= digit(d[8]);
    return sum % 11 == 0;
}

bool pl_pesel(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 11) return false;
    static constexpr std::array<int, 10> weights{1, 3, 7, 9, 1, 3, 7, 9, 1, 3};
    int sum = 0;
    for (std::size_t i = 0; i < 10; ++i) sum += digit(d[i]) * weights[i];
    if ((10 - sum % 10) % 10 != digit(d[10])) return false;
    // The month carries the century: +80 for the 1800s, +0 for 1900s, +20 for 2000s, +40, +60.
    int year = number(std::string_view(d).substr(0, 2));
    int month = number(std::string_view(d).substr(2, 2));
    const int day = number(std::string_view(d).substr(4, 2));
    if (month > 80) { year += 1800; month -= 80; }
    else if (month > 60) { year += 2200; month -= 60; }
    else if (month > 40) { year += 2100; month -= 40; }
    else if (month > 20) { year += 2000; month -= 20; }
    else { year += 1900; }
    return valid_day(year, month, day);
}

bool be_national_number(std::string_view text) {
    const Kept kept = digits_only(text);
    const std::string_view d = kept.view();
    if (d.size() != 11) return false;
    const int check = number(std::string_view(d).substr(9, 2));
    const std::string_view body = d.substr(0, 9);
    // People born from 2000 on have "2" prefixed to the nine digits before the check.
    if (97 - mod_decimal(body, 97) == check) return true;
    return 97 - mod_decimal("2" + std::string(body), 97) == check;
}

bool valid_day(int year, int month, int day) {
    static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1) return false;
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int limit = days[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
    return day <= limit;
}

}  // namespace sovereign::policy::validators
