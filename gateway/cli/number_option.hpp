#pragma once
// A whole number given on the command line (a count, a tree size, a thread count), read the same way
// by every command. A value beyond what the option takes gets its own message naming the bound, so
// "-n 99999999999999999999" is told it is too large rather than that it is not a number.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

namespace sovereign::gateway {

// `text` as a decimal number in [min, max], or the message for the command's usage error, naming
// `what` (the option: "-n", "--threads"):
//   "-n needs a whole number, got 'ten'"
//   "-n 99999999999999999999 is too large: at most 18446744073709551615"
//   "--threads 0 is too small: at least 1"
std::variant<std::uint64_t, std::string> parse_whole_number(std::string_view what, std::string_view text,
                                                            std::uint64_t min = 0,
                                                            std::uint64_t max = std::numeric_limits<std::uint64_t>::max());

}  // namespace sovereign::gateway
