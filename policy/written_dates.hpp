#pragma once
// Dates whose month is written as a word, for the date_of_birth detector: day first ("12 March 1985",
// "12. März 1985", "1er mars 1985", "12 de marzo de 1985", "12th of March, 1985") or month first
// ("March 12, 1985"), with the months of English, German, French, Spanish, Italian, Dutch and Polish
// (full names in any case of their first letter, and English and common abbreviations).
//
// Found without vectorscan, from the year every such date ends with (`find_at_year`, called by the
// detector set's pass over a text's digits): as a pattern, the month names (three-letter
// abbreviations among them) matched inside words all over prose and took a third of the scan's speed,
// and a pass of its own over the text for years a sixth. `valid` confirms a value, and
// `straddle_start` tells the streamed-answer scanner where a date the next chunk could complete begins.
#include <cstddef>
#include <string_view>

#include "policy/builtin_detectors.hpp"

namespace sovereign::policy::written_dates {

// The date that ends with the four digits at [year, year + 4): [begin, end), or begin == npos.
TextRange find_at_year(std::string_view text, std::size_t year);
bool valid(std::string_view value);
std::size_t straddle_start(std::string_view buffer, std::size_t from, std::size_t reach);

// The longest value: a day with its ordinal and dot, "de ", the longest month name, a dot, a comma,
// "de " and a year, with the spaces between them.
inline constexpr std::size_t max_length = 48;

}  // namespace sovereign::policy::written_dates
