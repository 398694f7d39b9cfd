#include "policy/lint.hpp"

#include <algorithm>

#include "policy/diagnostic.hpp"
#include "policy/join.hpp"
#include "policy/quoted_texts.hpp"
#include "policy/syntax_recovery.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::policy {

namespace {

template <typename T>
bool contains(const std::vector<T>& list, const T& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// True when every request matching `narrow` on this condition also matches `broad` on it.
template <typename T>
bool covered(const std::vector<T>& broad, const std::vector<T>& narrow) {
    if (broad.empty()) return true;
    if (narrow.empty()) return false;
    return std::all_of(narrow.begin(), narrow.end(), [&](const T& item) { return contains(broad, item); });
}

// The lowest data class a request matching these conditions can have: a request in which one of the
// `detected` detectors found something is at least of that detector's class.
int lowest_class(const RuleConditions& when, const Policy& policy) {
    int lowest = when.class_at_least.value_or(0);
    if (!when.detected.empty()) {
        int least_detected = static_cast<int>(policy.model().classes.size()) - 1;
        for (const auto d : when.detected)
            least_detected = std::min(least_detected, policy.detectors().detectors()[d].class_level);
        lowest = std::max(lowest, least_detected);
    }
    return lowest;
}

bool implies(const RuleConditions& narrow, const RuleConditions& broad, const Policy& policy) {
    const int highest_class = static_cast<int>(policy.model().classes.size()) - 1;
    const int narrow_min = lowest_class(narrow, policy);
    const int narrow_max = narrow.class_at_most.value_or(highest_class);
    return covered(broad.tenants, narrow.tenants) && covered(broad.models, narrow.models) &&
           covered(broad.endpoints, narrow.endpoints) && covered(broad.detected, narrow.detected) &&
           broad.class_at_least.value_or(0) <= narrow_min && broad.class_at_most.value_or(highest_class) >= narrow_max;
}

}  // namespace

std::vector<Diagnostic> analyse_policy(const Policy& policy, const std::vector<BackendInfo>* backends,
                                       const ReadCleanly* read) {
    std::vector<Diagnostic> out;
    const auto& m = policy.model();
    // Of a policy that did not load, only what was read without a problem is analysed: a finding about
    // a rule, tenant or zone whose reading went wrong (or that depends on every rule, tenant or zone
    // when one of them did) could be false.
    const auto clean = [](const std::vector<bool>& items, std::size_t i) { return items.size() <= i || items[i]; };
    const auto all_clean = [](const std::vector<bool>& items, bool every) {
        return every && std::all_of(items.begin(), items.end(), [](bool item) { return item; });
    };
    const auto rule_clean = [&](std::size_t i) { return read == nullptr || clean(read->rules, i); };
    const auto tenant_clean = [&](std::size_t i) { return read == nullptr || clean(read->tenants, i); };
    const auto zone_clean = [&](std::size_t i) { return read == nullptr || clean(read->zones, i); };
    const bool every_rule = read == nullptr || all_clean(read->rules, read->every_rule);
    const bool every_zone = read == nullptr || all_clean(read->zones, read->every_zone);
    const bool every_exemption = read == nullptr || (read->exemptions && read->every_tenant);
    const bool detectors = read == nullptr || read->detectors;  // their classes decide what a rule can match
    // Whether a tenant the later rule applies to is exempt from the earlier rule (and not from the
    // later one): its requests reach the later rule. Tenants the policy does not list are exempt from
    // nothing.
    auto escapes = [&](const RuleDef& earlier, const RuleDef& later) {
        return std::any_of(m.tenants.begin(), m.tenants.end(), [&](const TenantDef& t) {
            return contains(t.exempt_from, earlier.name) && !contains(t.exempt_from, later.name) &&
                   (later.when.tenants.empty() || contains(later.when.tenants, t.name));
        });
    };

    for (std::size_t i = 0; i < m.rules.size(); ++i) {
        const auto& rule = m.rules[i];
        if (!rule_clean(i) || !detectors) continue;
        const std::size_t before = out.size();
        if (rule.when.class_at_least && rule.when.class_at_most && *rule.when.class_at_least > *rule.when.class_at_most)
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: class_at_least " +
                               policy.class_name(*rule.when.class_at_least) + " is above class_at_most " +
                               policy.class_name(*rule.when.class_at_most)});
        if (rule.when.class_at_most && lowest_class(rule.when, policy) > *rule.when.class_at_most &&
            !(rule.when.class_at_least && *rule.when.class_at_least > *rule.when.class_at_most))
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: a request in which one of its detected "
                           "detectors finds something is at least of class " +
                               policy.class_name(lowest_class(rule.when, policy)) + ", above class_at_most " +
                               policy.class_name(*rule.when.class_at_most)});
        if (out.size() != before) continue;  // a rule that never matches is not also said to be shadowed
        if (!every_exemption) continue;  // a tenant exempt from a deny rule lets requests through it
        // The most restrictive outcome wins whatever the order, so a deny anywhere in the file shadows;
        // of two denies that match the same requests, only the later one is reported.
        for (std::size_t j = 0; j < m.rules.size(); ++j) {
            const auto& deny = m.rules[j];
            if (j == i || (j > i && rule.action == Action::deny) || !rule_clean(j)) continue;
            // A deny about particular destination zones keeps the request from them only.
            if (deny.mode != RuleMode::enforce || deny.action != Action::deny || !deny.when.zones.empty() ||
                escapes(deny, rule))
                continue;
            if (!implies(rule.when, deny.when, policy)) continue;
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' is shadowed: every request it matches is denied by rule '" +
                               deny.name + "' (line " + std::to_string(deny.line) + ")"});
            break;
        }
    }

    for (std::size_t t = 0; t < m.tenants.size() && every_rule; ++t) {
        const auto& tenant = m.tenants[t];
        if (!tenant_clean(t)) continue;
        const bool allowed_somewhere = std::any_of(m.rules.begin(), m.rules.end(), [&](const RuleDef& r) {
            return r.mode == RuleMode::enforce && r.action == Action::allow &&
                   (r.when.tenants.empty() || contains(r.when.tenants, tenant.name)) &&
                   !contains(tenant.exempt_from, r.name);
        });
        if (!allowed_somewhere)
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' can never be allowed: no enforced allow rule applies to it"});
    }

    if (backends == nullptr) return out;
    for (const auto& b : *backends) {
        if (policy.find_zone(b.zone) == nullptr && every_zone)
            out.push_back({m.file_label, 1, 1,
                           "backend '" + b.name + "' is in zone '" + b.zone + "', which the policy does not define"});
    }
    std::vector<std::string_view> backend_names;
    std::vector<std::string_view> served_models;
    for (const auto& b : *backends) {
        backend_names.push_back(b.name);
        for (const auto& model : b.models) served_models.push_back(model);
    }
    const auto suggest = [](const std::string& name, const std::vector<std::string_view>& known) {
        const auto suggestion = closest_name(name, known);
        return suggestion.empty() ? std::string() : "; did you mean '" + suggestion + "'?";
    };
    for (std::size_t r = 0; r < m.rules.size(); ++r) {
        const auto& rule = m.rules[r];
        if (!rule_clean(r)) continue;
        for (const auto& name : rule.backends)
            if (!contains(backend_names, std::string_view(name)))
                out.push_back({m.file_label, rule.line, rule.column,
                               "rule '" + rule.name + "' names backend '" + name + "', which the gateway does not have" +
                                   suggest(name, backend_names)});
        for (const auto& model : rule.when.models)
            if (!contains(served_models, std::string_view(model)))
                out.push_back({m.file_label, rule.line, rule.column,
                               "rule '" + rule.name + "' names model '" + model + "', which no backend of the gateway "
                               "serves" + suggest(model, served_models)});
    }
    for (std::size_t z = 0; z < m.zones.size(); ++z) {
        const auto& zone = m.zones[z];
        if (!zone_clean(z)) continue;
        const bool has_backend =
            std::any_of(backends->begin(), backends->end(), [&](const BackendInfo& b) { return b.zone == zone.name; });
        if (!has_backend)
            out.push_back({m.file_label, zone.line, zone.column, "zone '" + zone.name + "' has no backend"});
    }
    for (std::size_t t = 0; t < m.tenants.size() && every_zone && every_rule; ++t) {
        const auto& tenant = m.tenants[t];
        if (!tenant_clean(t)) continue;
        std::vector<std::string> zones;
        for (const auto& zone : m.zones)
            if (tenant.zones.empty() || contains(tenant.zones, zone.name)) zones.push_back(zone.name);
        const auto in_zones = [&](const BackendInfo& b) { return contains(zones, b.zone); };
        if (std::none_of(backends->begin(), backends->end(), in_zones)) {
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' has no reachable backend: no backend is in its zones (" +
                               join(zones) + ")"});
            continue;
        }
        // Through the allow rules that apply to it: their zones, backends and models must leave one.
        std::vector<std::string> allowing;
        bool reachable = false;
        for (const auto& rule : m.rules) {
            if (rule.mode != RuleMode::enforce || rule.action != Action::allow ||
                !(rule.when.tenants.empty() || contains(rule.when.tenants, tenant.name)) ||
                contains(tenant.exempt_from, rule.name))
                continue;
            allowing.push_back(rule.name);
            reachable = std::any_of(backends->begin(), backends->end(), [&](const BackendInfo& b) {
                return in_zones(b) && (rule.zones.empty() || contains(rule.zones, b.zone)) &&
                       (rule.backends.empty() || contains(rule.backends, b.name)) &&
                       (rule.when.models.empty() || std::any_of(rule.when.models.begin(), rule.when.models.end(),
                                                                [&](const std::string& model) { return contains(b.models, model); }));
            });
            if (reachable) break;
        }
        if (!reachable && !allowing.empty())  // with no allow rule at all, "can never be allowed" said it
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' has no reachable backend: no backend in its zones (" +
                               join(zones) + ") is one that its allow rules (" + join(allowing) +
                               ") may send to, by their zones, backends and models"});
    }
    return out;
}

