// Precision and recall of every built-in detector on a labelled corpus this program generates:
// valid values and near misses (same shape, wrong check digit or broken rule) embedded in prose in
// several languages, plus neutral prose full of numbers that must not be flagged.
// usage: detector_accuracy [cases-per-detector]   (default 500; fixed seed, so runs are comparable)

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "policy/validators.hpp"

using namespace sovereign::policy;

namespace {

std::mt19937_64 rng(20251122);

int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
char digit() { return static_cast<char>('0' + uniform(0, 9)); }
std::string digits(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += digit();
    return s;
}
std::string pick(const std::vector<std::string>& options) {
    return options[static_cast<std::size_t>(uniform(0, static_cast<int>(options.size()) - 1))];
}
char other_digit(char c) { return static_cast<char>('0' + ((c - '0') + uniform(1, 9)) % 10); }
std::string chars(int n, std::string_view alphabet) {
    std::string s;
    for (int i = 0; i < n; ++i) s += alphabet[static_cast<std::size_t>(uniform(0, static_cast<int>(alphabet.size()) - 1))];
    return s;
}
constexpr std::string_view upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// Draws until the validator agrees (valid) or disagrees (near miss) with the candidate.
std::string until(const std::function<std::string()>& make, Validator check, bool want_valid) {
    for (;;) {
        auto s = make();
        if (check(s) == want_valid) return s;
    }
}

// Changes one digit so the check fails, keeping the shape.
std::string break_check(std::string s, Validator check) {
    for (;;) {
        auto t = s;
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < t.size(); ++i)
            if (t[i] >= '0' && t[i] <= '9') positions.push_back(i);
        const auto at = positions[static_cast<std::size_t>(uniform(0, static_cast<int>(positions.size()) - 1))];
        t[at] = other_digit(t[at]);
        if (!check(t)) return t;
    }
}

std::string luhn_complete(std::string body) {
    for (char c = '0'; c <= '9'; ++c)
        if (validators::luhn(body + c)) return body + c;
    return body;
}

std::string card() {
    const std::string body = pick({"4", "51", "52", "53", "54", "55", "37", "6011"});
    std::string raw = luhn_complete(body + digits(15 - static_cast<int>(body.size())));
    return raw.substr(0, 4) + " " + raw.substr(4, 4) + " " + raw.substr(8, 4) + " " + raw.substr(12, 4);
}

std::string iban() {
    struct Country { std::string code; int length; bool letters; };
    static const std::vector<Country> countries{{"DE", 22, false}, {"FR", 27, false}, {"NL", 18, true},
                                                {"ES", 24, false}, {"IT", 27, false}, {"BE", 16, false}};
    const auto& c = countries[static_cast<std::size_t>(uniform(0, static_cast<int>(countries.size()) - 1))];
    const std::string bban = c.letters ? chars(4, upper) + digits(c.length - 8) : digits(c.length - 4);
    for (int check = 2; check <= 98; ++check) {
        std::string s = c.code + (check < 10 ? "0" : "") + std::to_string(check) + bban;
        if (validators::iban(s)) {
            std::string spaced;
            for (std::size_t i = 0; i < s.size(); ++i) spaced += (i && i % 4 == 0 ? " " : "") + std::string(1, s[i]);
            return spaced;
        }
    }
    return iban();
}

std::string nino() {
    return until([] { return chars(2, "ABCEGHJKLMNPRSTWXYZ") + digits(6) + chars(1, "ABCD"); }, validators::uk_nino,
                 true);
}

