#include <doctest/doctest.h>

#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"
#include "policy/policy.hpp"

using namespace sovereign::policy;

namespace {
std::vector<std::string> lint(const std::string& yaml, const std::vector<BackendInfo>* backends = nullptr) {
    std::vector<std::string> out;
    for (const auto& d : lint_policy_text(yaml, "p.yaml", backends)) out.push_back(format_diagnostic(d));
    return out;
}

const std::string policy = R"(classes: [public, restricted]
zones:
  - name: site
  - name: cloud
    max_class: public
tenants:
  - name: radiology
    zones: [site]
  - name: finance
rules:
  - name: no-cards
    when: {detected: [credit_card]}
    then: {action: deny, message: cards stay home}
  - name: cards-for-radiology
    when: {tenants: [radiology], detected: [credit_card]}
    then: {action: allow}
  - name: radiology
    when: {tenants: [radiology]}
    then: {action: allow}
  - name: impossible
    when: {class_at_least: restricted, class_at_most: public}
    then: {capture_payload: true}
)";
}  // namespace

TEST_SUITE("lint") {
    TEST_CASE("rules that can never take effect or never match are reported at the rule") {
        const auto out = lint(policy);
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:14:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
                        "rule 'no-cards' (line 11)");
        CHECK(out[1] == "p.yaml:20:5: rule 'impossible' can never match: class_at_least restricted is above "
                        "class_at_most public");
        CHECK(out[2] == "p.yaml:9:5: tenant 'finance' can never be allowed: no enforced allow rule applies to it");
    }

    TEST_CASE("tenants of the policy that the gateway does not have are reported, with a suggestion") {
        const auto loaded = load_policy_text(policy, "p.yaml");
        REQUIRE(loaded.policy);
        std::vector<std::string> out;
        for (const auto& d : unknown_gateway_tenants(*loaded.policy, {"radiologie", "hr"})) out.push_back(format_diagnostic(d));
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:7:5: tenant 'radiology' is not a tenant of the gateway, so no request comes from it; "
                        "did you mean 'radiologie'?");
        CHECK(out[1] == "p.yaml:9:5: tenant 'finance' is not a tenant of the gateway, so no request comes from it "
                        "(its tenants: radiologie, hr)");
        CHECK(unknown_gateway_tenants(*loaded.policy, {"radiology", "finance", "extra"}).empty());
    }

    TEST_CASE("tenants without a reachable backend are reported only when backends are known") {
        const std::vector<BackendInfo> backends{{"cloud-llm", "cloud", {"gpt"}}, {"lab", "lab", {"x"}}};
        const auto out = lint(policy, &backends);
        REQUIRE(out.size() == 6);
        CHECK(out[3] == "p.yaml:1:1: backend 'lab' is in zone 'lab', which the policy does not define");
        CHECK(out[4] == "p.yaml:3:5: zone 'site' has no backend");
        CHECK(out[5] == "p.yaml:7:5: tenant 'radiology' has no reachable backend: no backend is in its zones (site)");
    }

    TEST_CASE("a deny about some destination zones shadows nothing; backends a rule names must exist") {
        const std::string zoned = R"(classes: [public]
zones: [{name: site}, {name: cloud}]
rules:
  - name: no-cards-to-cloud
    when: {detected: [credit_card], zones: [cloud]}
    then: {action: deny, message: cards stay home}
  - name: cards-on-site
    when: {detected: [credit_card]}
    then: {action: allow, backends: [site-gpu, old-gpu]}
)";
        CHECK(lint(zoned).empty());
        const std::vector<BackendInfo> backends{{"site-gpu", "site", {"m"}}, {"cloud-llm", "cloud", {"m"}}};
        const auto out = lint(zoned, &backends);
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:7:5: rule 'cards-on-site' names backend 'old-gpu', which the gateway does not have");
    }

    TEST_CASE("a deny shadows a later rule for tenants not exempt from it, and through its detectors' classes") {
        const std::string exempt = R"(classes: [public, internal, confidential, restricted]
zones: [{name: site}]
tenants:
  - {name: ops, clearance: restricted, exempt_from: [deny-cards]}
  - {name: demo, clearance: restricted}
rules:
  - {name: deny-cards, when: {detected: [credit_card]}, then: {action: deny, message: no cards}}
  - {name: tokenize-cards-for-demo, when: {tenants: [demo], detected: [credit_card]}, then: {tokenize: [credit_card]}}
  - {name: tokenize-cards-for-ops, when: {tenants: [ops], detected: [credit_card]}, then: {tokenize: [credit_card]}}
  - {name: deny-restricted, when: {class_at_least: restricted}, then: {action: deny, message: no restricted data}}
  - {name: redact-ssn, when: {detected: [us_ssn]}, then: {redact: [us_ssn]}}
  - {name: ssn-internal, when: {detected: [us_ssn], class_at_most: internal}, then: {capture_payload: true}}
  - {name: allow-all, then: {action: allow, zones: [site]}}
)";
        const auto out = lint(exempt);
        REQUIRE(out.size() == 4);
        CHECK(out[0] == "p.yaml:8:5: rule 'tokenize-cards-for-demo' is shadowed: every request it matches is denied "
                        "by rule 'deny-cards' (line 7)");
        // A card is restricted: ops, exempt from deny-cards, is still denied by the later deny-restricted
        // (the most restrictive outcome wins, whatever the order of the rules).
        CHECK(out[1] == "p.yaml:9:5: rule 'tokenize-cards-for-ops' is shadowed: every request it matches is denied "
                        "by rule 'deny-restricted' (line 10)");
        // us_ssn is restricted: every request redact-ssn matches is of class restricted.
        CHECK(out[2] == "p.yaml:11:5: rule 'redact-ssn' is shadowed: every request it matches is denied by rule "
                        "'deny-restricted' (line 10)");
        CHECK(out[3] == "p.yaml:12:5: rule 'ssn-internal' can never match: a request in which one of its detected "
                        "detectors finds something is at least of class restricted, above class_at_most internal");
        // A later deny shadows an earlier rule too; of two denies matching the same requests only the later
        // one is reported.
        const auto later = lint(R"(classes: [public]
zones: [{name: site}]
tenants: [{name: demo}]
rules:
  - {name: allow-demo, when: {tenants: [demo]}, then: {action: allow}}
  - {name: deny-a, then: {action: deny, message: no}}
  - {name: deny-b, then: {action: deny, message: no}}
)");
        REQUIRE(later.size() >= 2);
        CHECK(later[0] == "p.yaml:5:5: rule 'allow-demo' is shadowed: every request it matches is denied by rule "
                          "'deny-a' (line 6)");
        CHECK(later[1] == "p.yaml:7:5: rule 'deny-b' is shadowed: every request it matches is denied by rule "
                          "'deny-a' (line 6)");
    }

    TEST_CASE("a tenant whose allow rules lead to no backend, and models and backends no backend has, are reported") {
        const std::string routes = R"(classes: [public]
zones: [{name: site}, {name: cloud}]
tenants:
  - {name: other, zones: [cloud]}
rules:
  - {name: allow-other, when: {tenants: [other]}, then: {action: allow, zones: [site]}}
  - {name: big-model, when: {models: [llama-70b]}, then: {action: allow, backends: [hall-b-vlm]}}
)";
        const std::vector<BackendInfo> backends{{"hall-b-vllm", "site", {"llama-7b"}}, {"cloud-llm", "cloud", {"gpt"}}};
        const auto out = lint(routes, &backends);
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:7:5: rule 'big-model' names backend 'hall-b-vlm', which the gateway does not have; "
                        "did you mean 'hall-b-vllm'?");
        CHECK(out[1] == "p.yaml:7:5: rule 'big-model' names model 'llama-70b', which no backend of the gateway serves; "
                        "did you mean 'llama-7b'?");
        CHECK(out[2] == "p.yaml:4:5: tenant 'other' has no reachable backend: no backend in its zones (cloud) is one "
                        "that its allow rules (allow-other, big-model) may send to, by their zones, backends and models");
    }

    TEST_CASE("a policy that does not load gets its load problems and every finding its other parts allow") {
        // A misspelt key in a zone made lint report it alone; the rules' findings are independent of it.
        std::string typo = policy;
        typo.replace(typo.find("    max_class: public"), 21, "    max_clas: public");
        const auto out = lint(typo);
        REQUIRE(out.size() == 4);
        CHECK(out[0] == "p.yaml:5:5: unknown key 'max_clas' in a zone; did you mean 'max_class'?");
        CHECK(out[1] == "p.yaml:14:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
                        "rule 'no-cards' (line 11)");
        CHECK(out[2] == "p.yaml:20:5: rule 'impossible' can never match: class_at_least restricted is above "
                        "class_at_most public");
        CHECK(out[3] == "p.yaml:9:5: tenant 'finance' can never be allowed: no enforced allow rule applies to it");
        // The load problems are the loader's own, in its order.
        const auto loaded = load_policy_text(typo, "p.yaml");
        REQUIRE_FALSE(loaded.policy);
        REQUIRE(loaded.diagnostics.size() == 1);
        CHECK(format_diagnostic(loaded.diagnostics[0]) == out[0]);
    }

    TEST_CASE("a finding that rests on a part with a problem is not reported") {
        // The last rule's action is misspelt: it may be the allow rule finance lacks, so "can never be
        // allowed" would be a guess; and no finding is made about that rule itself.
        const auto out = lint(R"(classes: [public, restricted]
zones: [{name: site}]
tenants: [{name: finance}, {name: ops, exempt_from: [no-card]}]
rules:
  - {name: no-cards, when: {detected: [credit_card]}, then: {action: deny, message: no}}
  - {name: cards, when: {detected: [credit_card]}, then: {tokenize: [credit_card]}}
  - {name: all, when: {class_at_least: restricted, class_at_most: public}, then: {action: alow}}
)");
        // ops's exemption names no rule (a typo of no-cards?), so whether cards is shadowed is not said.
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:7:91: action must be allow or deny, not 'alow'");
        CHECK(out[1] == "p.yaml:3:54: exempt_from: no rule named 'no-card'; did you mean 'no-cards'?");
    }

    TEST_CASE("YAML syntax errors in independent parts are each reported, and the rest is checked past them") {
        const std::string text = R"(classes: [public, restricted]
zones:
  - name: site
tenants:
  - name: radiology
    redact_in_responses: [emial]
  - name: finance
rules:
  - name: broken
    when: {detected: [credit_card]
    then: {action: deny, message: x}
  - name: no-cards
    when: {detected: [credit_card]}
    then: {action: deny, message: cards stay home}
  - name: cards-for-radiology
    when: {tenants: [radiology], detected: [credit_card]}
    then: {action: allow}
  - name: also-broken
    when: {tenants: [radiology}
    then: {action: allow}
  - name: radiology
    when: {tenants: [radiology]}
    then: {action: alow}
)";
        // The loader stops at the first; its message and place are the first lint reports.
        const auto loaded = load_policy_text(text, "p.yaml");
        REQUIRE(loaded.diagnostics.size() == 1);
        CHECK(format_diagnostic(loaded.diagnostics[0]) == "p.yaml:11:5: YAML syntax error: end of map flow not found");
        const auto out = lint(text);
        REQUIRE(out.size() == 5);
        CHECK(out[0] == "p.yaml:11:5: YAML syntax error: end of map flow not found");
        CHECK(out[1] == "p.yaml:19:31: YAML syntax error: illegal flow end");
        // The rest, without the two rules the errors are in: no complaint that follows from leaving them
        // out, and no finding that their absence could make false (whether finance is ever allowed).
        CHECK(out[2] == "p.yaml:6:27: redact_in_responses: no detector named 'emial'; did you mean 'email'?");
        CHECK(out[3] == "p.yaml:23:20: action must be allow or deny, not 'alow'");
        CHECK(out[4] == "p.yaml:15:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
                        "rule 'no-cards' (line 12)");
    }

    TEST_CASE("a section with a YAML syntax error is left out whole where its items cannot be told apart") {
        const auto out = lint(R"(classes: [public, restricted
zones:
  - name: site
rules:
  - name: r
    when: {detected: [emial]}
    then: {action: allow}
)");
        // Without classes nothing that names a class is checked, and nothing is analysed; names of
        // detectors and the rest still are.
        REQUIRE(out.size() == 2);
        CHECK(out[0].starts_with("p.yaml:2:6: YAML syntax error: "));
        CHECK(out[1] == "p.yaml:6:23: detected: no detector named 'emial'; did you mean 'email'?");
    }

    TEST_CASE("without classes the rest of a policy is still checked, references to classes aside") {
        const auto out = lint(R"(zones:
  - name: site
    max_class: secret
rules:
  - name: r
    when: {detected: [emial]}
    then: {action: alow}
)");
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:1:1: the policy needs 'classes'");
        CHECK(out[1] == "p.yaml:6:23: detected: no detector named 'emial'; did you mean 'email'?");
        CHECK(out[2] == "p.yaml:7:20: action must be allow or deny, not 'alow'");
    }

    TEST_CASE("a second YAML document is reported, and the first is checked") {
        const auto out = lint("classes: [public]\nzones: [{name: site}]\ntenants: [{name: a}]\nrules:\n"
                              "  - {name: r, then: {action: alow}}\n---\nrules: []\n");
        REQUIRE(out.size() == 2);
        CHECK(out[0].starts_with("p.yaml:6:1: YAML syntax error: a second YAML document starts here"));
        CHECK(out[1] == "p.yaml:5:30: action must be allow or deny, not 'alow'");
    }

    TEST_CASE("a clean policy produces no diagnostics") {
        CHECK(lint(R"(classes: [public]
zones: [{name: site}]
rules: [{name: all, then: {action: allow}}]
)").empty());
    }
}
