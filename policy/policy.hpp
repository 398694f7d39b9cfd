#pragma once
// The compiled, immutable policy: what policy.yaml says, checked and ready for evaluate().

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/detector_set.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// Staged rollout: enforce applies the rule; warn and dry-run only record what it would have done.
enum class RuleMode { enforce, warn, dry_run };
std::string_view mode_name(RuleMode mode);

// A part of the boundary that backends belong to, and the highest class it may receive.
struct ZoneDef {
    std::string name;
    std::string description;
    int max_class = 0;
    int line = 0;
    int column = 0;
};

// What the policy says about one tenant (tenants and their keys are declared in gateway.yaml).
struct TenantDef {
    std::string name;
    int clearance = 0;                          // highest class this tenant may send out
    std::vector<std::string> zones;             // empty = no tenant-specific restriction
    std::vector<std::string> exempt_from;       // rules that do not apply to this tenant
    bool capture_payload = false;
    std::vector<std::size_t> redact_in_responses;  // detector indices
    // Content part types let through although no detector can read them (image_url...), and the class
    // a request holding one counts as at least (default: the highest class).
    std::vector<std::string> allow_unscanned{};
    int unscanned_class = 0;
    int unscanned_line = 0;  // where allow_unscanned is written, for lint
    int unscanned_column = 0;
    int line = 0;
    int column = 0;
};

// The "when" of a rule: every listed condition must hold; a list holds when any of its items does.
struct RuleConditions {
    std::vector<std::string> tenants;
    std::vector<std::string> models;
    std::vector<std::string> endpoints;
    std::vector<std::size_t> detected;  // detector indices
    std::optional<int> class_at_least;
    std::optional<int> class_at_most;
    // Destination zones: the rule is about sending the request there. Its deny keeps the request
    // from these zones only; its transforms apply while one of them may still receive it.
    std::vector<std::string> zones;
};

// One rule of policy.yaml, with its position for diagnostics and explanations.
struct RuleDef {
    std::string name;
    std::string description;
    RuleMode mode = RuleMode::enforce;
    RuleConditions when;
    std::optional<Action> action;  // none: the rule only restricts or transforms
    std::string message;           // shown to the application when this rule denies
    std::vector<std::string> zones;
    std::vector<std::string> backends;
    std::vector<std::size_t> redact;    // detector indices
    std::vector<std::size_t> tokenize;  // detector indices
    bool capture_payload = false;
    int line = 0;
    int column = 0;
};

// Built-in detectors whose default class is none of the policy's classes and that builtin_detectors
// does not map: they take the highest class, which an officer may not expect (an IP address as top
// secret). Lint names them at the builtin_detectors section, or at classes where there is none.
struct ClassFallbacks {
    std::vector<std::size_t> detectors;  // detector indices
    int line = 0;
    int column = 0;
};

// Everything a policy file defines. Built only by the loader; read by the engine, lint and explain.
struct PolicyModel {
    std::string file_label;
    std::string name;
    std::string version;                  // sha256 hex of the file content
    std::vector<std::string> classes;     // lowest first
    int default_clearance = 0;
    std::vector<ZoneDef> zones;
    std::vector<TenantDef> tenants;
    std::vector<RuleDef> rules;
    std::vector<std::size_t> redact_in_responses;  // for every tenant
    ClassFallbacks class_fallbacks;
    std::unique_ptr<const DetectorSet> detectors;
};

// Immutable compiled policy; share it as shared_ptr<const Policy> and swap the pointer on reload.
class Policy {
public:
    explicit Policy(PolicyModel model);

    const PolicyModel& model() const { return model_; }
    const std::string& version() const { return model_.version; }
    const DetectorSet& detectors() const { return *model_.detectors; }
    // -1 when the name is not one of the policy's classes.
    int class_level(std::string_view name) const;
    // The class an application declares (X-Data-Class, a test case's data_class): its exact name, or
    // else the one class whose name it is in another letter case ("Confidential" for confidential).
    // -1 when none is, or when several are (classes whose names differ only by case: "SECRET" for
    // Secret and secret), which only their exact names tell apart.
    int declared_class_level(std::string_view name) const;
    const std::string& class_name(int level) const { return model_.classes[static_cast<std::size_t>(level)]; }
    const TenantDef* find_tenant(std::string_view name) const;
    // Per detector (by index): 1 where it is redacted from this tenant's answers (`responses`, or the
    // tenant's own `redact_in_responses`).
    std::vector<char> redacted_in_answers(std::string_view tenant) const;
    // The same, worked out once when the policy is made (every answer's scanners read it).
    const std::vector<char>& redaction_in_answers(std::string_view tenant) const;
    // Whether any detector is.
    bool redacts_answers(std::string_view tenant) const;
    const ZoneDef* find_zone(std::string_view name) const;
    // Whether some request can be decided with capture_payload: a tenant asks for it, or an enforced
    // rule does (rules in warn or dry-run mode capture nothing).
    bool asks_for_captures() const;
    // What rule `index` does, in words ("allow; restrict zones to site"), for decisions and traces.
    const std::string& rule_effect(std::size_t index) const { return rule_effects_[index]; }

private:
    PolicyModel model_;
    std::vector<std::string> rule_effects_;  // fixed by the policy: written once, not per request
    // redacted_in_answers of each tenant (by index in the model's tenants), then of any other name.
    std::vector<std::vector<char>> answer_redactions_;
    // Each tenant's index in the model's tenants, by name (the first, were a name listed twice): a
    // request looks its tenant up in one step, however many tenants the policy names.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
    };
    std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> tenant_index_;
    // The index of `name` in the model's tenants; the number of tenants when none has that name.
    std::size_t tenant_position(std::string_view name) const;
};

// Which parts of a policy file were read without a problem: lint analyses only those of a policy that
// did not load. Each list is by index into the model's zones, tenants and rules; `every_...` is false
// when some of them were left out (not a mapping, in a list that is not one, or by lint's reading past
// a YAML syntax error).
struct ReadCleanly {
    std::vector<bool> zones;
    std::vector<bool> tenants;
    std::vector<bool> rules;
    bool every_zone = true;
    bool every_tenant = true;
    bool every_rule = true;
    bool exemptions = true;  // every tenant's exempt_from, and every rule it names
    bool detectors = true;   // built-in detectors' classes and custom detectors
};

// A compiled policy, or (when policy is null) the errors that prevented it, and for lint what could be
// read of it: `partial` holds its classes, detectors, zones, tenants and rules as read (null where
// there is nothing to analyse: no classes, a detector that does not compile, a YAML syntax error).
struct LoadResult {
    std::shared_ptr<const Policy> policy;
    std::vector<Diagnostic> diagnostics;
    std::shared_ptr<const Policy> partial;
    ReadCleanly read;
};

// Parts of a policy file that lint left out to read on past a YAML syntax error in them: top-level
// sections left out whole, and sections some of whose list items were. Problems that only follow from
// their absence (a required section missing, a name defined there and referred to elsewhere) are not
// reported.
struct LeftOut {
    std::set<std::string> sections;
    std::set<std::string> items_of;
    bool empty() const { return sections.empty() && items_of.empty(); }
};

LoadResult load_policy_file(const std::filesystem::path& path);
LoadResult load_policy_text(std::string_view yaml, std::string file_label, const LeftOut& left_out = {});

// Reads a whole file, refusing ones larger than the YAML limit; an error names the file.
std::optional<std::string> read_text_file(const std::filesystem::path& path, std::size_t limit, std::string& error);

}  // namespace sovereign::policy
