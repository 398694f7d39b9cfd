#pragma once
// Rendering diagnostics and suggesting the closest known name for a misspelt one.

#include <span>
#include <string>
#include <string_view>

#include "policy/types.hpp"

namespace sovereign::policy {

// "FILE:LINE:COL: message"
std::string format_diagnostic(const Diagnostic& d);

// The candidate closest to `word` by edit distance, or empty when none is close enough to be a typo.
std::string closest_name(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace sovereign::policy
