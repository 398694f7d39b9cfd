#pragma once
// Identifiers written in lower case, as people type them and OCR reads them: an IBAN
// ("de89 3704 0044 0532 0130 00"), a Spanish DNI or NIE ("12345678z", "x1234567l"), a UK National
// Insurance number ("ab123456c", "ab 12 34 56 c") and an Italian fiscal code ("rssmra85t10a562s").
// Their patterns are written in capitals, and the digit-dense ones run only in windows that stop at
// lower-case letters (DetectorSet::dense_window): widening those windows over prose would cost every
// text with numbers. So these forms are found from the runs of digits they hold, in the pass the
// detector set already makes over a text's digits (DigitRunFinder): a run with the value's letters
// where they belong around it. Each finder takes only a value with a lower-case letter (capitals are
// the patterns' to find) and returns it whole; the detector's validator, which reads letters in either
// case, decides. The check digits or letters they carry keep lower-case words from being taken for them.

#include <cstddef>
#include <string_view>

#include "policy/builtin_detectors.hpp"

namespace sovereign::policy::lower_case {

// An IBAN whose country code has a lower-case letter, at the run of digits that begins with its check
// digits: unspaced or in groups of four (apart by a space, tab or line break), letters in either case.
// Any other spacing, which capitals may have, is not read in lower case: words of prose would join it.
TextRange iban_at(std::string_view text, std::size_t run_begin, std::size_t run_end);
// A DNI of eight digits and a lower-case check letter, a dash between them or not ("12345678-z").
TextRange dni_at(std::string_view text, std::size_t run_begin, std::size_t run_end);
// A NIE with a lower-case letter: X, Y or Z, seven digits and the check letter, dashes between or not.
TextRange nie_at(std::string_view text, std::size_t run_begin, std::size_t run_end);
// A National Insurance number with a lower-case letter: two letters, three pairs of digits and a letter
// A to D, apart by single spaces or tabs or not at all.
TextRange nino_at(std::string_view text, std::size_t run_begin, std::size_t run_end);
// An Italian fiscal code with a lower-case letter, at the run of digits that begins with its year. A
// code with all seven digits replaced by letters (omocodia, rare) holds no digit, and in lower case no
// run to be found from.
TextRange codice_fiscale_at(std::string_view text, std::size_t run_begin, std::size_t run_end);

// For the streamed-answer scanner (Straddle): where a value of these forms may begin at the end of a
// buffer that the next chunk could complete, or buffer.size(). Their capitals are held back by the
// detectors' characters (may_contain); lower-case letters are not among those, as IBANs and National
// Insurance numbers take spaces and would hold back every chunk's last words.
std::size_t iban_straddle(std::string_view buffer, std::size_t from, std::size_t reach);
std::size_t nie_straddle(std::string_view buffer, std::size_t from, std::size_t reach);
std::size_t nino_straddle(std::string_view buffer, std::size_t from, std::size_t reach);

}  // namespace sovereign::policy::lower_case
