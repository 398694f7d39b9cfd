#pragma once
// Rendering a decision and its trace as text a compliance officer can paste into a report.

#include <string>

#include "policy/engine.hpp"

namespace sovereign::policy {

std::string render_explanation(const Request& request, const Decision& decision, const EvaluationTrace& trace,
                               const Policy& policy);

}  // namespace sovereign::policy
