#include <doctest/doctest.h>

#include <algorithm>

#include "fixture.hpp"
#include "policy/engine.hpp"

using namespace sovereign::policy;
using sovereign::policy::testing::load_fixture;

namespace {
Request chat(std::string tenant, std::string text, std::string declared = "") {
    return Request{std::move(tenant), "llama", "chat.completions", std::move(declared),
                   {{"messages[0].content", std::move(text)}}};
}
std::vector<std::string> names(const std::vector<RuleMatch>& matched) {
    std::vector<std::string> out;
    for (const auto& m : matched) out.push_back(m.rule);
    return out;
}
}  // namespace

// Rules about destination zones (`when: zones`): the codename may not go to the cloud, and e-mail
// addresses are redacted while the cloud may receive the request.
const std::string_view zoned_policy = R"(name: zoned
classes: [public, internal]
zones: [{name: site}, {name: cloud}]
detectors:
  - {name: codename, class: internal, keywords: [Nightjar]}
tenants:
  - {name: anywhere, clearance: internal}
  - {name: cloud-only, clearance: internal, zones: [cloud]}
  - {name: site-only, clearance: internal, zones: [site]}
rules:
  - name: codenames-not-to-cloud
    when: {detected: [codename], zones: [cloud]}
    then: {action: deny, message: "Codenames stay on site."}
  - name: emails-redacted-for-cloud
    when: {zones: [cloud]}
    then: {redact: [email]}
  - name: everyone
    then: {action: allow, zones: [site, cloud]}
)";

