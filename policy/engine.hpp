#pragma once
// The decision engine: evaluate(request, policy) -> Decision, a pure function of its inputs.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// A detector finding, located but without its value (values never leave the engine in traces).
struct TracedFinding {
    std::size_t segment = 0;
    std::string json_path;
    std::string detector;
    std::size_t begin = 0;
    std::size_t end = 0;
    bool context_found = false;
    std::size_t split_pieces = 0;  // a piece of a value split across this many segments; 0: whole here
};

// How one rule fared: matched (and why) or not (and the first condition that failed).
struct TracedRule {
    std::string rule;
    int line = 0;
    std::string mode;
    bool matched = false;
    std::string detail;
};

// The evaluation step by step, recorded only when the caller asks (explain, policy test).
struct EvaluationTrace {
    std::vector<TracedFinding> findings;
    std::vector<TracedRule> rules;
    std::vector<std::string> steps;  // class, clearance, zone and backend reasoning, in order
};

// Caps on what one request may ask the engine to scan; beyond them the request is denied, not scanned.
inline constexpr std::size_t max_request_segments = 4096;
inline constexpr std::size_t max_request_text_bytes = 32 * 1024 * 1024;

// Pure and thread-safe. A failed scan, an unknown declared class or an exceeded limit yields a deny.
Decision evaluate(const Request& request, const Policy& policy);
Decision evaluate(const Request& request, const Policy& policy, EvaluationTrace* trace);

// "[REDACTED:credit_card]": what a redacted value is replaced with, in requests and responses alike.
std::string redaction_marker(std::string_view detector);

// segment's text with the decision's redact spans for that segment replaced by markers. Tokenize spans
// are left in place: the gateway replaces them with vault tokens.
std::string apply_redactions(std::string_view text, std::span<const Span> spans, std::size_t segment);

}  // namespace sovereign::policy