std::string steuer() {
    return until([] {
        std::string s(1, static_cast<char>('1' + uniform(0, 8)));
        std::vector<char> pool{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
        std::shuffle(pool.begin(), pool.end(), rng);
        for (int i = 0; s.size() < 9; ++i)
            if (pool[static_cast<std::size_t>(i)] != s[0]) s += pool[static_cast<std::size_t>(i)];
        s += s[static_cast<std::size_t>(uniform(0, 8))];
        for (char c = '0'; c <= '9'; ++c)
            if (validators::de_steuer_id(s + c)) return s + c;
        return s + "0";
    }, validators::de_steuer_id, true);
}

std::string nir() {
    const int month = uniform(1, 12);
    std::string body = std::string(1, static_cast<char>('1' + uniform(0, 1))) + digits(2) + (month < 10 ? "0" : "") +
                       std::to_string(month);
    body += std::to_string(uniform(10, 95)) + digits(6);
    long long value = std::stoll(body);
    const int key = 97 - static_cast<int>(value % 97);
    body += (key < 10 ? "0" : "") + std::to_string(key);
    return body.substr(0, 1) + " " + body.substr(1, 2) + " " + body.substr(3, 2) + " " + body.substr(5, 2) + " " +
           body.substr(7, 3) + " " + body.substr(10, 3) + " " + body.substr(13, 2);
}

std::string dni() {
    const std::string d = digits(8);
    return d + "TRWAGMYFPDXBNJZSQVHLCKE"[std::stoll(d) % 23];
}

std::string nie() {
    const int prefix = uniform(0, 2);
    const std::string d = digits(7);
    return std::string(1, "XYZ"[prefix]) + d + "TRWAGMYFPDXBNJZSQVHLCKE"[std::stoll(std::to_string(prefix) + d) % 23];
}

// A day of birth (a woman's plus 40) made of the two digits drawn; and for half the codes (by their first
// letter) the last one to seven digits replaced by letters, as for homonyms (omocodia). Derived from what
// was drawn, so that the corpora after this one draw the same numbers as before.
std::string codice_fiscale() {
    std::string s = chars(6, upper) + digits(2) + chars(1, "ABCDEHLMPRST") + digits(2) + chars(1, upper) + digits(3);
    const int drawn = (s[9] - '0') * 10 + (s[10] - '0');
    const int day = 1 + drawn % 31 + (drawn >= 50 ? 40 : 0);
    s[9] = static_cast<char>('0' + day / 10);
    s[10] = static_cast<char>('0' + day % 10);
    const int replaced = s[0] < 'N' ? 0 : (s[0] - 'N') % 7 + 1;
    static constexpr std::size_t digits_last_first[] = {14, 13, 12, 10, 9, 7, 6};
    for (int i = 0; i < replaced; ++i) s[digits_last_first[i]] = "LMNPQRSTUV"[s[digits_last_first[i]] - '0'];
    for (char c = 'A'; c <= 'Z'; ++c)
        if (validators::it_codice_fiscale(s + c)) return s + c;
    return s;
}

std::string bsn() { return until([] { return digits(9); }, validators::nl_bsn, true); }

std::string pesel() {
    return until([] {
        const int month = uniform(1, 12) + (uniform(0, 1) ? 20 : 0);
        std::string s = digits(2) + (month < 10 ? "0" : "") + std::to_string(month) + "0" +
                        std::to_string(uniform(1, 9)) + digits(4);
        for (char c = '0'; c <= '9'; ++c)
            if (validators::pl_pesel(s + c)) return s + c;
        return s + "0";
    }, validators::pl_pesel, true);
}

std::string be_number() {
    const std::string body = "8" + std::to_string(uniform(0, 9)) + "0" + std::to_string(uniform(1, 9)) + "1" +
                             std::to_string(uniform(0, 9)) + digits(3);
    const long long v = std::stoll(body);
    const int check = 97 - static_cast<int>(v % 97);
    const std::string c = (check < 10 ? "0" : "") + std::to_string(check);
    return body.substr(0, 2) + "." + body.substr(2, 2) + "." + body.substr(4, 2) + "-" + body.substr(6, 3) + "." + c;
}

std::string nhs() {
    return until([] {
        const std::string d = digits(10);
        return d.substr(0, 3) + " " + d.substr(3, 3) + " " + d.substr(6, 4);
    }, validators::uk_nhs, true);
}

std::string ssn() {
    return until([] { return std::to_string(uniform(100, 665)) + "-" + digits(2) + "-" + digits(4); },
                 validators::us_ssn, true);
}

std::string secret() { return until([] { return chars(40, alnum); }, validators::high_entropy_secret, true); }

std::string base64url(const std::string& in) {
    static constexpr std::string_view table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (const unsigned char c : in) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += table[(buffer >> bits) & 63];
        }
    }
    if (bits > 0) out += table[(buffer << (6 - bits)) & 63];
    return out;
}

