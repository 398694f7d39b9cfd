#include "policy/lint.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <unordered_set>

#include "policy/builtin_detectors.hpp"
#include "policy/diagnostic.hpp"
#include "policy/join.hpp"
#include "policy/quoted_texts.hpp"
#include "policy/request_endpoints.hpp"
#include "policy/rule_tenants.hpp"
#include "policy/shadowed_rules.hpp"
#include "policy/syntax_recovery.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::policy {

namespace {

template <typename T>
bool contains(const std::vector<T>& list, const T& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// Whether every request in which the detector finds something is denied whatever its class: an
// enforced deny rule with no other condition lists it, and no tenant is exempt from that rule.
bool always_denied(std::size_t detector, const PolicyModel& m, const RuleTenants& tenants,
                   const std::function<bool(std::size_t)>& rule_clean) {
    for (std::size_t r = 0; r < m.rules.size(); ++r) {
        const auto& rule = m.rules[r];
        const auto& when = rule.when;
        if (rule.mode == RuleMode::enforce && rule.action == Action::deny && rule_clean(r) && when.tenants.empty() &&
            when.models.empty() && every_endpoint(when) && when.zones.empty() && !when.class_at_least &&
            !when.class_at_most && contains(when.detected, detector) && tenants.exempt(r).empty())
            return true;
    }
    return false;
}

// The built-in detectors that took the highest class for want of their default class, grouped by
// that default class, in one finding at the section where their classes would be written. Those
// denied whatever their class (credentials, usually) are left out: their class changes no decision.
std::optional<Diagnostic> class_fallbacks(const Policy& policy, const RuleTenants& tenants,
                                          const std::function<bool(std::size_t)>& rule_clean, bool exemptions_known) {
    const auto& m = policy.model();
    if (m.classes.size() < 2) return std::nullopt;  // one class: nothing to choose between
    const auto& detectors = policy.detectors().detectors();
    const auto& builtins = builtin_detectors();
    std::vector<std::string_view> default_classes;  // in the order the built-ins list them
    std::vector<std::vector<std::string>> names;    // by default class
    for (const auto d : m.class_fallbacks.detectors) {
        if (exemptions_known && always_denied(d, m, tenants, rule_clean)) continue;
        const auto default_class = builtins[d].default_class;
        auto at = std::find(default_classes.begin(), default_classes.end(), default_class);
        if (at == default_classes.end()) {
            default_classes.push_back(default_class);
            names.emplace_back();
            at = default_classes.end() - 1;
        }
        names[static_cast<std::size_t>(at - default_classes.begin())].push_back(detectors[d].name);
    }
    if (names.empty()) return std::nullopt;
    std::vector<std::string> groups;
    for (std::size_t i = 0; i < names.size(); ++i)
        groups.push_back(join(names[i]) + " (default " + std::string(default_classes[i]) + ")");
    const std::string& highest = m.classes.back();
    return Diagnostic{m.file_label, m.class_fallbacks.line, m.class_fallbacks.column,
                      "built-in detectors whose default class is not one of the policy's classes take the highest "
                      "class, " + highest + ": " + join(groups, "; ") + "; give each one of the policy's classes under "
                      "builtin_detectors",
                      true};
}

// Tenants some enforced allow rule applies to, by tenant index: without comparing every tenant with
// every rule, which at the limits is 10^8 comparisons of names.
std::vector<bool> tenants_allowed_somewhere(const PolicyModel& m, const RuleTenants& tenants) {
    std::vector<bool> allowed(m.tenants.size(), false);
    std::size_t allow_all = 0;                        // allow rules without a tenants condition
    std::vector<std::size_t> exempt_from_all(m.tenants.size(), 0);  // of those, how many each is exempt from
    for (std::size_t r = 0; r < m.rules.size(); ++r) {
        const auto& rule = m.rules[r];
        if (rule.mode != RuleMode::enforce || rule.action != Action::allow) continue;
        if (!tenants.names_tenants(r)) {
            ++allow_all;
            for (const auto t : tenants.exempt(r)) ++exempt_from_all[t];
            continue;
        }
        for (const auto t : tenants.named(r))
            if (!tenants.exempts(r, t)) allowed[t] = true;
    }
    for (std::size_t t = 0; t < m.tenants.size(); ++t)
        if (exempt_from_all[t] < allow_all) allowed[t] = true;
    return allowed;
}

// Whether a rule narrows where every request of the tenants it applies to may go: an enforced rule
// that restricts zones or backends with no condition but its tenants (one on models, detectors or
// classes narrows only some requests).
bool narrows_every_request(const RuleDef& rule) {
    const auto& when = rule.when;
    return rule.mode == RuleMode::enforce && rule.action != Action::deny &&
           (!rule.zones.empty() || !rule.backends.empty()) && when.models.empty() && every_endpoint(when) &&
           when.detected.empty() && when.zones.empty() && !when.class_at_least && !when.class_at_most;
}

// Per tenant, the rules that narrow every one of its requests, by rule index: the zones and backends
// of all of them bound where any allow rule may send it (the engine intersects them).
std::vector<std::vector<std::size_t>> narrowing_rules(const PolicyModel& m, const RuleTenants& tenants) {
    std::vector<std::vector<std::size_t>> out(m.tenants.size());
    for (std::size_t r = 0; r < m.rules.size(); ++r) {
        if (!narrows_every_request(m.rules[r])) continue;
        const auto add = [&](std::size_t t) {
            if (!tenants.exempts(r, t)) out[t].push_back(r);
        };
        if (!tenants.names_tenants(r))
            for (std::size_t t = 0; t < m.tenants.size(); ++t) add(t);
        else
            for (const auto t : tenants.named(r)) add(t);
    }
    return out;
}

// A tenant whose allow_unscanned parts count as a class it may not send, or that no zone may hold: every
// request holding one is denied, which is not what letting them through was for.
std::optional<Diagnostic> unscanned_never_sent(const Policy& policy, const TenantDef& tenant, bool every_zone) {
    if (tenant.allow_unscanned.empty()) return std::nullopt;
    const auto& m = policy.model();
    const std::string& level = policy.class_name(tenant.unscanned_class);
    const std::string what = "tenant '" + tenant.name + "' lets " + join(tenant.allow_unscanned) +
                             " parts through unscanned as class " + level + ", ";
    if (tenant.clearance < tenant.unscanned_class)
        return Diagnostic{m.file_label, tenant.unscanned_line, tenant.unscanned_column,
                          what + "above its clearance (" + policy.class_name(tenant.clearance) +
                              "): every request holding one is denied; set unscanned_class to at most its clearance, "
                              "or raise the clearance",
                          true};
    const bool some_zone = std::any_of(m.zones.begin(), m.zones.end(), [&](const ZoneDef& zone) {
        return zone.max_class >= tenant.unscanned_class &&
               (tenant.zones.empty() || contains(tenant.zones, zone.name));
    });
    if (every_zone && !some_zone)
        return Diagnostic{m.file_label, tenant.unscanned_line, tenant.unscanned_column,
                          what + "which none of its zones may hold (their max_class is lower): every request holding "
                                 "one is denied",
                          true};
    return std::nullopt;
}

}  // namespace

std::vector<Diagnostic> analyse_policy(const Policy& policy, const std::vector<BackendInfo>* backends,
                                       const ReadCleanly* read, std::stop_token stop) {
    std::vector<Diagnostic> out;
    const auto& m = policy.model();
    // Of a policy that did not load, only what was read without a problem is analysed: a finding about
    // a rule, tenant or zone whose reading went wrong (or that depends on every rule, tenant or zone
    // when one of them did) could be false.
    const auto clean = [](const std::vector<bool>& items, std::size_t i) { return items.size() <= i || items[i]; };
    const auto all_clean = [](const std::vector<bool>& items, bool every) {
        return every && std::all_of(items.begin(), items.end(), [](bool item) { return item; });
    };
    const std::function<bool(std::size_t)> rule_clean = [&](std::size_t i) {
        return read == nullptr || clean(read->rules, i);
    };
    const auto tenant_clean = [&](std::size_t i) { return read == nullptr || clean(read->tenants, i); };
    const auto zone_clean = [&](std::size_t i) { return read == nullptr || clean(read->zones, i); };
    const bool every_rule = read == nullptr || all_clean(read->rules, read->every_rule);
    const bool every_zone = read == nullptr || all_clean(read->zones, read->every_zone);
    const bool every_exemption = read == nullptr || (read->exemptions && read->every_tenant);
    const bool detectors = read == nullptr || read->detectors;  // their classes decide what a rule can match
    const RuleTenants tenants(m);

    if (detectors)
        if (auto finding = class_fallbacks(policy, tenants, rule_clean, every_exemption && every_rule))
            out.push_back(std::move(*finding));

    const ShadowedRules shadows(policy, tenants, rule_clean);
    for (std::size_t i = 0; i < m.rules.size(); ++i) {
        if (stop.stop_requested()) return out;
        const auto& rule = m.rules[i];
        if (!rule_clean(i) || !detectors) continue;
        const std::size_t before = out.size();
        if (rule.when.class_at_least && rule.when.class_at_most && *rule.when.class_at_least > *rule.when.class_at_most)
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: class_at_least " +
                               policy.class_name(*rule.when.class_at_least) + " is above class_at_most " +
                               policy.class_name(*rule.when.class_at_most)});
        if (rule.when.class_at_most && shadows.lowest_class(i) > *rule.when.class_at_most &&
            !(rule.when.class_at_least && *rule.when.class_at_least > *rule.when.class_at_most))
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: a request in which one of its detected "
                           "detectors finds something is at least of class " +
                               policy.class_name(shadows.lowest_class(i)) + ", above class_at_most " +
                               policy.class_name(*rule.when.class_at_most)});
        // A rule naming only tenants exempt from it applies to no request (the tenants condition names
        // tenants of the policy: any other name does not load).
        const auto& named = tenants.named(i);
        const auto& exempt = tenants.exempt(i);
        if (every_exemption && tenants.names_tenants(i) && !named.empty() &&
            std::includes(exempt.begin(), exempt.end(), named.begin(), named.end())) {
            std::vector<std::string> names;
            for (const auto t : named) names.push_back(m.tenants[t].name);
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: every tenant it names (" + join(names) +
                               ") is exempt from it"});
        }
        if (out.size() != before) continue;  // a rule that never matches is not also said to be shadowed
        if (!every_exemption) continue;  // a tenant exempt from a deny rule lets requests through it
        if (const long j = shadows.shadowing_deny(i); j >= 0) {
            const auto& deny = m.rules[static_cast<std::size_t>(j)];
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' is shadowed: every request it matches is denied by rule '" +
                               deny.name + "' (line " + std::to_string(deny.line) + ")"});
        }
    }

    for (std::size_t t = 0; t < m.tenants.size(); ++t)
        if (tenant_clean(t))
            if (auto finding = unscanned_never_sent(policy, m.tenants[t], every_zone)) out.push_back(std::move(*finding));

    if (every_rule) {
        const auto allowed = tenants_allowed_somewhere(m, tenants);
        for (std::size_t t = 0; t < m.tenants.size(); ++t) {
            const auto& tenant = m.tenants[t];
            if (!tenant_clean(t) || allowed[t]) continue;
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' can never be allowed: no enforced allow rule applies to it"});
        }
        // Without tenants listed (the gateway's own apply) the finding above has no tenant to name; a
        // policy with no enforced allow rule still denies every request, which lint must not pass.
        if (m.tenants.empty() && std::none_of(m.rules.begin(), m.rules.end(), [](const RuleDef& rule) {
                return rule.mode == RuleMode::enforce && rule.action == Action::allow;
            }))
            out.push_back({m.file_label, 1, 1,
                           "no request can ever be allowed: no rule with action allow is enforced, and a request "
                           "no rule allows is denied (default deny)"});
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
    // A request goes only to a backend in a zone its allow rules allow: a rule whose backends all lie
    // in zones that no allow rule sends to refuses (503) every request it matches, though policy test
    // and explain, which know no backends, call them allowed.
    if (every_rule && every_zone) {
        bool any_allow = false;
        bool any_zone = false;  // an allow rule without zones lets a request go to every zone
        std::vector<std::string> allowed_zones;
        for (const auto& rule : m.rules) {
            if (rule.mode != RuleMode::enforce || rule.action != Action::allow) continue;
            any_allow = true;
            any_zone = any_zone || rule.zones.empty();
            for (const auto& zone : rule.zones)
                if (!contains(allowed_zones, zone)) allowed_zones.push_back(zone);
        }
        for (std::size_t r = 0; r < m.rules.size() && any_allow && !any_zone; ++r) {
            const auto& rule = m.rules[r];
            if (rule.mode != RuleMode::enforce || rule.backends.empty()) continue;
            std::vector<std::string> zones;
            bool reachable = false;
            for (const auto& b : *backends) {
                if (!contains(rule.backends, b.name)) continue;
                if (!contains(zones, b.zone)) zones.push_back(b.zone);
                reachable = reachable || contains(allowed_zones, b.zone);
            }
            if (!zones.empty() && !reachable)
                out.push_back({m.file_label, rule.line, rule.column,
                               "rule '" + rule.name + "' restricts the requests it matches to backends " +
                                   join(rule.backends) + ", in zones " + join(zones) + ", where no allow rule sends a "
                                   "request (they allow zones " + join(allowed_zones) + "): every request it matches "
                                   "is refused with 503"});
        }
    }
    for (std::size_t z = 0; z < m.zones.size(); ++z) {
        const auto& zone = m.zones[z];
        if (!zone_clean(z)) continue;
        const bool has_backend =
            std::any_of(backends->begin(), backends->end(), [&](const BackendInfo& b) { return b.zone == zone.name; });
        if (!has_backend)
            out.push_back({m.file_label, zone.line, zone.column, "zone '" + zone.name + "' has no backend"});
    }
    // Per enforced allow rule, in file order, the backends its zones, backends and models leave.
    std::vector<std::pair<std::size_t, std::vector<const BackendInfo*>>> allow_rules;
    for (std::size_t r = 0; r < m.rules.size() && every_zone && every_rule; ++r) {
        const auto& rule = m.rules[r];
        if (rule.mode != RuleMode::enforce || rule.action != Action::allow) continue;
        std::vector<const BackendInfo*> left;
        for (const auto& b : *backends)
            if ((rule.zones.empty() || contains(rule.zones, b.zone)) &&
                (rule.backends.empty() || contains(rule.backends, b.name)) &&
                (rule.when.models.empty() ||
                 std::any_of(rule.when.models.begin(), rule.when.models.end(),
                             [&](const std::string& model) { return contains(b.models, model); })))
                left.push_back(&b);
        allow_rules.emplace_back(r, std::move(left));
    }
    const auto narrowing = every_zone && every_rule ? narrowing_rules(m, tenants) : std::vector<std::vector<std::size_t>>{};
    for (std::size_t t = 0; t < m.tenants.size() && every_zone && every_rule; ++t) {
        if (stop.stop_requested()) return out;
        const auto& tenant = m.tenants[t];
        if (!tenant_clean(t)) continue;
        std::vector<std::string> zones;
        for (const auto& zone : m.zones)
            if (tenant.zones.empty() || contains(tenant.zones, zone.name)) zones.push_back(zone.name);
        const auto in_zones = [&](const BackendInfo* b) { return contains(zones, b->zone); };
        // Where the rules that narrow all of the tenant's requests let it go, whichever allow rule applies.
        const auto narrowed = [&](const BackendInfo* b) {
            return in_zones(b) && std::all_of(narrowing[t].begin(), narrowing[t].end(), [&](std::size_t r) {
                       const auto& rule = m.rules[r];
                       return (rule.zones.empty() || contains(rule.zones, b->zone)) &&
                              (rule.backends.empty() || contains(rule.backends, b->name));
                   });
        };
        if (std::none_of(backends->begin(), backends->end(), [&](const BackendInfo& b) { return in_zones(&b); })) {
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' has no reachable backend: no backend is in its zones (" +
                               join(zones) + ")"});
            continue;
        }
        // Through the allow rules that apply to it: their zones, backends and models must leave one.
        std::vector<std::string> allowing;
        bool reachable = false;
        for (const auto& [r, left] : allow_rules) {
            if (!tenants.applies_to(r, t) || tenants.exempts(r, t)) continue;
            allowing.push_back(m.rules[r].name);
            reachable = std::any_of(left.begin(), left.end(), narrowed);
            if (reachable) break;
        }
        std::vector<std::string> narrowing_names;
        for (const auto r : narrowing[t])  // the allow rules among them are named above
            if (m.rules[r].action != Action::allow) narrowing_names.push_back(m.rules[r].name);
        if (!reachable && !allowing.empty())  // with no allow rule at all, "can never be allowed" said it
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' has no reachable backend: no backend in its zones (" +
                               join(zones) + ") is one that its allow rules (" + join(allowing) +
                               ") may send to, by their zones, backends and models" +
                               (narrowing_names.empty() ? std::string()
                                                        : ", within the zones and backends of rule(s) " +
                                                              join(narrowing_names) + ", which apply to all of its "
                                                              "requests")});
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
                           "and the text indented on the lines below",
                       true});
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
    const std::unordered_set<std::string_view> gateway_has(known.begin(), known.end());
    for (std::size_t t = 0; t < m.tenants.size(); ++t) {
        const auto& tenant = m.tenants[t];
        if (gateway_has.contains(tenant.name)) continue;
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
