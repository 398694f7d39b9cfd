#include "policy/explain.hpp"

#include <algorithm>
#include <sstream>

#include "policy/encoded_text.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

namespace {

// The findings in an answer, at the bytes of the answer as written. Arguments are scanned as the
// gateway scans them, with their string escapes resolved (ResponseScanner); each finding is then
// placed on the whole characters and escapes that wrote it, which is what the gateway replaces.
bool find_in_answer(const Policy& policy, std::string_view answer, AnswerText form, std::vector<Detection>& found,
                    ScanFailure& failure) {
    // Bytes that begin no character are read as U+001A, one for one, as the gateway reads them.
    std::string well_formed;
    if (form == AnswerText::prose || answer.find('\\') == std::string_view::npos)
        return policy.detectors().scan(with_ill_formed_replaced(answer, well_formed), 0, found, failure);
    const UnescapedText readable = unescape_json_text(answer);
    if (!policy.detectors().scan(with_ill_formed_replaced(readable.text, well_formed), 0, found, failure)) return false;
    for (Detection& f : found) {
        f.begin = readable.source[f.begin];
        f.end = written_end(readable, f.end);
    }
    return true;
}

}  // namespace

std::string render_explanation(const Request& request, const Decision& decision, const EvaluationTrace& trace,
                               const Policy& policy) {
    std::ostringstream out;
    const auto& m = policy.model();
    const bool allowed = decision.action == Action::allow;
    out << "Decision: " << (allowed ? "ALLOW" : "DENY") << " (deciding rule: " << decision.deciding_rule;
    for (const auto& r : m.rules)
        if (r.name == decision.deciding_rule) out << ", " << m.file_label << " line " << r.line;
    out << ")\n";
    if (!allowed) out << "Message to the application: " << decision.message << "\n";
    out << "Policy: " << (m.name.empty() ? m.file_label : m.name) << ", version sha256:" << decision.policy_version
        << "\n";
    out << "Request: tenant " << request.tenant << ", model " << (request.model.empty() ? "(none)" : request.model)
        << ", endpoint " << request.endpoint << ", declared class "
        << (request.declared_class.empty() ? "(none)" : request.declared_class) << ", " << request.segments.size()
        << " text part(s)\n";

    out << "\nSensitive data found (values are not shown):\n";
    if (trace.findings.empty()) out << "  nothing\n";
    for (const auto& f : trace.findings)
        out << "  - " << f.detector << " in " << f.json_path << ", bytes " << f.begin << "-" << f.end
            << (f.split_pieces != 0 ? " (one of " + std::to_string(f.split_pieces) + " pieces of a value split across text parts)" : "")
            << (f.context_found ? " (a context word was nearby)" : "") << "\n";
    if (!request.unscanned_parts.empty()) {
        out << "\nParts no detector can read" << (decision.unscanned_class.empty() ? "" : ", let through unscanned")
            << ":\n";
        for (const auto& part : request.unscanned_parts)
            out << "  - " << (part.type.empty() ? std::string("a part without a type") : part.type) << " in "
                << part.json_path
                << (decision.unscanned_class.empty() ? std::string() : ", counted as class " + decision.unscanned_class)
                << "\n";
    }
    out << "Data class: " << decision.data_class;
    if (decision.residual_class != decision.data_class)
        out << " (after transforms, the data leaving is " << decision.residual_class << ")";
    out << "\n";

    out << "\nRules, in the order of the file (every matching rule counts; the most restrictive outcome wins):\n";
    if (trace.rules.empty()) out << "  no rule was evaluated\n";
    for (const auto& r : trace.rules) {
        out << "  " << (r.matched ? "[matched]  " : "[no match] ") << "line " << r.line << "  " << r.rule;
        if (r.mode != "enforce") out << " (" << r.mode << ": recorded, not enforced)";
        out << ": " << r.detail;
        if (r.matched) {
            for (const auto& match : decision.matched)
                if (match.rule == r.rule) out << " -> " << match.effect;
        }
        out << "\n";
    }

    out << "\nReasoning:\n";
    for (const auto& step : trace.steps) out << "  - " << step << "\n";

    if (allowed) {
        out << "\nOutcome:\n  zones: ";
        for (std::size_t i = 0; i < decision.allowed_zones.size(); ++i) out << (i ? ", " : "") << decision.allowed_zones[i];
        out << "\n  backends: ";
        if (decision.allowed_backends.empty()) out << "any in those zones";
        for (std::size_t i = 0; i < decision.allowed_backends.size(); ++i)
            out << (i ? ", " : "") << decision.allowed_backends[i];
        out << "\n  transforms:" << (decision.spans.empty() ? " none" : "") << "\n";
        for (const auto& s : decision.spans)
            out << "    - " << (s.kind == TransformKind::redact ? "redact " : "tokenize ") << s.detector << " in "
                << request.segments[s.segment].json_path << ", bytes " << s.begin << "-" << s.end << "\n";
        out << "  payload capture for auditors: " << (decision.capture_payload ? "yes" : "no") << "\n";
    } else if (decision.capture_payload) {
        // The gateway seals a denied request too where its tenant or a matching rule asks for captures.
        out << "\nOutcome:\n  payload capture for auditors: yes (the request is sealed before it is refused)\n";
    }
    return out.str();
}

