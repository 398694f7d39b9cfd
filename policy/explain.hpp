#pragma once
// Rendering a decision and its trace as text a compliance officer can paste into a report.

#include <memory>
#include <string>
#include <string_view>

#include "policy/engine.hpp"
#include "policy/response_scanner.hpp"

namespace sovereign::policy {

std::string render_explanation(const Request& request, const Decision& decision, const EvaluationTrace& trace,
                               const Policy& policy);

// What the policy's `responses` part does to a model's answer for a tenant: each finding (where,
// which detector, removed or kept, and why) and the answer as the client gets it. A tool call's
// arguments (AnswerText::json_text) are read as the gateway reads them, their string escapes resolved;
// positions are bytes of the answer as written.
std::string explain_answer(const std::shared_ptr<const Policy>& policy, std::string_view tenant,
                           std::string_view answer, AnswerText form = AnswerText::prose);

}  // namespace sovereign::policy
