#include "gateway/cli/number_option.hpp"

#include <charconv>
#include <system_error>

namespace sovereign::gateway {

std::variant<std::uint64_t, std::string> parse_whole_number(std::string_view what, std::string_view text,
                                                            std::uint64_t min, std::uint64_t max) {
  const std::string quoted = "'" + std::string(text) + "'";
  // Digits only: from_chars alone would also take a leading '-' for signed types, and stop early
  // at a '+', a space or a decimal point without saying so.
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::string(what) + " needs a whole number, got " + quoted;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range || (error == std::errc() && value > max))
    return std::string(what) + " " + std::string(text) + " is too large: at most " + std::to_string(max);
  if (error != std::errc() || end != text.data() + text.size())
    return std::string(what) + " needs a whole number, got " + quoted;
  if (value < min) return std::string(what) + " " + std::string(text) + " is too small: at least " + std::to_string(min);
  return value;
}

}  // namespace sovereign::gateway
