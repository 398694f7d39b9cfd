#pragma once
// The endpoints a request is for, as a rule's `endpoints` condition names them.
#include <algorithm>
#include <array>
#include <string_view>

#include "policy/policy.hpp"

namespace sovereign::policy {

inline constexpr std::array<std::string_view, 3> request_endpoints{"chat.completions", "completions", "embeddings"};

// Whether a rule's `endpoints` condition holds for every request: it has none, or it names every
// endpoint, which lint's analyses must read as none (a deny naming all three shadows what one without
// the condition would).
inline bool every_endpoint(const RuleConditions& when) {
    return when.endpoints.empty() ||
           std::all_of(request_endpoints.begin(), request_endpoints.end(), [&](std::string_view endpoint) {
               return std::find(when.endpoints.begin(), when.endpoints.end(), endpoint) != when.endpoints.end();
           });
}

}  // namespace sovereign::policy
