#pragma once
// Letter case, compared the way Unicode defines it (simple case folding), for the letters of the
// languages of Europe: "Überweisung" and "überweisung", "TÉLÉPHONE" and "téléphone", "ΣΎΜΒΑΣΗ" and
// "σύμβαση", "ДОГОВОР" and "договор" are the same word. Folding maps each capital to its small
// letter, and a few small letters that have two forms to one of them (final sigma to sigma, long s
// to s). One character folds to one character, so "STRASSE" stays apart from "straße" (only the
// capital sharp s folds to the small one). Covered: Latin (with its Extended blocks), Greek,
// Cyrillic, and the Ohm, Kelvin and Angstrom signs; other characters are kept as they are.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sovereign::policy {

// The folded code point of `cp`; `cp` itself where it has none.
std::uint32_t fold_case(std::uint32_t cp);

// Every code point that folds to another, with the one it folds to (to build lookup tables from).
std::vector<std::pair<std::uint32_t, std::uint32_t>> case_fold_pairs();

// The character at text[at] folded, as UTF-8, and how many bytes of text it took; a byte that begins
// no well-formed character is taken alone, as it is.
struct FoldedCharacter {
    char bytes[4] = {};
    std::size_t size = 0;  // of bytes
    std::size_t read = 0;  // from text
    std::string_view view() const { return {bytes, size}; }
};
FoldedCharacter fold_character(std::string_view text, std::size_t at);

// `text` with every letter folded (ASCII A-Z to a-z too), appended to `out`. Bytes that do not
// form a well-formed UTF-8 character are kept as they are.
void append_case_folded(std::string_view text, std::string& out);
std::string case_folded(std::string_view text);

}  // namespace sovereign::policy
