#pragma once
// Check-digit and structure validators that confirm a pattern candidate really is the identifier it looks
// like. Each takes the matched text exactly as it appeared (separators included) and is pure.

#include <cstddef>
#include <string_view>

namespace sovereign::policy::validators {

bool luhn(std::string_view digits);
bool credit_card(std::string_view text);
// A card number written to slip past filters: every digit apart ("4 1 1 1 ..."), or groups of four
// apart by the same run of up to three of " ._/,-" or tabs ("4111 - 1111 - ...", "4111_1111_..."). The
// built-in detector only trusts it next to a context word.
bool credit_card_written_out(std::string_view text);
bool iban(std::string_view text);
// The length of an IBAN of this country (its two-letter code), in letters and digits; 0 for a country
// without IBANs or not known here.
std::size_t iban_length(std::string_view country);
bool us_ssn(std::string_view text);
bool uk_nhs(std::string_view text);
bool uk_nino(std::string_view text);
bool email(std::string_view text);
bool phone(std::string_view text);
bool ipv4(std::string_view text);
bool ipv6(std::string_view text);
bool date(std::string_view text);
bool aws_access_key(std::string_view text);
// A character of base64 (RFC 4648 section 4, padding included).
bool base64_char(char c);
// A PEM or OpenPGP armored private key: BEGIN and END labels agree, or, cut before its END line, a body
// that holds a run of base64 as long as most of a line.
bool private_key_block(std::string_view text);
bool jwt(std::string_view text);
bool github_token(std::string_view text);
bool slack_token(std::string_view text);
bool service_api_key(std::string_view text);
bool high_entropy_secret(std::string_view text);
bool de_steuer_id(std::string_view text);
bool fr_nir(std::string_view text);
bool es_dni(std::string_view text);
bool es_nie(std::string_view text);
// An Italian fiscal code, also with digits replaced by letters (omocodia): its layout, the order of the
// replacements, the day of birth and the check character.
bool it_codice_fiscale(std::string_view text);
bool nl_bsn(std::string_view text);
bool pl_pesel(std::string_view text);
bool be_national_number(std::string_view text);

// Whether day/month/year is a date of the Gregorian calendar (month 1-12).
bool valid_day(int year, int month, int day);

// Shannon entropy of the bytes, in bits per character.
double shannon_entropy(std::string_view text);

}  // namespace sovereign::policy::validators
