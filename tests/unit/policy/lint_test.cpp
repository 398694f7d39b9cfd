#include <doctest/doctest.h>

#include <chrono>
#include <stop_token>

#include "policy/builtin_detectors.hpp"
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
// What lint says of `policy`'s classes: the built-in detectors that take its highest class, restricted.
const std::string policy_fallbacks =
    "p.yaml:1:1: warning: built-in detectors whose default class is not one of the policy's classes take the highest "
    "class, restricted: iban, email, phone, date_of_birth (default confidential); ipv4, ipv6 (default internal); "
    "give each one of the policy's classes under builtin_detectors";

// A policy of the size the limits allow: per tenant about `per_tenant` deny rules (each about a model
// of its own) and as many allow rules, one of each fewer in all to leave room for two more. Tenant t3
// is locked out by a deny rule at the end, which shadows its allow rules; tenant t5 is exempt from
// the one locking it out, so its allow rules are not.
std::string large_policy(int tenants, int per_tenant) {
    std::string text = "classes: [public, internal, confidential, restricted]\nzones: [{name: site}]\ntenants:\n";
    for (int t = 0; t < tenants; ++t)
        text += "  - {name: t" + std::to_string(t) + (t == 5 ? ", exempt_from: [lock-t5]" : "") + "}\n";
    text += "rules:\n";
    const int rules = tenants * per_tenant - 1;
    for (int k = 0; k < rules; ++k)
        text += "  - {name: d" + std::to_string(k) + ", when: {tenants: [t" + std::to_string(k % tenants) +
                "], models: [m" + std::to_string(k) + "]}, then: {action: deny, message: x}}\n";
    for (int k = 0; k < rules; ++k)
        text += "  - {name: a" + std::to_string(k) + ", when: {tenants: [t" + std::to_string(k % tenants) +
                "]}, then: {action: allow}}\n";
    text += "  - {name: lock-t3, when: {tenants: [t3]}, then: {action: deny, message: x}}\n";
    text += "  - {name: lock-t5, when: {tenants: [t5]}, then: {action: deny, message: x}}\n";
    return text;
}
}  // namespace

