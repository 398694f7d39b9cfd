#pragma once
// Rendering a decision and its trace as text a compliance officer can paste into a report.

#include <memory>
#include <string>
#include <string_view>

#include "policy/engine.hpp"

namespace sovereign::policy {

std::string render_explanation(const Request& request, const Decision& decision, const EvaluationTrace& trace,
                               const Policy& policy);

// What the policy's `responses` part does to a model's answer for a tenant: each finding (where,
// which detector, removed or kept, and why) and the answer as the client gets it.
std::string explain_answer(const std::shared_ptr<const Policy>& policy, std::string_view tenant,
                           std::string_view answer);

}  // namespace sovereign::policy