struct Generator {
    std::string detector;
    std::function<std::string()> valid;
    std::function<std::string()> near_miss;
    std::vector<std::string> templates;  // "{}" is replaced by the value
};

// Three in fourteen addresses plain, the others with '@' and dots written out as people do to hide
// them, or escaped as URLs, HTML and JSON carry them. Some local parts hold an apostrophe or letters
// beyond ASCII, as names do.
std::string email() {
    const std::string local = pick({"jane.doe", "m.rossi", "p.nowak", "j-dupont", "jane.o'neil", "j\u00f6ran.berg",
                                    "o\u2019brien", "\u00e9lodie"}) +
                              std::to_string(uniform(1, 999));
    const std::string labels = pick({"example|com", "example|org", "mail|example|eu"});
    struct Style { const char* at; const char* dot; };
    static const Style styles[] = {{"@", "."}, {"@", "."}, {"@", "."}, {"@", "[.]"}, {" [at] ", " [dot] "},
                                   {"(at)", "(dot)"}, {" {AT} ", "."}, {"[@]", "[.]"}, {" at ", " [dot] "},
                                   {" AT ", " DOT "}, {"%40", "."}, {"&#64;", "&#46;"}, {"&commat;", "&period;"},
                                   {"\\u0040", "\\u002e"}};
    const Style& style = styles[uniform(0, 13)];
    std::string out = local + style.at;
    for (char c : labels) out += c == '|' ? std::string(style.dot) : std::string(1, c);
    return out;
}

// Most cards as printed; some written out as people do to slip past filters.
std::string written_card() {
    const std::string printed = card();
    if (uniform(0, 3) > 0) return printed;
    std::string digits = printed;
    digits.erase(std::remove(digits.begin(), digits.end(), ' '), digits.end());
    if (digits.size() != 16) return printed;
    static const char* const gaps[] = {" - ", "_", "  ", "/"};
    if (uniform(0, 4) == 0) {
        std::string apart;
        for (char c : digits) apart += (apart.empty() ? "" : " ") + std::string(1, c);
        return apart;
    }
    const std::string gap = gaps[uniform(0, 3)];
    return digits.substr(0, 4) + gap + digits.substr(4, 4) + gap + digits.substr(8, 4) + gap + digits.substr(12);
}

std::string fill(const std::string& t, const std::string& value) {
    const auto at = t.find("{}");
    return t.substr(0, at) + value + t.substr(at + 2);
}

