#pragma once
// E-mail addresses written so that a plain pattern misses them: "jane [at] example [dot] com",
// "jane(at)example(dot)com", "jane.doe@example[.]com", "jane at example dot com". The e-mail
// detector finds them (builtin_detectors.cpp), its validator reads them as the address they spell,
// and the streamed-answer scanner holds back a form a chunk cuts off.
//
// Forms of '@': "@", and "at" or "@" in brackets ([], (), {}, <>) with optional single spaces
// inside and around; the bare word " at " counts only where the domain also writes a dot as a
// word or in brackets (otherwise "work at example.com" would be an address). Forms of '.': "dot"
// or "." in brackets, and the bare word " dot ". A plain '.' is part of the name, not a form.
#include <cstddef>
#include <string>
#include <string_view>

namespace sovereign::policy::email_forms {

struct Form {
    std::size_t length = 0;  // 0: none here
    bool word = false;       // the bare word (" at ", " dot "), no brackets
};

// The form of '@' or of '.' that starts at text[pos].
Form at_sign_at(std::string_view text, std::size_t pos);
Form dot_at(std::string_view text, std::size_t pos);
// The length of the longest form that ends exactly at text[end - 1]; 0 if none does.
std::size_t at_sign_ending(std::string_view text, std::size_t end);
std::size_t dot_ending(std::string_view text, std::size_t end);

// The length of the name character (of a local part or a domain) at text[pos], 0 where none begins:
// an ASCII letter or digit, '.', '_', '%', '+' or '-'; a letter of Latin beyond ASCII, Greek,
// Cyrillic, Armenian, Hebrew or Arabic, which an address may hold (RFC 6531: "jöran@bücher.de"); or
// an apostrophe, ' or ’, between two letters or digits ("jane.o'neil"), but not one that ends a word
// before a space ("it's bob@example.com").
std::size_t name_char_at(std::string_view text, std::size_t pos);
// The length of the name character that ends at text[end - 1]; 0 where none does.
std::size_t name_char_before(std::string_view text, std::size_t end);
// The same for a domain's characters: letters (ASCII or beyond), digits, '.' and '-'.
std::size_t domain_char_at(std::string_view text, std::size_t pos);
std::size_t domain_char_before(std::string_view text, std::size_t end);

// Where the name (local part or domain) that ends at `pos` begins: name characters and dots written
// out between them ("jane [dot] doe"), at most back to `floor`.
std::size_t name_start(std::string_view text, std::size_t pos, std::size_t floor);

// The address a candidate spells, with each form replaced by its character ("jane [at] example
// [dot] com" -> "jane@example.com"); empty when it holds anything else, or uses the bare word
// " at " without writing a dot as a word or in brackets.
std::string spelled_address(std::string_view text);

// For the streamed-answer scanner: the earliest position in buffer[from, end), at most `reach`
// before the end, where an address may begin that the next chunk could complete (the local part
// before a form of '@', or the last word and a form cut off after it); buffer.size() when none.
std::size_t straddle_start(std::string_view buffer, std::size_t from, std::size_t reach);

}  // namespace sovereign::policy::email_forms