namespace {

// Quoted texts that go on over several lines. YAML allows them (and folds their line breaks to
// spaces), but in a policy one is far more often a closing quote left out, which joins what follows
// into the text, than a text meant to go on.
void report_multi_line_quoted_texts(std::string_view yaml, const std::string& file_label, std::vector<Diagnostic>& out) {
    for (const auto& quoted : quoted_texts(YamlText(yaml))) {
        if (!quoted.spans_lines() || !quoted.closing || quoted.entry_line) continue;  // else a load error
        out.push_back({file_label, quoted.opening.line + 1, quoted.opening.column + 1,
                       "the quoted text that starts here goes on to line " + std::to_string(quoted.closing->line + 1) +
                           ", taking in what is written on the lines between; if its closing quote belongs on this "
                           "line, add it there; if the text is meant to go on, write it as a block: '>' after the key, "
                           "and the text indented on the lines below"});
    }
}

// The load's problems, then what analysis finds in the policy, or in what could be read of it, then its
// quoted texts over several lines.
std::vector<Diagnostic> lint_loaded(LoadResult loaded, std::string_view yaml, const std::string& file_label,
                                    const std::vector<BackendInfo>* backends,
                                    const std::vector<std::string>* gateway_tenants) {
    std::vector<Diagnostic> out = std::move(loaded.diagnostics);
    report_multi_line_quoted_texts(yaml, file_label, out);
    const Policy* policy = loaded.policy ? loaded.policy.get() : loaded.partial.get();
    const ReadCleanly* read = loaded.policy ? nullptr : &loaded.read;
    if (policy == nullptr) return out;
    for (auto& finding : analyse_policy(*policy, backends, read)) out.push_back(std::move(finding));
    if (gateway_tenants)
        for (auto& finding : unknown_gateway_tenants(*policy, *gateway_tenants, read)) out.push_back(std::move(finding));
    return out;
}

}  // namespace