std::vector<Generator> generators() {
    using V = std::vector<std::string>;
    return {
        {"credit_card", written_card, [] {
             // A wrong check digit, or a card written out with separators that change along the way.
             if (uniform(0, 3) > 0) return break_check(card(), validators::credit_card);
             std::string digits = card();
             digits.erase(std::remove(digits.begin(), digits.end(), ' '), digits.end());
             return digits.substr(0, 4) + " - " + digits.substr(4, 4) + " " + digits.substr(8, 4) + " - " + digits.substr(12);
         },
         V{"Please charge my card {} for the invoice.", "Die Kreditkarte {} wurde abgelehnt.",
           "Paiement refusé pour la carte {} hier soir.", "La tarjeta {} caduca en mayo."}},
        {"iban", iban, [] { return break_check(iban(), validators::iban); },
         V{"Transfer the refund to IBAN {} today.", "Bitte überweisen Sie auf das Konto {} bis Freitag.",
           "Virement vers le compte {} effectué.", "Het rekeningnummer is {} volgens de klant."}},
        {"us_ssn", ssn, [] { return "666-" + digits(2) + "-" + digits(4); },
         V{"Employee SSN {} is on file.", "The applicant's social security number is {}."}},
        {"uk_nhs", nhs, [] { return break_check(nhs(), validators::uk_nhs); },
         V{"NHS number {} was admitted to ward 4.", "Referral for NHS no. {} attached."}},
        {"uk_nino", nino, [] { return "BG" + digits(6) + "A"; },
         V{"Her National Insurance number is {}.", "NINO {} needs updating in payroll."}},
        {"email", email, [] {
             // No top-level domain, a domain starting with '-', unpaired brackets, the bare word "at"
             // with a plain dot ("work at example.com" is no address), and an apostrophe in a domain.
             return pick({"jane.doe@example", "m.rossi@localhost", "p.nowak@-bad.com", "jane [at] example",
                          "m.rossi [at) example.com", "j.dupont at example.com", "jane@o'neil.com", "j\u00f6ran@example"});
         },
         V{"Send the report to {} by Monday.", "Schreiben Sie an {} für Rückfragen.", "Contactez {} pour plus d'infos.",
           "It's {} you should write to.", "L'adresse de J\u00f6ran est \u00ab{}\u00bb."}},
        {"phone", [] { return "+" + pick({"49 30 ", "33 1 ", "44 20 ", "34 91 ", "39 06 "}) + digits(7); },
         [] { return "+" + pick({"49 ", "33 "}) + digits(3); },
         V{"Call me on {} after 5pm.", "Rufen Sie mich unter {} an.", "Appelez le {} demain."}},
        {"ipv4", [] { return std::to_string(uniform(1, 223)) + "." + std::to_string(uniform(0, 255)) + "." +
                             std::to_string(uniform(0, 255)) + "." + std::to_string(uniform(1, 254)); },
         [] { return std::to_string(uniform(256, 999)) + "." + std::to_string(uniform(0, 255)) + ".1.1"; },
         V{"The server at {} stopped responding.", "Der Host {} ist nicht erreichbar."}},
        {"ipv6", [] { return "2001:db8:" + chars(4, "0123456789abcdef") + "::" + chars(3, "0123456789abcdef"); },
         [] { return "2001:db8:::" + chars(3, "0123456789abcdef") + ":::1"; },
         V{"Route traffic from {} to the gateway.", "Adresse IPv6 {} bloquée."}},
        {"date_of_birth", [] { return std::to_string(uniform(10, 28)) + "." + std::to_string(uniform(10, 12)) + "." +
                                      std::to_string(uniform(1940, 2005)); },
         [] { return std::to_string(uniform(32, 39)) + "." + std::to_string(uniform(13, 19)) + "." +
                     std::to_string(uniform(1940, 2005)); },
         V{"Patient born {} in Leeds.", "Geburtsdatum: {}", "Date de naissance {} selon le dossier.",
           "Fecha de nacimiento {} registrada.", "Data di nascita {}."}},
        {"aws_access_key", [] { return "AKIA" + chars(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"); },
         [] { return "AKIA" + chars(16, "0189"); },
         V{"The deploy uses {} as access key.", "export AWS_ACCESS_KEY_ID={}"}},
        {"private_key", [] { return "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + chars(64, alnum) + "\n-----END RSA PRIVATE KEY-----"; },
         [] { return "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + chars(64, alnum) + "\n-----END EC PRIVATE KEY-----"; },
         V{"Here is the key:\n{}\nplease install it.", "Schlüssel:\n{}"}},
        {"jwt", [] { return base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(R"({"sub":")" + digits(8) + R"("})") +
                            "." + chars(43, alnum); },
         [] { return base64url(R"({"typ":"JWT","kid":"x"})") + "." + base64url(R"({"sub":")" + digits(8) + R"("})") +
                     "." + chars(43, alnum); },
         V{"Authorization: Bearer {}", "The session token {} expired."}},
        {"github_token", [] { return "ghp_" + chars(36, alnum); }, [] { return "ghp_" + chars(30, alnum); },
         V{"Use the GitHub token {} for the CI.", "git clone with token {} failed"}},
        {"slack_token", [] { return "xoxb-" + digits(12) + "-" + digits(13) + "-" + chars(24, alnum); },
         [] { return "xoxb-" + chars(24, "abcdefghij"); },
         V{"The Slack bot token is {}.", "SLACK_TOKEN={}"}},
        {"api_key", [] { return "sk-proj-" + chars(48, alnum); }, [] { return "sk-proj-" + chars(48, "x"); },
         V{"client = OpenAI(api_key=\"{}\")", "Der Schlüssel {} gehört dem Team.", "Here it is: {}"}},
        {"generic_secret", secret, [] { return chars(40, "abcdef0123456789"); },
         V{"api_key: {}", "The client secret is {} for staging.", "Passwort {} bitte ändern."}},
        {"de_steuer_id", steuer, [] { return break_check(steuer(), validators::de_steuer_id); },
         V{"Steuer-ID {} laut Bescheid.", "Meine Steueridentifikationsnummer lautet {}."}},
        {"fr_nir", nir, [] { return break_check(nir(), validators::fr_nir); },
         V{"Numéro de sécurité sociale {} sur la carte Vitale.", "NIR {} du patient."}},
        {"es_dni", dni, [] { return break_check(dni(), validators::es_dni); },
         V{"Mi DNI es {} y vivo en Madrid.", "Documento {} presentado."}},
        {"es_nie", nie, [] { return break_check(nie(), validators::es_nie); },
         V{"El NIE {} del solicitante.", "Número de extranjero {}."}},
        {"it_codice_fiscale", codice_fiscale,
         [] { auto s = codice_fiscale(); s.back() = s.back() == 'Z' ? 'A' : static_cast<char>(s.back() + 1); return s; },
         V{"Il codice fiscale {} risulta valido.", "CF: {}"}},
        {"nl_bsn", bsn, [] { return break_check(bsn(), validators::nl_bsn); },
         V{"Mijn BSN is {}.", "Burgerservicenummer {} staat in het dossier."}},
        {"pl_pesel", pesel, [] { return break_check(pesel(), validators::pl_pesel); },
         V{"Numer PESEL {} w systemie.", "PESEL: {}"}},
        {"be_national_number", be_number, [] { return break_check(be_number(), validators::be_national_number); },
         V{"Rijksregisternummer {} van de aanvrager.", "Numéro national {} enregistré."}},
    };
}

// Prose that mentions numbers, dates, versions and codes but no sensitive value.
std::vector<std::string> neutral_prose(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        out.push_back("Order " + digits(uniform(6, 12)) + " shipped on " + std::to_string(uniform(1, 28)) + "." +
                      std::to_string(uniform(1, 12)) + "." + std::to_string(uniform(2000, 2025)) + " for EUR " +
                      std::to_string(uniform(1, 999)) + "," + digits(2) + "; version " + std::to_string(uniform(1, 9)) +
                      "." + std::to_string(uniform(0, 20)) + "." + std::to_string(uniform(0, 99)) + ", ticket #" +
                      digits(5) + ", room " + chars(1, upper) + digits(3) + ", build " + chars(12, "abcdef0123456789") +
                      ", at 12:" + digits(2) + ":" + digits(2) + ".");
    }
    return out;
}

// Prose and tables with numbers on consecutive lines, none of them a sensitive value: values may be
// wrapped over lines, and these must not be joined into one. (A column of exactly four groups of four
// digits is not here: a card copied one group a line looks the same, and its check digit decides.)
std::vector<std::string> neutral_lines(int n) {
    std::vector<std::string> out;
    const auto eol = [] { return uniform(0, 3) == 0 ? std::string("\r\n") : std::string("\n"); };
    for (int i = 0; i < n; ++i) {
        std::string t;
        switch (i % 8) {
            case 0:  // a stock table, tab-separated
                t = "Item\tQty\tPrice" + eol();
                for (int r = uniform(2, 6); r > 0; --r)
                    t += "P" + digits(4) + "\t" + std::to_string(uniform(1, 9999)) + "\t" + std::to_string(uniform(1, 999)) +
                         "," + digits(2) + eol();
                break;
            case 1:  // figures by year
                t = "Revenue by year:" + eol();
                for (int y = uniform(2000, 2015), r = uniform(2, 6); r > 0; --r, ++y)
                    t += std::to_string(y) + ": " + std::to_string(uniform(1, 999)) + " " + digits(3) + eol();
                break;
            case 2:  // order numbers, one a line
                t = "Orders shipped today:" + eol();
                for (int r = uniform(2, 7); r > 0; --r) t += "  " + digits(uniform(5, 12)) + eol();
                break;
            case 3:  // prose wrapped with a number at the end of a line and at the start of the next
                t = "The shipment of " + digits(4) + eol() + digits(4) + " units arrives on " +
                    std::to_string(uniform(1, 28)) + "." + std::to_string(uniform(1, 12)) + ".2024 at gate" + eol() +
                    std::to_string(uniform(1, 99)) + " after " + digits(4) + eol() + digits(3) + " km.";
                break;
            case 4:  // log lines
                for (int r = uniform(2, 6); r > 0; --r)
                    t += "2024-0" + std::to_string(uniform(1, 9)) + "-1" + std::to_string(uniform(0, 9)) + " 1" +
                         std::to_string(uniform(0, 9)) + ":" + digits(2) + ":" + digits(2) + " job " + digits(uniform(4, 8)) +
                         " took " + digits(uniform(1, 4)) + " ms" + eol();
                break;
            case 5:  // a markdown table of measurements
                t = "| run | a | b | c |" + eol() + "|---|---|---|---|" + eol();
                for (int r = uniform(2, 6); r > 0; --r)
                    t += "| " + std::to_string(r) + " | " + digits(4) + " | " + digits(4) + " | " + digits(uniform(2, 6)) +
                         " |" + eol();
                break;
            case 6:  // a column of room numbers, readings or codes, shorter or longer than a card
                t = "Readings:" + eol();
                for (int r = uniform(0, 1) ? uniform(2, 3) : uniform(5, 8); r > 0; --r) t += digits(4) + eol();
                break;
            default:  // an address block and amounts over lines
                t = "Hauptstrasse " + std::to_string(uniform(1, 200)) + eol() + digits(5) + " Berlin" + eol() + "EUR " +
                    std::to_string(uniform(1, 999)) + " " + digits(3) + ",00" + eol() + "EUR " + digits(3) + ",50" + eol() +
                    std::to_string(uniform(1, 12)) + " " + digits(2) + " " + digits(4) + eol() + digits(2) + " " + digits(3);
                break;
        }
        out.push_back(t);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const int per_detector = argc > 1 ? std::max(10, std::atoi(argv[1])) : 500;
    const auto loaded = load_policy_text("classes: [public]\nzones: [{name: site}]\nrules: [{name: all, then: {action: allow}}]\n",
                                         "accuracy.yaml");
    if (!loaded.policy) {
        std::fprintf(stderr, "cannot load the benchmark policy\n");
        return 1;
    }
    const auto& set = loaded.policy->detectors();
    std::map<std::string, int> false_positives_on_neutral;
    std::vector<Detection> found;
    ScanFailure failure;

    std::printf("Detector accuracy: %d valid values and %d near misses per detector, in prose (EN/DE/FR/ES/IT/NL/PL)\n\n",
                per_detector, per_detector);
    // A finding is a true positive only when its detector planted a valid value there; every other
    // finding (on a near miss, on another detector's value, in neutral prose) is a false positive.
    struct Row {
        std::string detector;
        int found_valid = 0;
        int flagged_near = 0;
    };
    std::vector<Row> rows;
    std::vector<int> true_positives(set.detectors().size(), 0);
    std::vector<int> false_positives(set.detectors().size(), 0);
    for (const auto& g : generators()) {
        const std::size_t d = set.find(g.detector);
        Row row{g.detector};
        for (int i = 0; i < 2 * per_detector; ++i) {
            const bool valid = i < per_detector;
            const std::string value = valid ? g.valid() : g.near_miss();
            const std::string tpl = g.templates[static_cast<std::size_t>(i) % g.templates.size()];
            const std::string text = fill(tpl, value);
            const std::size_t begin = tpl.find("{}");
            const std::size_t end = begin + value.size();
            if (!set.scan(text, 0, found, failure)) {
                std::fprintf(stderr, "scan failed: %s\n", failure.message.c_str());
                return 1;
            }
            bool hit = false;
            for (const auto& f : found) {
                const bool on_value = f.detector == d && f.begin < end && f.end > begin;
                hit = hit || on_value;
                if (on_value && valid) ++true_positives[f.detector];
                else ++false_positives[f.detector];
                if (std::getenv("ACCURACY_DEBUG") != nullptr && !(on_value && valid))
                    std::fprintf(stderr, "false positive %s on: %s\n", set.detectors()[f.detector].name.c_str(), text.c_str());
            }
            if (valid && hit) ++row.found_valid;
            if (!valid && hit) ++row.flagged_near;
            if (std::getenv("ACCURACY_DEBUG") != nullptr && valid != hit)
                std::fprintf(stderr, "%s: %s\n", g.detector.c_str(), text.c_str());
        }
        rows.push_back(row);
    }
    const auto neutral = neutral_prose(per_detector * 4);
    for (const auto& text : neutral) {
        if (!set.scan(text, 0, found, failure)) return 1;
        for (const auto& f : found) {
            ++false_positives[f.detector];
            ++false_positives_on_neutral[set.detectors()[f.detector].name];
        }
    }

    std::map<std::string, int> false_positives_on_lines;
    const auto lines = neutral_lines(per_detector * 4);
    for (const auto& text : lines) {
        if (!set.scan(text, 0, found, failure)) return 1;
        for (const auto& f : found) {
            ++false_positives[f.detector];
            ++false_positives_on_lines[set.detectors()[f.detector].name];
            if (std::getenv("ACCURACY_DEBUG") != nullptr)
                std::fprintf(stderr, "false positive %s over lines on: %s\n", set.detectors()[f.detector].name.c_str(),
                             text.substr(f.begin, f.end - f.begin).c_str());
        }
    }

    std::printf("| detector | recall (valid values found) | near misses flagged | false positives (all corpora) | precision |\n");
    std::printf("|---|---:|---:|---:|---:|\n");
    int below_target = 0;
    for (const auto& row : rows) {
        const std::size_t d = set.find(row.detector);
        const double recall = static_cast<double>(row.found_valid) / per_detector;
        const double near_rate = static_cast<double>(row.flagged_near) / per_detector;
        const int tp = true_positives[d];
        const int fp = false_positives[d];
        const double precision = tp + fp == 0 ? 1.0 : static_cast<double>(tp) / (tp + fp);
        if (recall < 0.99 || near_rate > 0.01) ++below_target;
        std::printf("| %s | %.3f | %.3f | %d | %.4f |\n", row.detector.c_str(), recall, near_rate, fp, precision);
    }
    std::printf("\nNeutral prose (%zu sentences with order numbers, dates, prices, versions, hashes, times): ",
                neutral.size());
    if (false_positives_on_neutral.empty()) std::printf("no findings");
    for (const auto& [name, count] : false_positives_on_neutral) std::printf("%s=%d ", name.c_str(), count);
    std::printf("\nNeutral text over lines (%zu tables, lists, log lines and wrapped prose with numbers on consecutive "
                "lines): ", lines.size());
    if (false_positives_on_lines.empty()) std::printf("no findings");
    for (const auto& [name, count] : false_positives_on_lines) std::printf("%s=%d ", name.c_str(), count);
    std::printf("\n\nTargets: recall >= 0.99 on valid values, near misses flagged <= 0.01. Detectors below target: %d\n",
                below_target);
    return 0;
}
