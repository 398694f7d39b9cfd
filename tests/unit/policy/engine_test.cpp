#include <doctest/doctest.h>

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

TEST_SUITE("engine") {
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
