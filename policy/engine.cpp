#include "policy/engine.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>

#include "policy/join.hpp"
#include "policy/split_values.hpp"
#include "policy/unscanned_parts.hpp"

namespace sovereign::policy {

namespace {

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

std::vector<std::string> intersect(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::string> out;
    for (const auto& item : a)
        if (contains(b, item)) out.push_back(item);
    return out;
}

// A table of `size` values, on the stack while it has at most N (a request's texts, a policy's
// detectors: a few, a few dozen), on the heap beyond: evaluate() runs for every request.
template <class T, std::size_t N>
class InlineTable {
public:
    explicit InlineTable(std::size_t size) : heap_(size > N ? size : 0), size_(size) {
        data_ = size > N ? heap_.data() : inline_.data();
    }
    InlineTable(const InlineTable&) = delete;
    InlineTable& operator=(const InlineTable&) = delete;
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    std::size_t size() const { return size_; }

private:
    std::array<T, N> inline_{};
    std::vector<T> heap_;
    std::size_t size_;
    T* data_;
};

// Per detector index: detections counted, or whether a matched rule redacts (tokenizes) them.
template <class T>
using PerDetector = InlineTable<T, 128>;

struct Facts {
    const Request& request;
    const Policy& policy;
    PerDetector<int> counts;  // per detector index
    int data_class = 0;
};

// Whether the rule's conditions hold, without explaining: the common case of a rule that does not match.
bool conditions_hold_quietly(const RuleConditions& when, const Facts& facts) {
    if (!when.tenants.empty() && !contains(when.tenants, facts.request.tenant)) return false;
    if (!when.models.empty() && !contains(when.models, facts.request.model)) return false;
    if (!when.endpoints.empty() && !contains(when.endpoints, facts.request.endpoint)) return false;
    if (!when.detected.empty() &&
        std::none_of(when.detected.begin(), when.detected.end(), [&](std::size_t d) { return facts.counts[d] > 0; }))
        return false;
    if (when.class_at_least && facts.data_class < *when.class_at_least) return false;
    if (when.class_at_most && facts.data_class > *when.class_at_most) return false;
    return true;
}

// Whether the rule's conditions hold; `why` says which held, or which one failed first.
bool conditions_hold(const RuleConditions& when, const Facts& facts, std::string& why) {
    // The conditions that held, joined with "; " as they are found (no list of them is kept).
    why.clear();
    const auto held = [&why](const auto&... parts) {
        if (!why.empty()) why += "; ";
        (why += ... += parts);
    };
    const auto& policy = facts.policy;
    if (!when.tenants.empty()) {
        if (!contains(when.tenants, facts.request.tenant)) {
            why = "tenant '" + facts.request.tenant + "' is not one of " + join(when.tenants);
            return false;
        }
        held("tenant is ", facts.request.tenant);
    }
    if (!when.models.empty()) {
        if (!contains(when.models, facts.request.model)) {
            why = "model '" + facts.request.model + "' is not one of " + join(when.models);
            return false;
        }
        held("model is ", facts.request.model);
    }
    if (!when.endpoints.empty()) {
        if (!contains(when.endpoints, facts.request.endpoint)) {
            why = "endpoint '" + facts.request.endpoint + "' is not one of " + join(when.endpoints);
            return false;
        }
        held("endpoint is ", facts.request.endpoint);
    }
    if (!when.detected.empty()) {
        std::vector<std::string> found;
        std::vector<std::string> wanted;
        for (const auto d : when.detected) {
            const auto& name = policy.detectors().detectors()[d].name;
            wanted.push_back(name);
            if (facts.counts[d] > 0) found.push_back(name + " (" + std::to_string(facts.counts[d]) + ")");
        }
        if (found.empty()) {
            why = "none of " + join(wanted) + " was detected";
            return false;
        }
        held("detected ", join(found));
    }
    const auto& class_name = policy.class_name(facts.data_class);
    if (when.class_at_least) {
        if (facts.data_class < *when.class_at_least) {
            why = "data class " + class_name + " is below " + policy.class_name(*when.class_at_least);
            return false;
        }
        held("data class ", class_name, " is at least ", policy.class_name(*when.class_at_least));
    }
    if (when.class_at_most) {
        if (facts.data_class > *when.class_at_most) {
            why = "data class " + class_name + " is above " + policy.class_name(*when.class_at_most);
            return false;
        }
        held("data class ", class_name, " is at most ", policy.class_name(*when.class_at_most));
    }
    if (!when.zones.empty()) held("it is about sending to zones ", join(when.zones));
    if (why.empty()) why = "the rule has no conditions: it applies to every request";
    return true;
}

Decision deny(Decision d, std::string rule, std::string message, EvaluationTrace* trace) {
    d.action = Action::deny;
    d.deciding_rule = std::move(rule);
    d.message = std::move(message);
    d.spans.clear();
    d.allowed_zones.clear();
    d.allowed_backends.clear();
    if (trace != nullptr) trace->steps.push_back("denied by " + d.deciding_rule + ": " + d.message);
    return d;
}

// Sorted, non-overlapping spans; where two overlap, the union is redacted if either asked for redaction.
std::vector<Span> merge_spans(std::vector<Span> spans) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.segment != b.segment ? a.segment < b.segment : a.begin < b.begin;
    });
    std::vector<Span> out;
    for (auto& s : spans) {
        if (!out.empty() && out.back().segment == s.segment && s.begin < out.back().end) {
            auto& last = out.back();
            last.end = std::max(last.end, s.end);
            if (s.kind == TransformKind::redact) last.kind = TransformKind::redact;
            continue;
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

std::string redaction_marker(std::string_view detector) { return "[REDACTED:" + std::string(detector) + "]"; }

std::string apply_redactions(std::string_view text, std::span<const Span> spans, std::size_t segment) {
    std::string out;
    std::size_t at = 0;
    for (const auto& s : spans) {
        if (s.segment != segment || s.kind != TransformKind::redact || s.begin < at || s.end > text.size()) continue;
        out.append(text.substr(at, s.begin - at));
        out += redaction_marker(s.detector);
        at = s.end;
    }
    out.append(text.substr(at));
    return out;
}

Decision evaluate(const Request& request, const Policy& policy) { return evaluate(request, policy, nullptr); }

Decision evaluate(const Request& request, const Policy& policy, EvaluationTrace* trace) {
    Decision d;
    d.policy_version = policy.version();
    d.data_class = policy.class_name(0);
    d.residual_class = d.data_class;
    const auto& detectors = policy.detectors().detectors();

    std::size_t total = 0;
    for (const auto& s : request.segments) total += s.text.size();
    if (request.segments.size() > max_request_segments || total > max_request_text_bytes)
        return deny(std::move(d), "request-limits",
                    "the request has " + std::to_string(request.segments.size()) + " text parts and " +
                        std::to_string(total) + " bytes of text; the policy engine scans at most " +
                        std::to_string(max_request_segments) + " parts and " +
                        std::to_string(max_request_text_bytes) + " bytes",
                    trace);

    // Detection: one pass per text segment over every detector of the policy, then the seams between
    // segments where a value may have been split.
    InlineTable<std::vector<Detection>, 16> found(request.segments.size());
    Facts facts{request, policy, PerDetector<int>(detectors.size()), 0};
    auto detection_failed = [&](const ScanFailure& failure) {
        return deny(std::move(d), "detector:" + failure.detector,
                    "sensitive-data detection failed (" + failure.detector + ": " + failure.message +
                        "); the request was not forwarded",
                    trace);
    };
    auto count = [&](std::size_t detector) {
        ++facts.counts[detector];
        facts.data_class = std::max(facts.data_class, detectors[detector].class_level);
    };
    ScanFailure failure;
    for (std::size_t i = 0; i < request.segments.size(); ++i) {
        if (!policy.detectors().scan(request.segments[i].text, 0, found[i], failure)) return detection_failed(failure);
        for (const auto& f : found[i]) {
            count(f.detector);
            if (trace != nullptr)
                trace->findings.push_back({i, request.segments[i].json_path, detectors[f.detector].name, f.begin,
                                           f.end, f.context_found});
        }
    }
    std::vector<SplitValue> split;
    if (!find_split_values(request.segments, policy.detectors(), split, failure)) return detection_failed(failure);
    for (const auto& value : split) {
        count(value.detector);
        for (const auto& piece : value.pieces) {
            found[piece.segment].push_back({value.detector, piece.begin, piece.end, value.context_found});
            if (trace != nullptr)
                trace->findings.push_back({piece.segment, request.segments[piece.segment].json_path,
                                           detectors[value.detector].name, piece.begin, piece.end,
                                           value.context_found, value.pieces.size()});
        }
    }
    for (std::size_t i = 0; i < detectors.size(); ++i)
        if (facts.counts[i] > 0) d.detector_counts[detectors[i].name] = facts.counts[i];

    int declared = -1;
    if (!request.declared_class.empty()) {
        declared = policy.declared_class_level(request.declared_class);
        if (declared < 0)
            return deny(std::move(d), "data-class-header",
                        "the declared data class '" + request.declared_class + "' is not one of: " +
                            [&] {
                                std::string s;
                                for (const auto& c : policy.model().classes) s += (s.empty() ? "" : ", ") + c;
                                return s;
                            }() + " (in any letter case, but exactly where two differ only by case)",
                        trace);
        if (trace != nullptr && declared > facts.data_class)
            trace->steps.push_back("the application declared class " + policy.class_name(declared) +
                                   ", higher than detected " + policy.class_name(facts.data_class) + "; it applies");
        facts.data_class = std::max(facts.data_class, declared);
    }
    const TenantDef* tenant = policy.find_tenant(request.tenant);
    // Parts no detector can read go out only where the tenant lets their type through, and then count as
    // its unscanned_class at least: the class decides clearance, rules and zones as for detected data.
    int unscanned = -1;
    std::string unscanned_note;  // said in denials that the class decided, since no detector explains it
    if (!request.unscanned_parts.empty()) {
        if (auto refusal = refuse_unscanned(request.unscanned_parts, policy, request.tenant))
            return deny(std::move(d), "unscanned-part", std::move(refusal->message), trace);
        unscanned = tenant->unscanned_class;
        d.unscanned_class = policy.class_name(unscanned);
        std::vector<std::string> parts;
        for (const auto& part : request.unscanned_parts) {
            ++d.unscanned_counts[part.type];
            parts.push_back(part.json_path + " (" + part.type + ")");
        }
        unscanned_note = "; unscanned part(s) " + join(parts) + " count as class " + d.unscanned_class;
        if (trace != nullptr)
            trace->steps.push_back("let through unscanned, as tenant " + tenant->name + " allows " +
                                   join(tenant->allow_unscanned) + " parts: " + join(parts) + "; they count as class " +
                                   d.unscanned_class +
                                   (unscanned > facts.data_class ? ", above the class of the rest of the request" : ""));
        facts.data_class = std::max(facts.data_class, unscanned);
    }
    d.data_class = policy.class_name(facts.data_class);
    d.residual_class = d.data_class;  // until transforms are known: a request denied before them leaves nothing
    if (trace != nullptr) trace->steps.push_back("data class: " + d.data_class);

    const int clearance = tenant != nullptr ? tenant->clearance : policy.model().default_clearance;
    d.capture_payload = tenant != nullptr && tenant->capture_payload;

    // Rules, in file order. Every matching rule counts; the most restrictive outcome wins.
    const RuleDef* denying = nullptr;
    const RuleDef* allowing = nullptr;
    // The zones every restricting rule allows: the first such rule's own list, until a second one
    // narrows it into `narrowed_zones`.
    const std::vector<std::string>* zone_limit = nullptr;
    std::vector<std::string> narrowed_zones;
    std::optional<std::vector<std::string>> backend_limit;
    std::string zone_limiters;  // rules that restrict the request to zones (allow or restrict), in words: "a, b"
    std::vector<std::string> zone_excluders;  // deny rules about zones that kept the request from some
    PerDetector<char> redact(detectors.size());
    PerDetector<char> tokenize(detectors.size());
    std::vector<const RuleDef*> zone_rules;  // matched rules about sending to particular zones
    const auto& rules = policy.model().rules;
    for (std::size_t r = 0; r < rules.size(); ++r) {
        const RuleDef& rule = rules[r];
        const std::string_view mode = mode_name(rule.mode);  // a string only for a trace or a matched rule
        if (tenant != nullptr && contains(tenant->exempt_from, rule.name)) {
            if (trace != nullptr)
                trace->rules.push_back({rule.name, rule.line, std::string(mode), false, "tenant " + tenant->name + " is exempt"});
            continue;
        }
        std::string why;
        // The explanation is only built when someone will read it: a trace, or a matched rule's reason.
        const bool matched = (trace == nullptr && !conditions_hold_quietly(rule.when, facts))
                                 ? false
                                 : conditions_hold(rule.when, facts, why);
        if (trace != nullptr) trace->rules.push_back({rule.name, rule.line, std::string(mode), matched, why});
        if (!matched) continue;
        d.matched.push_back({rule.name, std::string(mode), policy.rule_effect(r), std::move(why), rule.line});
        if (rule.mode != RuleMode::enforce) continue;
        if (!rule.when.zones.empty()) {
            zone_rules.push_back(&rule);  // applied once the zones the request may go to are known
            continue;
        }
        if (rule.action == Action::deny && denying == nullptr) denying = &rule;
        if (rule.action == Action::allow && allowing == nullptr) allowing = &rule;
        if (!rule.zones.empty()) {
            if (zone_limit == nullptr) {
                zone_limit = &rule.zones;
            } else {
                std::vector<std::string> narrowed = intersect(*zone_limit, rule.zones);
                narrowed_zones = std::move(narrowed);
                zone_limit = &narrowed_zones;
            }
            if (!zone_limiters.empty()) zone_limiters += ", ";
            zone_limiters += rule.name;
        }
        if (!rule.backends.empty())
            backend_limit = backend_limit ? intersect(*backend_limit, rule.backends) : rule.backends;
        for (const auto i : rule.redact) redact[i] = 1;
        for (const auto i : rule.tokenize) tokenize[i] = 1;
        d.capture_payload = d.capture_payload || rule.capture_payload;
    }

    if (denying != nullptr) return deny(std::move(d), denying->name, denying->message, trace);
    if (allowing == nullptr)
        return deny(std::move(d), "default-deny",
                    "no rule of the policy allows this request (tenant " + request.tenant + ", model " +
                        request.model + ", data class " + d.data_class + unscanned_note + ")",
                    trace);

    // Rules about destination zones: a deny keeps the request from its zones; transforms apply while
    // one of their zones may still receive the request (transforms come before routing, so they
    // apply to the request whichever of the remaining zones it then goes to).
    std::map<std::string, std::string> excluded;  // zone -> the rule that keeps the request from it
    auto may_receive = [&](const std::string& zone) {
        return (!zone_limit || contains(*zone_limit, zone)) &&
               (tenant == nullptr || tenant->zones.empty() || contains(tenant->zones, zone)) && !excluded.contains(zone);
    };
    for (const RuleDef* rule : zone_rules) {
        if (rule->action != Action::deny) continue;
        bool excluded_any = false;
        for (const auto& zone : rule->when.zones) {
            if (!may_receive(zone)) continue;
            excluded.emplace(zone, rule->name);
            excluded_any = true;
            if (trace != nullptr) trace->steps.push_back("zone " + zone + " excluded by " + rule->name);
        }
        if (excluded_any) zone_excluders.push_back(rule->name);
    }
    for (const RuleDef* rule : zone_rules) {
        if (rule->action == Action::deny) continue;
        if (std::none_of(rule->when.zones.begin(), rule->when.zones.end(), may_receive)) {
            if (trace != nullptr)
                trace->steps.push_back(rule->name + " does not apply: none of zones " + join(rule->when.zones) +
                                       " may receive the request");
            continue;
        }
        for (const auto i : rule->redact) redact[i] = 1;
        for (const auto i : rule->tokenize) tokenize[i] = 1;
        d.capture_payload = d.capture_payload || rule->capture_payload;
    }

    // Transforms: redaction wins over tokenization where both were asked for.
    std::vector<Span> spans;
    // Neither a declared class nor unscanned parts are lowered by transforms.
    int residual = std::max({declared, unscanned, 0});
    for (std::size_t i = 0; i < found.size(); ++i) {
        for (const auto& f : found[i]) {
            const auto& det = detectors[f.detector];
            if (redact[f.detector] != 0) spans.push_back({i, f.begin, f.end, det.name, TransformKind::redact});
            else if (tokenize[f.detector] != 0) spans.push_back({i, f.begin, f.end, det.name, TransformKind::tokenize});
            else residual = std::max(residual, det.class_level);
        }
    }
    d.spans = merge_spans(std::move(spans));
    d.residual_class = policy.class_name(residual);
    if (trace != nullptr && residual != facts.data_class)
        trace->steps.push_back("after redaction and tokenization the data leaving is of class " + d.residual_class);

    if (residual > clearance)
        return deny(std::move(d), "clearance",
                    "data of class " + d.residual_class + " exceeds the clearance of tenant " + request.tenant +
                        " (" + policy.class_name(clearance) + ")" + unscanned_note,
                    trace);
    if (trace != nullptr)
        trace->steps.push_back("tenant " + request.tenant + " is cleared up to " + policy.class_name(clearance));

    // Residency: zones every restricting rule and the tenant accept, and that may hold data of this class.
    std::vector<std::string> too_low;  // zones that may not hold data of this class
    for (const auto& zone : policy.model().zones) {
        if (!may_receive(zone.name)) {
            if (trace != nullptr) {
                // Deny rules about zones have said so above; the other reasons are said here.
                if (zone_limit && !contains(*zone_limit, zone.name))
                    trace->steps.push_back("zone " + zone.name + " excluded: rule(s) " + zone_limiters +
                                           " restrict the request to zones " + join(*zone_limit));
                else if (tenant != nullptr && !tenant->zones.empty() && !contains(tenant->zones, zone.name))
                    trace->steps.push_back("zone " + zone.name + " excluded: tenant " + tenant->name +
                                           " may only send to zones " + join(tenant->zones));
            }
            continue;
        }
        if (zone.max_class < residual) {
            too_low.push_back(zone.name);
            if (trace != nullptr)
                trace->steps.push_back("zone " + zone.name + " excluded: it may hold at most " +
                                       policy.class_name(zone.max_class));
            continue;
        }
        d.allowed_zones.push_back(zone.name);
    }
    if (d.allowed_zones.empty()) {
        // A rule that keeps the request from zones decided it; otherwise residency as a whole did (the
        // allow rule restricting the request to zones did not deny it, the combination did).
        std::vector<std::string> reasons;
        if (!zone_limiters.empty())
            reasons.push_back("rule(s) " + zone_limiters + " restrict it to zones " +
                              (zone_limit->empty() ? std::string("that do not overlap") : join(*zone_limit)));
        if (!zone_excluders.empty()) reasons.push_back("rule(s) " + join(zone_excluders) + " keep it from some zones");
        if (tenant != nullptr && !tenant->zones.empty())
            reasons.push_back("tenant " + tenant->name + " may only send to zones " + join(tenant->zones));
        if (!too_low.empty())
            reasons.push_back("zones " + join(too_low) + " may not hold data of class " + d.residual_class +
                              unscanned_note);
        return deny(std::move(d), zone_excluders.empty() ? "residency" : zone_excluders.back(),
                    "no zone may receive this request: " + join(reasons, "; "), trace);
    }
    if (backend_limit) {
        if (backend_limit->empty())
            return deny(std::move(d), "residency", "the matching rules restrict the request to backends that do "
                                                   "not overlap, so no backend may receive it",
                        trace);
        d.allowed_backends = *backend_limit;
    }
    d.action = Action::allow;
    d.deciding_rule = allowing->name;
    if (trace != nullptr)
        trace->steps.push_back("allowed by " + allowing->name + " to zones " + join(d.allowed_zones) +
                               (d.allowed_backends.empty() ? "" : " (backends " + join(d.allowed_backends) + ")"));
    return d;
}

}  // namespace sovereign::policy