TEST_SUITE("engine") {
    TEST_CASE("a deny about a destination zone keeps the request from that zone only") {
        const auto loaded = load_policy_text(zoned_policy, "zoned.yaml");
        REQUIRE_MESSAGE(loaded.policy, (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message));
        const auto& policy = *loaded.policy;
        const auto plain = evaluate(chat("anywhere", "Plan the week."), policy);
        CHECK(plain.action == Action::allow);
        CHECK(plain.allowed_zones == std::vector<std::string>{"site", "cloud"});
        CHECK(names(plain.matched) == std::vector<std::string>{"emails-redacted-for-cloud", "everyone"});

        EvaluationTrace trace;
        const auto codename = evaluate(chat("anywhere", "Status of Nightjar?"), policy, &trace);
        CHECK(codename.action == Action::allow);
        CHECK(codename.allowed_zones == std::vector<std::string>{"site"});
        REQUIRE(codename.matched.size() == 3);
        CHECK(codename.matched[0].rule == "codenames-not-to-cloud");
        CHECK(codename.matched[0].effect == "deny sending to zones cloud");
        CHECK(codename.matched[0].why == "detected codename (1); it is about sending to zones cloud");
        CHECK(std::find(trace.steps.begin(), trace.steps.end(), "zone cloud excluded by codenames-not-to-cloud") !=
              trace.steps.end());

        // Where the excluded zone was the only one left, the zone rule denies the request.
        const auto cloud_only = evaluate(chat("cloud-only", "Status of Nightjar?"), policy);
        CHECK(cloud_only.action == Action::deny);
        CHECK(cloud_only.deciding_rule == "codenames-not-to-cloud");
        CHECK(cloud_only.allowed_zones.empty());
        // A tenant that never sends to the cloud is not affected.
        const auto site_only = evaluate(chat("site-only", "Status of Nightjar?"), policy);
        CHECK(site_only.action == Action::allow);
        CHECK(site_only.allowed_zones == std::vector<std::string>{"site"});
    }

    TEST_CASE("transforms of a rule about a destination zone apply while that zone may receive the request") {
        const auto loaded = load_policy_text(zoned_policy, "zoned.yaml");
        REQUIRE(loaded.policy);
        const auto& policy = *loaded.policy;
        const auto anywhere = evaluate(chat("anywhere", "Mail jane@example.com today."), policy);
        CHECK(anywhere.action == Action::allow);
        REQUIRE(anywhere.spans.size() == 1);
        CHECK(anywhere.spans[0].kind == TransformKind::redact);
        CHECK(anywhere.matched[0].effect == "redact email; while zones cloud may receive the request");
        // Not for a tenant that only sends on site, nor once a zone rule has excluded the cloud.
        CHECK(evaluate(chat("site-only", "Mail jane@example.com today."), policy).spans.empty());
        const auto excluded = evaluate(chat("anywhere", "Nightjar: mail jane@example.com."), policy);
        CHECK(excluded.allowed_zones == std::vector<std::string>{"site"});
        CHECK(excluded.spans.empty());
    }

    TEST_CASE("a rule about destination zones may not allow or restrict, and names defined zones") {
        auto with_rule = [](std::string rule) {
            return "classes: [public]\nzones: [{name: site}, {name: cloud}]\nrules:\n" + rule +
                   "  - {name: all, then: {action: allow}}\n";
        };
        const auto allow = load_policy_text(with_rule("  - {name: z, when: {zones: [cloud]}, then: {action: allow}}\n"), "p.yaml");
        CHECK_FALSE(allow.policy);
        REQUIRE_FALSE(allow.diagnostics.empty());
        CHECK(allow.diagnostics[0].message.find("has a 'zones' condition") != std::string::npos);
        const auto restrict = load_policy_text(with_rule("  - {name: z, when: {zones: [cloud]}, then: {zones: [site]}}\n"), "p.yaml");
        CHECK_FALSE(restrict.policy);
        const auto unknown = load_policy_text(
            with_rule("  - {name: z, when: {zones: [clod]}, then: {action: deny, message: no}}\n"), "p.yaml");
        CHECK_FALSE(unknown.policy);
        REQUIRE_FALSE(unknown.diagnostics.empty());
        CHECK(unknown.diagnostics[0].message.find("clod") != std::string::npos);
    }

    TEST_CASE("restricted patient data is allowed only to zones that may hold restricted data") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("radiology", "Summarise the notes of patient PAT-123456."), *policy);
        CHECK(d.action == Action::allow);
        CHECK(d.deciding_rule == "clinical-staff");
        CHECK(d.data_class == "restricted");
        CHECK(d.allowed_zones == std::vector<std::string>{"site"});
        CHECK(d.detector_counts.at("patient_id") == 1);
        CHECK(d.policy_version.size() == 64);
    }

    TEST_CASE("keyword detectors match regardless of case and raise the class") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("marketing", "Draft a teaser for project bluebird."), *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.data_class == "confidential");
        CHECK(d.detector_counts.at("project_codename") == 1);
        CHECK(d.deciding_rule == "default-deny");
    }

    TEST_CASE("public text is allowed to every zone the allowing rule names, in policy order") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("marketing", "Write a haiku about autumn."), *policy);
        CHECK(d.action == Action::allow);
        CHECK(d.allowed_zones == std::vector<std::string>{"site", "cloud"});
        CHECK(d.spans.empty());
    }

    TEST_CASE("a deny rule wins over allow rules and its message reaches the application") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("radiology", "Use key AKIAIOSFODNN7EXAMPLE for the upload."), *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "secrets-never-leave");
        CHECK(d.message == "Credentials must not be sent to a model.");
        CHECK(d.allowed_zones.empty());
        CHECK(names(d.matched) == std::vector<std::string>{"secrets-never-leave", "clinical-staff", "capture-restricted"});
    }

    TEST_CASE("an exempt tenant skips the rule but its clearance still applies") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("research", "Use key AKIAIOSFODNN7EXAMPLE for the upload."), *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "clearance");
        CHECK(d.message.find("clearance of tenant research (confidential)") != std::string::npos);
    }

    TEST_CASE("tokenized and redacted values no longer count towards the class that leaves") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const std::string text = "Card 4111 1111 1111 1111, mail jane@example.com";
        const auto d = evaluate(chat("research", text), *policy);
        CHECK(d.action == Action::allow);
        CHECK(d.data_class == "restricted");
        CHECK(d.residual_class == "public");
        CHECK(d.allowed_zones == std::vector<std::string>{"site", "hall-b"});
        REQUIRE(d.spans.size() == 2);
        CHECK(d.spans[0].kind == TransformKind::tokenize);
        CHECK(text.substr(d.spans[0].begin, d.spans[0].end - d.spans[0].begin) == "4111 1111 1111 1111");
        CHECK(d.spans[1].kind == TransformKind::redact);
        CHECK(apply_redactions(text, d.spans, 0) == "Card 4111 1111 1111 1111, mail [REDACTED:email]");
    }

    TEST_CASE("a value split across messages is found, and each piece transformed where it stands") {
        const auto loaded = load_policy_text(R"(classes: [public, internal, confidential, restricted]
zones: [{name: site}]
tenants: [{name: t, clearance: restricted}]
rules:
  - {name: cards, when: {detected: [credit_card]}, then: {redact: [credit_card]}}
  - {name: mail, when: {detected: [email]}, then: {tokenize: [email]}}
  - {name: all, then: {action: allow}}
)", "split.yaml");
        REQUIRE_MESSAGE(loaded.policy, (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message));
        auto conversation = [](std::vector<std::string> texts) {
            Request r{"t", "llama", "chat.completions", "", {}};
            for (std::size_t i = 0; i < texts.size(); ++i)
                r.segments.push_back({"messages[" + std::to_string(i) + "].content", std::move(texts[i])});
            return r;
        };
        auto redacted = [](const Request& r, const Decision& d) {
            std::vector<std::string> out;
            for (std::size_t i = 0; i < r.segments.size(); ++i) out.push_back(apply_redactions(r.segments[i].text, d.spans, i));
            return out;
        };
        // Groups of digits in two messages, with the card's context word in the first.
        const auto two = conversation({"My card number is 4111 1111", "1111 1111, expiring soon.", "Thanks!"});
        EvaluationTrace trace;
        const auto d = evaluate(two, *loaded.policy, &trace);
        CHECK(d.action == Action::allow);
        CHECK(d.detector_counts.at("credit_card") == 1);
        CHECK(redacted(two, d) == std::vector<std::string>{"My card number is [REDACTED:credit_card]",
                                                           "[REDACTED:credit_card], expiring soon.", "Thanks!"});
        REQUIRE(trace.findings.size() == 2);
        CHECK(trace.findings[0].split_pieces == 2);
        CHECK(trace.findings[1].json_path == "messages[1].content");
        // Four messages of four digits each; and sixteen digits written without groups in two halves.
        const auto four = conversation({"4111", "1111", "1111 ", "  1111"});
        CHECK(redacted(four, evaluate(four, *loaded.policy)) ==
              std::vector<std::string>{"[REDACTED:credit_card]", "[REDACTED:credit_card]", "[REDACTED:credit_card] ",
                                       "  [REDACTED:credit_card]"});
        // Blank texts between the pieces (an empty message, one of spaces) hide nothing.
        const auto blanks = conversation({"card 4111 1111", "", "  ", "1111 1111"});
        CHECK(redacted(blanks, evaluate(blanks, *loaded.policy)) ==
              std::vector<std::string>{"card [REDACTED:credit_card]", "", "  ", "[REDACTED:credit_card]"});
        const auto halves = conversation({"card: 41111111", "11111111"});
        CHECK(redacted(halves, evaluate(halves, *loaded.policy)) ==
              std::vector<std::string>{"card: [REDACTED:credit_card]", "[REDACTED:credit_card]"});
        // Long texts are joined by their ends only, cut at whole characters (two-byte letters here).
        std::string letters;
        for (int i = 0; i < 100; ++i) letters += "\u00FC";
        const auto long_texts = conversation({letters + " card 4111 1111", "1111 1111 " + letters});
        CHECK(redacted(long_texts, evaluate(long_texts, *loaded.policy)) ==
              std::vector<std::string>{letters + " card [REDACTED:credit_card]", "[REDACTED:credit_card] " + letters});
        // An address split at its '@': both pieces tokenized.
        const auto mail = conversation({"write to jane.doe@", "example.com today"});
        const auto m = evaluate(mail, *loaded.policy);
        REQUIRE(m.spans.size() == 2);
        CHECK(m.spans[0].kind == TransformKind::tokenize);
        CHECK(mail.segments[0].text.substr(m.spans[0].begin) == "jane.doe@");
        CHECK(mail.segments[1].text.substr(m.spans[1].begin, m.spans[1].end) == "example.com");
        // Numbers that merely meet at a seam are no value; a value whole in one message is found once.
        const auto counts = conversation({"We ordered 12", "34 boxes and 5", "6 crates."});
        CHECK(evaluate(counts, *loaded.policy).detector_counts.empty());
        const auto whole = conversation({"card 4111 1111 1111 1111", "1111 is my PIN"});
        CHECK(evaluate(whole, *loaded.policy).detector_counts.at("credit_card") == 1);
    }

    TEST_CASE("a request no zone may receive is denied by residency, with each zone's reason") {
        const auto loaded = load_policy_text(R"(classes: [public, restricted]
zones: [{name: site}, {name: cloud, max_class: public}, {name: lab}]
tenants:
  - {name: other, clearance: restricted, zones: [cloud, lab]}
rules:
  - {name: allow-other, when: {tenants: [other]}, then: {action: allow, zones: [site, cloud]}}
)",
                                             "p.yaml");
        REQUIRE(loaded.policy);
        Request request;
        request.tenant = "other";
        request.model = "m";
        request.endpoint = "chat.completions";
        request.segments.push_back({"messages[0].content", "card 4111 1111 1111 1111"});
        EvaluationTrace trace;
        const auto d = evaluate(request, *loaded.policy, &trace);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "residency");  // not the allow rule that restricted the zones
        CHECK(d.message == "no zone may receive this request: rule(s) allow-other restrict it to zones site, cloud; "
                           "tenant other may only send to zones cloud, lab; zones cloud may not hold data of class "
                           "restricted");
        const auto has = [&](const std::string& step) {
            return std::find(trace.steps.begin(), trace.steps.end(), step) != trace.steps.end();
        };
        CHECK(has("zone site excluded: tenant other may only send to zones cloud, lab"));
        CHECK(has("zone cloud excluded: it may hold at most public"));
        CHECK(has("zone lab excluded: rule(s) allow-other restrict the request to zones site, cloud"));
    }

    TEST_CASE("warn-mode rules are reported as matched but not enforced") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("radiology", "patient PAT-654321"), *policy);
        CHECK(d.action == Action::allow);
        CHECK_FALSE(d.capture_payload);
        REQUIRE(d.matched.size() == 2);
        CHECK(d.matched[1].rule == "capture-restricted");
        CHECK(d.matched[1].mode == "warn");
    }

    TEST_CASE("a policy asks for captures where a tenant or an enforced rule does, not a warn or dry-run rule") {
        const auto with = [](const std::string& tenant, const std::string& rule) -> bool {
            auto loaded = load_policy_text("classes: [public, internal]\nzones: [{name: site}]\n"
                                           "tenants: [{name: acme" + tenant + "}]\n"
                                           "rules:\n  - {name: all, then: {action: allow}}\n"
                                           "  - {name: watch" + rule + ", then: {capture_payload: true}}\n",
                                           "captures.yaml");
            CHECK(loaded.diagnostics.empty());
            REQUIRE(loaded.policy != nullptr);
            return loaded.policy->asks_for_captures();
        };
        CHECK(with("", ""));
        CHECK(with("", ", mode: enforce"));
        CHECK(with(", capture_payload: true", ", mode: warn"));
        CHECK_FALSE(with("", ", mode: warn"));
        CHECK_FALSE(with("", ", mode: dry-run"));
        const auto policy = load_fixture();  // its only capturing rule is in warn mode
        REQUIRE(policy);
        CHECK_FALSE(policy->asks_for_captures());
    }

    TEST_CASE("the declared class raises the class and an unknown one is refused") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto raised = evaluate(chat("marketing", "hello", "confidential"), *policy);
        CHECK(raised.data_class == "confidential");
        CHECK(raised.action == Action::deny);
        const auto lowered = evaluate(chat("radiology", "patient PAT-654321", "public"), *policy);
        CHECK(lowered.data_class == "restricted");
        const auto unknown = evaluate(chat("marketing", "hello", "secret"), *policy);
        CHECK(unknown.action == Action::deny);
        CHECK(unknown.deciding_rule == "data-class-header");
        CHECK(unknown.message == "the declared data class 'secret' is not one of: public, internal, confidential, "
                                 "restricted (in any letter case, but exactly where two differ only by case)");
    }

    TEST_CASE("a declared class is matched in any letter case, unless two classes differ only by case") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        for (const char* written : {"Confidential", "CONFIDENTIAL", "confidential"}) {
            const auto raised = evaluate(chat("marketing", "hello", written), *policy);
            CHECK_MESSAGE(raised.data_class == "confidential", written);
            CHECK(raised.deciding_rule != "data-class-header");
        }
        const auto loaded = load_policy_text("classes: [public, Secret, secret]\nzones: [{name: site}]\n"
                                             "rules: [{name: all, then: {action: allow}}]\n",
                                             "cased.yaml");
        REQUIRE(loaded.policy);
        CHECK(evaluate(chat("anyone", "hello", "Secret"), *loaded.policy).data_class == "Secret");
        CHECK(evaluate(chat("anyone", "hello", "secret"), *loaded.policy).data_class == "secret");
        CHECK(evaluate(chat("anyone", "hello", "PUBLIC"), *loaded.policy).data_class == "public");
        const auto ambiguous = evaluate(chat("anyone", "hello", "SECRET"), *loaded.policy);
        CHECK(ambiguous.action == Action::deny);
        CHECK(ambiguous.deciding_rule == "data-class-header");
    }

    TEST_CASE("with no allowing rule the default is deny") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto d = evaluate(chat("unknown-tenant", "hello"), *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "default-deny");
    }

    TEST_CASE("a scan that cannot complete fails closed and names the detector") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        std::string flood;
        for (std::size_t i = 0; i <= max_detections_per_scan; ++i) flood += "a@b.io ";
        const auto d = evaluate(chat("radiology", flood), *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "detector:email");
    }

    TEST_CASE("requests beyond the scan limits are denied, not scanned") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        Request r = chat("radiology", "x");
        r.segments.resize(max_request_segments + 1);
        const auto d = evaluate(r, *policy);
        CHECK(d.action == Action::deny);
        CHECK(d.deciding_rule == "request-limits");
    }

    TEST_CASE("the same request always gets the same decision") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        const auto r = chat("research", "Card 4111 1111 1111 1111 for patient PAT-000001");
        const auto a = evaluate(r, *policy);
        const auto b = evaluate(r, *policy);
        CHECK(a.action == b.action);
        CHECK(a.deciding_rule == b.deciding_rule);
        CHECK(a.detector_counts == b.detector_counts);
        CHECK(a.allowed_zones == b.allowed_zones);
        CHECK(names(a.matched) == names(b.matched));
    }

    TEST_CASE("the trace names each finding's place and each rule's outcome, without values") {
        const auto policy = load_fixture();
        REQUIRE(policy);
        EvaluationTrace trace;
        const auto d = evaluate(chat("marketing", "mail jane@example.com"), *policy, &trace);
        CHECK(d.action == Action::deny);
        REQUIRE(trace.findings.size() == 1);
        CHECK(trace.findings[0].json_path == "messages[0].content");
        CHECK(trace.findings[0].detector == "email");
        REQUIRE(trace.rules.size() == policy->model().rules.size());
        CHECK(trace.rules[2].rule == "low-class-anywhere");
        CHECK_FALSE(trace.rules[2].matched);
        CHECK(trace.rules[2].detail == "data class confidential is above internal");
    }
}