std::vector<Diagnostic> lint_policy_text(std::string_view yaml, const std::string& file_label,
                                         const std::vector<BackendInfo>* backends) {
    return lint_loaded(load_past_syntax_errors(yaml, file_label), yaml, file_label, backends, nullptr);
}

std::vector<Diagnostic> lint_policy_file(const std::filesystem::path& path, const std::vector<BackendInfo>* backends,
                                         const std::vector<std::string>* gateway_tenants) {
    std::string error;
    const auto text = read_text_file(path, max_yaml_file_bytes, error);
    if (!text) return {{path.string(), 1, 1, error.substr(error.find(": ") + 2)}};  // as load_policy_file says it
    return lint_loaded(load_past_syntax_errors(*text, path.string()), *text, path.string(), backends, gateway_tenants);
}

std::vector<Diagnostic> unknown_gateway_tenants(const Policy& policy, const std::vector<std::string>& gateway_tenants,
                                                const ReadCleanly* read) {
    std::vector<Diagnostic> out;
    const auto& m = policy.model();
    std::vector<std::string_view> known(gateway_tenants.begin(), gateway_tenants.end());
    for (std::size_t t = 0; t < m.tenants.size(); ++t) {
        const auto& tenant = m.tenants[t];
        if (contains(gateway_tenants, tenant.name)) continue;
        if (read != nullptr && t < read->tenants.size() && !read->tenants[t]) continue;  // its name may be what is wrong
        const auto suggestion = closest_name(tenant.name, known);
        out.push_back({m.file_label, tenant.line, tenant.column,
                       "tenant '" + tenant.name + "' is not a tenant of the gateway, so no request comes from it" +
                           (suggestion.empty() ? std::string(" (its tenants: " + join(gateway_tenants) + ")")
                                               : "; did you mean '" + suggestion + "'?")});
    }
    return out;
}

}  // namespace sovereign::policy