std::string explain_answer(const std::shared_ptr<const Policy>& policy, std::string_view tenant,
                           std::string_view answer, AnswerText form) {
    std::ostringstream out;
    const auto& m = policy->model();
    out << (form == AnswerText::json_text ? "Tool call arguments" : "Answer") << " for tenant " << tenant << " ("
        << answer.size() << " bytes" << (form == AnswerText::json_text ? ", read as JSON text" : "") << "), policy "
        << (m.name.empty() ? m.file_label : m.name) << ", version sha256:" << policy->version() << "\n";
    const std::vector<char> redacted = policy->redacted_in_answers(tenant);
    const auto* tenant_def = policy->find_tenant(tenant);
    std::vector<Detection> found;
    ScanFailure failure;
    if (!find_in_answer(*policy, answer, form, found, failure)) {
        out << "The answer could not be scanned (" << failure.detector << ": " << failure.message
            << "); the gateway withholds such an answer (502 response_check_failed).\n";
        return out.str();
    }
    out << "\nSensitive data found in the answer:\n";
    if (found.empty()) out << "  nothing\n";
    const auto& detectors = policy->detectors().detectors();
    // Findings that overlap one removed go with it (answer_removals): say so, since the delivered
    // text alone would not show which finding a marker stands for.
    const std::vector<AnswerRemoval> removals = answer_removals(found, redacted);
    const auto removal_over = [&](const Detection& f) -> const AnswerRemoval* {
        for (const AnswerRemoval& r : removals)
            if (r.begin < f.end && f.begin < r.end) return &r;
        return nullptr;
    };
    const auto marker_over = [&](const AnswerRemoval& r) {
        return redaction_marker(detectors[r.detector].name) + " over bytes " + std::to_string(r.begin) + "-" +
               std::to_string(r.end);
    };
    for (const auto& f : found) {
        const auto& name = detectors[f.detector].name;
        out << "  - " << name << ", bytes " << f.begin << "-" << f.end << ": ";
        const AnswerRemoval* removal = removal_over(f);
        if (redacted[f.detector] == 0) {
            out << "kept (neither responses.redact nor the tenant's redact_in_responses names " << name << ")";
            if (removal != nullptr)
                out << ", but bytes " << std::max(f.begin, removal->begin) << "-" << std::min(f.end, removal->end)
                    << " of it go with the " << marker_over(*removal) << ", which it overlaps";
            out << "\n";
            continue;
        }
        const auto& everyone = m.redact_in_responses;
        const bool for_everyone = std::find(everyone.begin(), everyone.end(), f.detector) != everyone.end();
        out << "removed ("
            << (for_everyone || tenant_def == nullptr ? std::string("responses: redact")
                                                      : "tenant " + std::string(tenant) + ": redact_in_responses")
            << ")";
        if (removal != nullptr && (removal->begin != f.begin || removal->end != f.end))
            out << ", with what it overlaps, as one " << marker_over(*removal);
        out << "\n";
    }
    ResponseScanner scanner(policy, tenant, form);
    const std::string delivered = scanner.complete(answer);
    out << "\nThe client gets:\n" << delivered << "\n";
    return out.str();
}

}  // namespace sovereign::policy
