#include <doctest/doctest.h>

#include <string>

#include "fixture.hpp"
#include "policy/diagnostic.hpp"
#include "policy/policy.hpp"

using namespace sovereign::policy;

namespace {
const std::string base = R"(classes: [public, internal, restricted]
zones:
  - name: site
)";

// The diagnostics of loading base + extra, formatted as the CLI prints them.
std::vector<std::string> problems(const std::string& extra) {
    const auto loaded = load_policy_text(base + extra, "p.yaml");
    std::vector<std::string> out;
    for (const auto& d : loaded.diagnostics) out.push_back(format_diagnostic(d));
    if (!out.empty()) CHECK_FALSE(loaded.policy);
    return out;
}
}  // namespace

TEST_SUITE("loader") {
    TEST_CASE("the fixture policy loads and keeps its rules in file order") {
        const auto policy = testing::load_fixture();
        REQUIRE(policy);
        const auto& rules = policy->model().rules;
        REQUIRE(rules.size() == 7);
        CHECK(rules[0].name == "secrets-never-leave");
        CHECK(rules[0].line == 30);
        CHECK(rules[6].mode == RuleMode::warn);
        CHECK(policy->class_level("confidential") == 2);
        CHECK(policy->find_tenant("radiology")->clearance == 3);
        CHECK(policy->find_tenant("marketing")->clearance == 1);
    }

    TEST_CASE("each of thousands of tenants is found by its name, with its own clearance and answer redactions") {
        std::string text = base + "responses:\n  redact: [credit_card]\ntenants:\n";
        for (int i = 0; i < 3000; ++i) {
            text += "  - name: tenant-" + std::to_string(i) + "\n";
            text += std::string("    clearance: ") + (i % 3 == 0 ? "restricted" : "internal") + "\n";
            if (i % 7 == 0) text += "    redact_in_responses: [email]\n";
        }
        text += "rules:\n  - name: on-site\n    then: {action: allow, zones: [site]}\n";
        const auto loaded = load_policy_text(text, "p.yaml");
        REQUIRE(loaded.policy);
        const Policy& policy = *loaded.policy;
        const auto& detectors = policy.detectors();
        const std::size_t email = detectors.find("email");
        const std::size_t card = detectors.find("credit_card");
        REQUIRE(email < detectors.detectors().size());
        for (int i = 0; i < 3000; ++i) {
            const std::string name = "tenant-" + std::to_string(i);
            const TenantDef* tenant = policy.find_tenant(name);
            REQUIRE(tenant != nullptr);
            CHECK(tenant->name == name);
            CHECK(tenant->clearance == (i % 3 == 0 ? 2 : 1));
            CHECK(policy.redaction_in_answers(name)[email] == (i % 7 == 0 ? 1 : 0));
            CHECK(policy.redaction_in_answers(name)[card] == 1);
            CHECK(policy.redacts_answers(name));
        }
        CHECK(policy.find_tenant("tenant-3000") == nullptr);
        CHECK(policy.find_tenant("tenant-") == nullptr);
        CHECK(policy.redaction_in_answers("someone-else")[email] == 0);
        CHECK(policy.redaction_in_answers("someone-else")[card] == 1);
    }

    TEST_CASE("an empty or half-written policy file is refused with its problems, never a crash") {
        // Found by policy_fuzz: a file that defined no detector yet crashed the loader, which the
        // gateway runs on every hot reload (an editor saving an empty file first).
        for (const std::string text : {"", "\n", "# only a comment\n", "name: x\n", "classes: [public]\n", "[]\n"}) {
            CAPTURE(text);
            const auto loaded = load_policy_text(text, "p.yaml");
            CHECK_FALSE(loaded.policy);
            REQUIRE_FALSE(loaded.diagnostics.empty());
            for (const auto& d : loaded.diagnostics) {
                CHECK(d.line >= 1);
                CHECK(d.column >= 1);
            }
        }
        CHECK(format_diagnostic(load_policy_text("", "p.yaml").diagnostics.at(0)) ==
              "p.yaml:1:1: the policy must be a mapping of keys to values");
    }

    TEST_CASE("unknown keys are reported at their position with a suggestion") {
        CHECK(problems("rulez: []\n") ==
              std::vector<std::string>{"p.yaml:4:1: unknown key 'rulez' in the policy; did you mean 'rules'?",
                                       "p.yaml:1:1: the policy needs 'rules'"});
    }

    TEST_CASE("references to undefined zones, classes and detectors name the closest definition") {
        const auto out = problems(R"(rules:
  - name: r1
    when: {detected: [credit_crd], class_at_least: restrictd}
    then: {action: allow, zones: [sit]}
)");
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:6:23: detected: no detector named 'credit_crd'; did you mean 'credit_card'?");
        CHECK(out[1] == "p.yaml:6:52: class_at_least: 'restrictd' is not one of the classes; did you mean 'restricted'?");
        CHECK(out[2] == "p.yaml:7:35: zones: no zone named 'sit'; did you mean 'site'?");
    }

    TEST_CASE("wrong types and missing fields are errors, never defaults") {
        const auto out = problems(R"(rules:
  - name: r1
    mode: enforced
    then: {action: deny}
  - name: r2
    then: {capture_payload: yes please}
)");
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:6:11: mode must be enforce, warn or dry-run, not 'enforced'");
        CHECK(out[1] == "p.yaml:7:11: a deny rule needs a 'message' telling the application why");
        CHECK(out[2] == "p.yaml:9:29: capture_payload must be true or false");
    }

    // What YAML and the JSON Schema read as text is text to the loader too, so an editor and the
    // gateway never disagree on a file: a quoted true is no boolean, a quoted 1 no version, and a
    // description is text wherever it is written.
    TEST_CASE("quoted booleans and numbers, and descriptions that are not text, are wrong types") {
        const auto out = problems(R"(detectors:
  - {name: code, class: public, pattern: 'ZX[0-9]{4}', case_sensitive: "false"}
tenants: [{name: t, capture_payload: 'true'}]
rules:
  - name: r1
    then: {action: allow, description: [a, b]}
)");
        REQUIRE(out.size() == 3);
        CHECK(out[0] == "p.yaml:5:72: case_sensitive must be true or false, written without quotes (in quotes it is text)");
        CHECK(out[1] == "p.yaml:6:38: capture_payload must be true or false, written without quotes (in quotes it is text)");
        CHECK(out[2] == "p.yaml:9:40: description must be text");
        const auto loaded = load_policy_text("version: '1'\ndescription: {owner: me}\n" + base +
                                                 "rules: [{name: r, then: {action: allow}}]\n",
                                             "p.yaml");
        REQUIRE(loaded.diagnostics.size() == 2);
        CHECK(format_diagnostic(loaded.diagnostics[0]) ==
              "p.yaml:1:10: version must be a whole number, written without quotes (in quotes it is text)");
        CHECK(format_diagnostic(loaded.diagnostics[1]) == "p.yaml:2:14: description must be text");
    }

    TEST_CASE("a deny rule's backends are refused like its zones: the request is stopped, they have no effect") {
        const auto out = problems(R"(rules:
  - {name: all, then: {action: allow}}
  - {name: no, when: {models: [m]}, then: {action: deny, message: no, backends: [b1]}}
)");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:6:43: a deny rule stops the request; redact, tokenize, zones and backends have no "
                        "effect in it");
    }

    TEST_CASE("an empty list is refused where it would read as 'no condition' or restrict nothing") {
        const auto out = problems(R"(tenants:
  - {name: vip, clearance: restricted}
  - {name: guest, clearance: restricted, zones: []}
rules:
  - name: allow-vip-on-site
    when: {tenants: [], detected: []}
    then: {action: allow, zones: []}
  - name: r2
    then: {redact: []}
)");
        REQUIRE(out.size() == 5);
        CHECK(out[0].starts_with("p.yaml:6:49: zones is an empty list, which would leave the tenant unrestricted"));
        CHECK(out[1].starts_with("p.yaml:9:21: tenants is an empty list, which would leave it unclear whether the "
                                 "rule applies to every request or to none; list at least one, or leave 'tenants' out"));
        CHECK(out[2].starts_with("p.yaml:9:35: detected is an empty list"));
        CHECK(out[3].starts_with("p.yaml:10:34: zones is an empty list, which restricts or transforms nothing"));
        CHECK(out[4].starts_with("p.yaml:12:20: redact is an empty list"));
        // And where it would remove or exempt nothing.
        const auto more = problems(R"(responses: {redact: []}
tenants:
  - {name: vip, exempt_from: [], redact_in_responses: []}
rules:
  - {name: r, then: {action: allow}}
)");
        REQUIRE(more.size() == 3);
        CHECK(more[0].find("responses.redact is an empty list, which removes nothing from answers") != std::string::npos);
        CHECK(more[1].find("exempt_from is an empty list, which exempts from nothing") != std::string::npos);
        CHECK(more[2].find("redact_in_responses is an empty list") != std::string::npos);
    }

    TEST_CASE("a rule that does nothing or has an empty name is reported") {
        const auto out = problems(R"(rules:
  - name: ""
    then: {action: allow}
  - name: r2
    then: {capture_payload: false}
)");
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:5:11: a rule needs a name: decisions, audit records and exemptions refer to it");
        CHECK(out[1].starts_with("p.yaml:8:11: rule 'r2' does nothing"));
    }

    TEST_CASE("names YAML reads as numbers or booleans are the words written; empty tenant and zone names are refused") {
        // The JSON Schema accepts the same (tests/policy/fixtures/schema_agreement).
        const auto loaded = load_policy_text(R"(classes: [1, 2024]
zones: [{name: 7, max_class: 2024}]
tenants: [{name: 2024, clearance: 2024}, {name: true}]
rules:
  - name: 123
    when: {tenants: [2024, true]}
    then: {action: allow, zones: [7]}
)", "p.yaml");
        REQUIRE(loaded.policy);
        CHECK(loaded.policy->model().classes == std::vector<std::string>{"1", "2024"});
        CHECK(loaded.policy->find_tenant("2024") != nullptr);
        CHECK(loaded.policy->find_tenant("true") != nullptr);
        CHECK(loaded.policy->model().rules[0].name == "123");
        const auto load = [](const std::string& yaml) {
            std::vector<std::string> found;
            for (const auto& d : load_policy_text(yaml, "z.yaml").diagnostics) found.push_back(format_diagnostic(d));
            return found;
        };
        CHECK(load("classes: [public]\nzones: [{name: ''}]\nrules: [{name: all, then: {action: allow}}]\n") ==
              std::vector<std::string>{"z.yaml:2:16: zone name '' must be a word of letters, digits, '-', '_' or '.'"});
        CHECK(load("classes: [public]\nzones: [{name: site}]\ntenants: [{name: ''}]\nrules: [{name: all, then: {action: allow}}]\n") ==
              std::vector<std::string>{"z.yaml:3:18: a tenant needs a name: rules, exemptions and gateway.yaml refer to it"});
    }

    TEST_CASE("an empty list item is reported at its dash, not at the next line") {
        const auto out = problems("rules:\n  - name: a\n    then: {action: allow}\n  -\n\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:7:3: a rule must be a mapping of keys to values");
    }

    TEST_CASE("a misspelt endpoint is reported at the item, not at its list") {
        const auto out = problems(R"(rules:
  - name: r
    when: {endpoints: [chat.completions, completions, embedding]}
    then: {action: allow}
)");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:6:55: endpoint 'embedding' is not one of chat.completions, completions, embeddings; "
                        "did you mean 'embeddings'?");
    }

    TEST_CASE("a built-in detector given two classes is reported") {
        const auto out = problems("builtin_detectors:\n  email: internal\n  email: public\n"
                                  "rules: [{name: a, then: {action: allow}}]\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:6:3: 'email' appears twice in builtin_detectors");
    }

    TEST_CASE("tenant and rule names with invisible or control characters or outer spaces are refused") {
        const auto out = problems("tenants:\n  - name: \"de\\u200Fmo\"\nrules:\n  - name: \"allow \"\n    then: {action: allow}\n");
        REQUIRE(out.size() == 2);
        CHECK(out[0].find("holds the invisible or control character U+200F") != std::string::npos);
        CHECK(out[1].find("rule name 'allow ' begins or ends with a space") != std::string::npos);
        CHECK(problems("tenants:\n  - name: \"équipe-médicale\"\nrules:\n  - name: a\n    then: {action: allow}\n").empty());
    }

    TEST_CASE("a tab in indentation and a YAML merge key are named as such") {
        const auto tab = problems("rules:\n  - name: a\n\tthen: {action: allow}\n");
        REQUIRE(tab.size() == 1);
        CHECK(tab[0].find("YAML syntax error: a tab indents this line; YAML indents with spaces only") != std::string::npos);
        const auto merge = problems("rules:\n  - name: a\n    then: &b {action: allow}\n  - name: b\n    then:\n      <<: *b\n");
        REQUIRE(!merge.empty());
        CHECK(merge[0].find("unknown key '<<' in then: YAML merge keys ('<<: *anchor') are not expanded here") !=
              std::string::npos);
    }

    TEST_CASE("a file that is not UTF-8 is refused at its first bad byte") {
        const auto out = problems("rules:\n  - name: caf\xe9\n    then: {action: allow}\n");
        REQUIRE(out.size() == 1);
        CHECK_MESSAGE(out[0].starts_with("p.yaml:5:14: YAML syntax error: byte 0xE9 is not UTF-8"), out[0]);
        // Overlong forms and surrogates are not UTF-8 either; real accents are.
        CHECK(problems("name: \xc0\xaf\n").size() == 1);
        CHECK(problems("name: \xed\xa0\x80\n").size() == 1);
        CHECK(problems("rules:\n  - name: caf\xc3\xa9\n    then: {action: allow}\n").empty());
    }

    TEST_CASE("a second YAML document is refused, not dropped") {
        const auto out = problems(R"(rules:
  - name: allow-all
    then: {action: allow}
---
rules:
  - name: no-cards
    when: {detected: [credit_card]}
    then: {action: deny, message: no cards}
)");
        REQUIRE(out.size() == 1);
        CHECK(out[0].starts_with("p.yaml:7:1: YAML syntax error: a second YAML document starts here"));
        // A stream that only ends with a marker, or with comments after one, is one document.
        CHECK(problems("rules:\n  - name: a\n    then: {action: allow}\n---\n# nothing more\n").empty());
        // Content on the marker's own line is a second document too.
        const auto inline_doc = problems("rules:\n  - name: a\n    then: {action: allow}\n--- {rules: []}\n");
        REQUIRE(inline_doc.size() == 1);
        CHECK(inline_doc[0].starts_with("p.yaml:7:1: YAML syntax error: a second YAML document starts here"));
        // Found by config_fuzz: yaml-cpp's LoadAll, which the check first used, never returned on a file
        // that is only a comma (it grew past every memory limit).
        const auto comma = load_policy_text(",", "p.yaml");
        CHECK_FALSE(comma.policy);
    }

    TEST_CASE("a pattern vectorscan cannot compile is reported at the pattern, with the file's other problems") {
        const std::string policy = R"(detectors:
  - name: broken
    class: restricted
    pattern: 'ab(c'
rules:
  - name: r1
    then: {action: allow}
)";
        const auto out = problems(policy);
        REQUIRE(out.size() == 1);
        CHECK(out[0].rfind("p.yaml:7:14: vectorscan cannot compile the pattern: ", 0) == 0);
        // In the same run as a mistake elsewhere in the file, not only once that is fixed.
        const auto both = problems(policy + "    mode: enforced\n");
        REQUIRE(both.size() == 2);
        CHECK(both[0] == "p.yaml:11:11: mode must be enforce, warn or dry-run, not 'enforced'");
        CHECK(both[1] == out[0]);
    }

    TEST_CASE("unbounded custom patterns are refused so streamed output can be scanned") {
        const auto out = problems(R"(detectors:
  - name: ticket
    class: internal
    pattern: 'TICKET-[0-9]+'
rules:
  - name: r1
    then: {action: allow}
)");
        REQUIRE(out.size() == 1);
        CHECK(out[0].find("bound its repeats") != std::string::npos);
    }

    TEST_CASE("repeated keys, duplicate names and YAML syntax errors are reported") {
        CHECK(problems("rules: []\nrules: []\n") ==
              std::vector<std::string>{"p.yaml:5:1: 'rules' appears twice in the policy"});
        const auto dup = problems(R"(rules:
  - name: r1
    then: {action: allow}
  - name: r1
    then: {action: allow}
)");
        REQUIRE(dup.size() == 1);
        CHECK(dup[0] == "p.yaml:7:11: rule 'r1' is defined twice (first at line 5)");
        const auto syntax = problems("rules: [\n");
        REQUIRE(syntax.size() == 1);
        CHECK(syntax[0].find("YAML syntax error") != std::string::npos);
        // Nesting deep enough to exhaust a recursive parser's stack is refused with a reason, at the
        // bracket that goes past the limit (the 499th: the document's mapping is the first level), not
        // where yaml-cpp's scanner had read up to (the end of the line).
        const auto deep = problems("rules: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
        REQUIRE(deep.size() == 1);
        CHECK(deep[0].starts_with("p.yaml:4:506: YAML syntax error: lists and mappings are nested too deeply here"));
        const auto deep_maps = problems("rules: " + std::string(600, '{') + "\n");
        REQUIRE(deep_maps.size() == 1);
        CHECK(deep_maps[0].starts_with("p.yaml:4:506: YAML syntax error: lists and mappings are nested too deeply"));
    }

    TEST_CASE("tenants named by rules must be listed and exemptions must name rules") {
        const auto out = problems(R"(tenants:
  - name: radiology
    exempt_from: [no-such-rule]
rules:
  - name: r1
    when: {tenants: [radiolgy]}
    then: {action: allow}
)");
        REQUIRE(out.size() == 2);
        CHECK(out[0] == "p.yaml:9:22: no tenant named 'radiolgy' under tenants; did you mean 'radiology'?");
        CHECK(out[1] == "p.yaml:6:19: exempt_from: no rule named 'no-such-rule'");
    }

    TEST_CASE("oversized custom detectors are refused before vectorscan sees them") {
        std::string words = "[";
        for (int i = 0; i < 5001; ++i) words += (i ? ", w" : "w") + std::to_string(i);
        const auto out = problems("detectors:\n  - {name: many, class: internal, keywords: " + words +
                                  "]}\nrules: [{name: r, then: {action: allow}}]\n");
        REQUIRE(out.size() == 1);
        CHECK(out[0] == "p.yaml:5:45: keywords must list 1 to 5000 words");
    }

    TEST_CASE("the policy version is the sha256 of the file content") {
        const auto a = load_policy_text(base + "rules: [{name: r, then: {action: allow}}]\n", "a.yaml");
        const auto b = load_policy_text(base + "rules: [{name: r, then: {action: allow}}] \n", "a.yaml");
        REQUIRE(a.policy);
        REQUIRE(b.policy);
        CHECK(a.policy->version().size() == 64);
        CHECK(a.policy->version() != b.policy->version());
    }
}