TEST_SUITE("lint") {
    TEST_CASE("rules that can never take effect or never match are reported at the rule") {
        const auto out = lint(policy);
        REQUIRE(out.size() == 4);
        CHECK(out[0] == policy_fallbacks);
        CHECK(out[1] == "p.yaml:14:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
                        "rule 'no-cards' (line 11)");
        CHECK(out[2] == "p.yaml:20:5: rule 'impossible' can never match: class_at_least restricted is above "
                        "class_at_most public");
        CHECK(out[3] == "p.yaml:9:5: tenant 'finance' can never be allowed: no enforced allow rule applies to it");
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
        REQUIRE(out.size() == 7);
        CHECK(out[4] == "p.yaml:1:1: backend 'lab' is in zone 'lab', which the policy does not define");
        CHECK(out[5] == "p.yaml:3:5: zone 'site' has no backend");
        CHECK(out[6] == "p.yaml:7:5: tenant 'radiology' has no reachable backend: no backend is in its zones (site)");
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

    TEST_CASE("a deny rule naming every endpoint shadows what a deny without the condition would") {
        const auto out = lint(R"(classes: [public]
zones: [{name: site}]
tenants: [{name: demo}]
rules:
  - {name: deny-every-endpoint, when: {endpoints: [embeddings, chat.completions, completions]}, then: {action: deny, message: no}}
  - {name: allow-demo, when: {tenants: [demo]}, then: {action: allow}}
  - {name: deny-chat, when: {endpoints: [chat.completions]}, then: {action: deny, message: no chat}}
)");
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:6:5: rule 'allow-demo' is shadowed: every request it matches is denied by rule "
                        "'deny-every-endpoint' (line 5)");
        CHECK(out[1] == "p.yaml:7:5: rule 'deny-chat' is shadowed: every request it matches is denied by rule "
                        "'deny-every-endpoint' (line 5)");
        // Two of the three endpoints leave the third: nothing is shadowed.
        CHECK(lint(R"(classes: [public]
zones: [{name: site}]
tenants: [{name: demo}]
rules:
  - {name: deny-two-endpoints, when: {endpoints: [embeddings, completions]}, then: {action: deny, message: no}}
  - {name: allow-demo, when: {tenants: [demo]}, then: {action: allow}}
)").empty());
    }

    TEST_CASE("a policy without tenants whose rules allow nothing denies every request, and lint says so") {
        const auto out = lint("classes: [public]\nzones: [{name: site}]\nrules: []\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:1:1: no request can ever be allowed: no rule with action allow is enforced, and a "
                        "request no rule allows is denied (default deny)");
        // An allow rule in warn mode allows nothing either; an enforced one does.
        CHECK(lint("classes: [public]\nzones: [{name: site}]\n"
                   "rules: [{name: try, mode: warn, then: {action: allow}}]\n").size() == 1);
        CHECK(lint("classes: [public]\nzones: [{name: site}]\nrules: [{name: all, then: {action: allow}}]\n").empty());
    }

    TEST_CASE("a rule every tenant it names is exempt from can never match, and is not said to be shadowed") {
        const auto out = lint(R"(classes: [public]
zones: [{name: site}]
tenants:
  - {name: a, exempt_from: [deny-a, redact-for-a]}
  - {name: b, exempt_from: [redact-for-a]}
rules:
  - {name: deny-a, when: {tenants: [a]}, then: {action: deny, message: no}}
  - {name: redact-for-a, when: {tenants: [a]}, then: {redact: [email]}}
  - {name: deny-b, when: {tenants: [b]}, then: {action: deny, message: no}}
  - {name: allow-ab, when: {tenants: [a, b]}, then: {action: allow}}
)");
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:7:5: rule 'deny-a' can never match: every tenant it names (a) is exempt from it");
        CHECK(out[1] == "p.yaml:8:5: rule 'redact-for-a' can never match: every tenant it names (a) is exempt from it");
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

    // Every matching rule's zones and backends are intersected: a rule that narrows all of a tenant's
    // requests to one zone, beside the allow rule that sends them to another, leaves it nowhere to go.
    TEST_CASE("a tenant left no backend by a rule that narrows all of its requests is reported; one narrowed to a "
              "backend it can reach is not") {
        const std::string narrowed = R"(classes: [public]
zones: [{name: site}, {name: cloud}]
tenants: [{name: gamma}, {name: delta}, {name: omega, exempt_from: [gamma-to-cloud]}]
rules:
  - {name: gamma-to-cloud, when: {tenants: [gamma, omega]}, then: {zones: [cloud]}}
  - {name: everyone-on-site, then: {action: allow, zones: [site]}}
  - {name: delta-on-vllm, when: {tenants: [delta]}, then: {backends: [site-vllm]}}
  - {name: big-model-in-cloud, when: {models: [gpt]}, then: {zones: [cloud]}}
)";
        const std::vector<BackendInfo> backends{{"site-vllm", "site", {"llama"}}, {"cloud-llm", "cloud", {"gpt"}}};
        const auto out = lint(narrowed, &backends);
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:3:11: tenant 'gamma' has no reachable backend: no backend in its zones (site, cloud) "
                        "is one that its allow rules (everyone-on-site) may send to, by their zones, backends and "
                        "models, within the zones and backends of rule(s) gamma-to-cloud, which apply to all of its "
                        "requests");
    }

    // policy test and explain know no backends and call such requests allowed; the gateway has no
    // backend to send them to. Lint, given the backends, says so.
    TEST_CASE("a rule whose backends lie only in zones no allow rule sends to is reported") {
        const std::string outside = R"(classes: [public]
zones: [{name: site}, {name: cloud}]
tenants: [{name: alpha}]
rules:
  - {name: alpha-on-site, when: {tenants: [alpha]}, then: {action: allow, zones: [site]}}
  - {name: big-model-in-cloud, when: {models: [gpt]}, then: {backends: [cloud-llm]}}
  - {name: small-model-on-vllm, when: {models: [llama]}, then: {backends: [site-vllm, cloud-llm]}}
)";
        const std::vector<BackendInfo> backends{{"site-vllm", "site", {"llama"}}, {"cloud-llm", "cloud", {"gpt", "llama"}}};
        const auto out = lint(outside, &backends);
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:6:5: rule 'big-model-in-cloud' restricts the requests it matches to backends cloud-llm, "
                        "in zones cloud, where no allow rule sends a request (they allow zones site): every request "
                        "it matches is refused with 503");
        // An allow rule without zones may send anywhere: nothing to report.
        std::string anywhere = outside;
        anywhere.replace(anywhere.find("action: allow, zones: [site]"), 28, "action: allow");
        CHECK(lint(anywhere, &backends).empty());
    }

    TEST_CASE("a policy that does not load gets its load problems and every finding its other parts allow") {
        // A misspelt key in a zone made lint report it alone; the rules' findings are independent of it.
        std::string typo = policy;
        typo.replace(typo.find("    max_class: public"), 21, "    max_clas: public");
        const auto out = lint(typo);
        REQUIRE(out.size() == 5);
        CHECK(out[0] == "p.yaml:5:5: unknown key 'max_clas' in a zone; did you mean 'max_class'?");
        CHECK(out[1] == policy_fallbacks);
        CHECK(out[2] == "p.yaml:14:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
                        "rule 'no-cards' (line 11)");
        CHECK(out[3] == "p.yaml:20:5: rule 'impossible' can never match: class_at_least restricted is above "
                        "class_at_most public");
        CHECK(out[4] == "p.yaml:9:5: tenant 'finance' can never be allowed: no enforced allow rule applies to it");
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
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:7:91: action must be allow or deny, not 'alow'");
        CHECK(out[1] == "p.yaml:3:54: exempt_from: no rule named 'no-card'; did you mean 'no-cards'?");
        CHECK(out[2] == policy_fallbacks);
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
        REQUIRE(out.size() == 6);
        CHECK(out[0] == "p.yaml:11:5: YAML syntax error: end of map flow not found");
        CHECK(out[1] == "p.yaml:19:31: YAML syntax error: illegal flow end");
        // The rest, without the two rules the errors are in: no complaint that follows from leaving them
        // out, and no finding that their absence could make false (whether finance is ever allowed).
        CHECK(out[2] == "p.yaml:6:27: redact_in_responses: no detector named 'emial'; did you mean 'email'?");
        CHECK(out[3] == "p.yaml:23:20: action must be allow or deny, not 'alow'");
        CHECK(out[4] == policy_fallbacks);
        CHECK(out[5] == "p.yaml:15:5: rule 'cards-for-radiology' is shadowed: every request it matches is denied by "
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

    TEST_CASE("built-in detectors whose default class the policy lacks are named where their classes are written") {
        const std::string ministry = R"(classes: [official, secret]
zones: [{name: site}]
builtin_detectors:
  email: official
tenants: [{name: desk}]
rules:
  - name: no-credentials
    when: {detected: [aws_access_key, private_key, jwt, github_token, slack_token, api_key, generic_secret]}
    then: {action: deny, message: no credentials}
  - {name: desk, when: {tenants: [desk]}, then: {action: allow}}
)";
        // Credentials are denied whatever their class: their class decides nothing, so they go unnamed.
        const std::string restricted = "credit_card, us_ssn, uk_nhs, uk_nino, de_steuer_id, fr_nir, es_dni, es_nie, "
                                       "it_codice_fiscale, nl_bsn, pl_pesel, be_national_number (default restricted)";
        const std::string others = "iban, phone, date_of_birth (default confidential); ipv4, ipv6 (default internal)";
        const std::string prefix = "warning: built-in detectors whose default class is not one of the policy's classes take "
                                   "the highest class, secret: ";
        const std::string advice = "; give each one of the policy's classes under builtin_detectors";
        const auto out = lint(ministry);
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:3:1: " + prefix + restricted + "; " + others + advice);

        // Without a builtin_detectors section, at classes; a tenant exempt from the deny rule gets
        // credentials through it, so their class decides again and they are named too.
        std::string unmapped = ministry;
        const std::string section = "builtin_detectors:\n  email: official\n";
        unmapped.erase(unmapped.find(section), section.size());
        const std::string desk = "{name: desk}";
        unmapped.replace(unmapped.find(desk), desk.size(), "{name: desk, exempt_from: [no-credentials]}");
        const auto exempt = lint(unmapped);
        REQUIRE(exempt.size() == 1);
        CHECK(exempt[0] == "p.yaml:1:1: " + prefix + "credit_card, us_ssn, uk_nhs, uk_nino, aws_access_key, "
                           "private_key, jwt, github_token, slack_token, api_key, generic_secret, de_steuer_id, fr_nir, "
                           "es_dni, es_nie, it_codice_fiscale, nl_bsn, pl_pesel, be_national_number (default restricted); "
                           "iban, email, phone, date_of_birth (default confidential); ipv4, ipv6 (default internal)" +
                           advice);

        // Every built-in given a class: nothing to say. With a single class there is nothing to choose.
        std::string mapped = "classes: [official, secret]\nzones: [{name: site}]\nbuiltin_detectors:\n";
        for (const auto& b : builtin_detectors()) mapped += "  " + std::string(b.name) + ": official\n";
        mapped += "rules: [{name: all, then: {action: allow}}]\n";
        CHECK(lint(mapped).empty());
        CHECK(lint("classes: [official]\nzones: [{name: site}]\nrules: [{name: all, then: {action: allow}}]\n").empty());
    }

    TEST_CASE("a policy of 10,000 rules and 1,000 tenants is analysed in seconds, and its findings are the same") {
        // 5,000 deny and 5,000 allow rules with 1,000 tenants took over two minutes when every pair of
        // rules was compared over every tenant; the gateway ran it at start and on each reload. The
        // limit is 10,000 rules in all: 4,999 of each here, and the two that lock tenants out.
        const auto loaded = load_policy_text(large_policy(1000, 5), "big.yaml");
        REQUIRE(loaded.policy);
        const auto started = std::chrono::steady_clock::now();
        const auto findings = analyse_policy(*loaded.policy, nullptr);
        const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        CHECK(seconds < 10.0);
        // t3's allow rules are shadowed by the deny at the end; t5's are not: t5 is exempt from its deny,
        // which, naming t5 alone, can never match.
        REQUIRE(findings.size() == 6);
        for (int i = 0; i < 5; ++i)
            CHECK(format_diagnostic(findings[static_cast<std::size_t>(i)]) ==
                  "big.yaml:" + std::to_string(6004 + 1000 * i + 3) + ":5: rule 'a" + std::to_string(1000 * i + 3) +
                      "' is shadowed: every request it matches is denied by rule 'lock-t3' (line 11003)");
        CHECK(format_diagnostic(findings[5]) ==
              "big.yaml:11004:5: rule 'lock-t5' can never match: every tenant it names (t5) is exempt from it");
        // The same findings on a small policy of the same shape.
        const auto small = load_policy_text(large_policy(10, 2), "small.yaml");
        REQUIRE(small.policy);
        const auto few = analyse_policy(*small.policy, nullptr);
        REQUIRE(few.size() == 3);
        CHECK(format_diagnostic(few[0]) == "small.yaml:37:5: rule 'a3' is shadowed: every request it matches is denied "
                                           "by rule 'lock-t3' (line 53)");
        CHECK(format_diagnostic(few[1]) == "small.yaml:47:5: rule 'a13' is shadowed: every request it matches is "
                                           "denied by rule 'lock-t3' (line 53)");
    }

    TEST_CASE("an analysis asked to stop ends early") {
        const auto loaded = load_policy_text(large_policy(100, 5), "big.yaml");
        REQUIRE(loaded.policy);
        std::stop_source stop;
        stop.request_stop();
        CHECK(analyse_policy(*loaded.policy, nullptr, nullptr, stop.get_token()).empty());
        CHECK(analyse_policy(*loaded.policy, nullptr).size() == 6);
    }

    TEST_CASE("a clean policy produces no diagnostics") {
        CHECK(lint(R"(classes: [public]
zones: [{name: site}]
rules: [{name: all, then: {action: allow}}]
)").empty());
    }
}
