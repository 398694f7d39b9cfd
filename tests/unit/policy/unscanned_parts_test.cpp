#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policy/diagnostic.hpp"
#include "policy/engine.hpp"
#include "policy/explain.hpp"
#include "policy/lint.hpp"
#include "policy/policy.hpp"
#include "policy/test_suite.hpp"
#include "policy/unscanned_parts.hpp"

using namespace sovereign::policy;

namespace {

// Radiology may send images, counted as restricted; a radiology zone may hold restricted data, the
// cloud only internal. Archive lets audio through at the default class (the highest, secret).
const std::string policy_text = R"(classes: [public, internal, restricted, secret]
zones:
  - {name: radiology-gpus, max_class: restricted}
  - {name: cloud, max_class: internal}
tenants:
  - name: radiology
    clearance: restricted
    allow_unscanned: [image_url]
    unscanned_class: restricted
  - name: archive
    clearance: secret
    allow_unscanned: input_audio
  - name: marketing
    clearance: internal
rules:
  - name: everyone
    then: {action: allow}
  - name: restricted-stays-home
    when: {class_at_least: restricted}
    then: {zones: [radiology-gpus]}
)";

std::shared_ptr<const Policy> load(const std::string& text = policy_text) {
    auto loaded = load_policy_text(text, "p.yaml");
    REQUIRE_MESSAGE(loaded.policy, (loaded.diagnostics.empty() ? "" : format_diagnostic(loaded.diagnostics[0])));
    return loaded.policy;
}

Request with_parts(std::string tenant, std::vector<UnscannedPart> parts, std::string text = "What does this show?") {
    Request request{std::move(tenant), "vision", "chat.completions", "", {{"messages[0].content[0].text", std::move(text)}}};
    request.unscanned_parts = std::move(parts);
    return request;
}

UnscannedPart image(int part = 1) {
    return {"messages[0].content[" + std::to_string(part) + "]", "image_url", ""};
}

std::vector<std::string> problems(const std::string& text) {
    std::vector<std::string> out;
    for (const auto& d : load_policy_text(text, "p.yaml").diagnostics) out.push_back(format_diagnostic(d));
    return out;
}

// The policy with the radiology tenant's two keys replaced by `keys` (YAML lines, indented 4).
std::string radiology_with(const std::string& keys) {
    std::string text = policy_text;
    const std::string old = "    allow_unscanned: [image_url]\n    unscanned_class: restricted\n";
    text.replace(text.find(old), old.size(), keys);
    return text;
}

}  // namespace

TEST_SUITE("unscanned") {
    TEST_CASE("a tenant without allow_unscanned is refused any part no detector reads, as before") {
        const auto policy = load();
        const auto decision = evaluate(with_parts("marketing", {image()}), *policy);
        CHECK(decision.action == Action::deny);
        CHECK(decision.deciding_rule == "unscanned-part");
        CHECK(decision.message ==
              "This gateway's policy checks every prompt, and 'messages[0].content[1]' is a content part of type "
              "'image_url', whose data (an image, audio, a file or what a URL or file id points to) no detector can "
              "read; send the prompt as text.");
        // A tenant the policy does not list has no opt-in either.
        CHECK(evaluate(with_parts("nobody", {image()}), *policy).deciding_rule == "unscanned-part");
        // Without such parts nothing changes.
        CHECK(evaluate(with_parts("marketing", {}), *policy).action == Action::allow);
    }

    TEST_CASE("an opted-in tenant's image counts as its unscanned_class, and goes only where that class may") {
        const auto policy = load();
        EvaluationTrace trace;
        const auto decision = evaluate(with_parts("radiology", {image()}), *policy, &trace);
        CHECK(decision.action == Action::allow);
        CHECK(decision.data_class == "restricted");
        CHECK(decision.residual_class == "restricted");
        CHECK(decision.allowed_zones == std::vector<std::string>{"radiology-gpus"});
        CHECK(decision.unscanned_counts == std::map<std::string, int>{{"image_url", 1}});
        CHECK(decision.unscanned_class == "restricted");
        CHECK(decision.detector_counts.empty());  // nothing was detected: the class comes from the part
        const bool said = std::any_of(trace.steps.begin(), trace.steps.end(), [](const std::string& step) {
            return step == "let through unscanned, as tenant radiology allows image_url parts: messages[0].content[1] "
                           "(image_url); they count as class restricted, above the class of the rest of the request";
        });
        CHECK_MESSAGE(said, "the trace names the parts and their class");
        // Its text is scanned as always: a card number still counts, and two images are two.
        const auto two = evaluate(with_parts("radiology", {image(1), image(2)}), *policy);
        CHECK(two.unscanned_counts.at("image_url") == 2);
        // The explanation lists the parts and the class they counted as.
        const auto request = with_parts("radiology", {image()});
        const auto text = render_explanation(request, decision, trace, *policy);
        CHECK(text.find("Parts no detector can read, let through unscanned:\n  - image_url in messages[0].content[1], "
                        "counted as class restricted\n") != std::string::npos);
    }

    TEST_CASE("the class of unscanned parts decides clearance and residency, and the denial names them") {
        const auto policy = load();
        // archive lets audio through as secret (the highest class, by default): no zone may hold it.
        const auto audio = evaluate(with_parts("archive", {{"messages[0].content[0]", "input_audio", ""}}), *policy);
        CHECK(audio.action == Action::deny);
        CHECK(audio.deciding_rule == "residency");
        CHECK(audio.data_class == "secret");
        CHECK(audio.message.find("unscanned part(s) messages[0].content[0] (input_audio) count as class secret") !=
              std::string::npos);
        // A radiology image counted above the tenant's clearance is a clearance denial that says why.
        std::string over_text = policy_text;
        over_text.replace(over_text.find("clearance: restricted"), 21, "clearance: internal");
        const auto over = load(over_text);
        const auto denied = evaluate(with_parts("radiology", {image()}), *over);
        CHECK(denied.deciding_rule == "clearance");
        CHECK(denied.message == "data of class restricted exceeds the clearance of tenant radiology (internal); "
                                "unscanned part(s) messages[0].content[1] (image_url) count as class restricted");
        // Class conditions see the raised class: the restricted-stays-home rule matched.
        const auto allowed = evaluate(with_parts("radiology", {image()}), *load());
        CHECK(std::any_of(allowed.matched.begin(), allowed.matched.end(),
                          [](const RuleMatch& m) { return m.rule == "restricted-stays-home"; }));
        // Redaction cannot lower it: the residual class stays at least the unscanned class.
        CHECK(allowed.residual_class == "restricted");
    }

    TEST_CASE("a type the tenant does not list, or data named by a remote URL, is refused with the reason") {
        const auto policy = load();
        const auto audio = refuse_unscanned(std::vector<UnscannedPart>{image(0), {"messages[0].content[1]", "input_audio", ""}},
                                            *policy, "radiology");
        REQUIRE(audio);
        CHECK(audio->path == "messages[0].content[1]");
        CHECK(audio->message.find("tenant radiology lets through unscanned only parts of type image_url") !=
              std::string::npos);
        const auto remote = refuse_unscanned(
            std::vector<UnscannedPart>{{"messages[0].content[1]", "image_url", "messages[0].content[1].image_url.url"}},
            *policy, "radiology");
        REQUIRE(remote);
        CHECK(remote->path == "messages[0].content[1].image_url.url");
        CHECK(remote->message ==
              "'messages[0].content[1].image_url.url' is a URL the backend would fetch from outside the boundary, where "
              "the gateway's egress guard does not reach; tenant radiology may send image_url parts unscanned only "
              "with their data inline: send it as a data: URL (data:image/png;base64,...).");
        CHECK_FALSE(refuse_unscanned(std::vector<UnscannedPart>{image()}, *policy, "radiology"));
        CHECK(inline_data_url("data:image/png;base64,AA=="));
        CHECK(inline_data_url("DATA:image/png;base64,AA=="));
        CHECK_FALSE(inline_data_url("https://example.com/x.png"));
        CHECK_FALSE(inline_data_url("dat"));
    }

    TEST_CASE("the loader names each mistake in allow_unscanned and unscanned_class at its position") {
        CHECK(problems(radiology_with("    allow_unscanned: [image_ur]\n")) ==
              std::vector<std::string>{"p.yaml:8:23: allow_unscanned: 'image_ur' is not one of the content part "
                                       "types no detector can read (image_url, input_audio, file, video_url, audio_url); "
                                       "did you mean 'image_url'?"});
        CHECK(problems(radiology_with("    allow_unscanned: [text]\n")) ==
              std::vector<std::string>{"p.yaml:8:23: allow_unscanned: 'text' parts hold text, which is always "
                                       "scanned; list only parts no detector can read (image_url, input_audio, file, "
                                       "video_url, audio_url)"});
        CHECK(problems(radiology_with("    allow_unscanned: [image_url, image_url]\n")) ==
              std::vector<std::string>{"p.yaml:8:34: allow_unscanned: 'image_url' is listed twice"});
        CHECK(problems(radiology_with("    allow_unscanned: []\n")) ==
              std::vector<std::string>{"p.yaml:8:22: allow_unscanned is an empty list, which lets nothing "
                                       "through; list at least one, or leave 'allow_unscanned' out"});
        CHECK(problems(radiology_with("    allow_unscanned: [image_url]\n    unscanned_class: restricetd\n")) ==
              std::vector<std::string>{"p.yaml:9:22: unscanned_class: 'restricetd' is not one of the classes; "
                                       "did you mean 'restricted'?"});
        CHECK(problems(radiology_with("    unscanned_class: internal\n")) ==
              std::vector<std::string>{"p.yaml:8:22: unscanned_class is the class of the parts allow_unscanned "
                                       "lets through, and this tenant has no allow_unscanned; add it, or leave "
                                       "unscanned_class out"});
        CHECK(problems(radiology_with("    allow_unscanned: [image_url]\n    unscanned_clas: internal\n")).size() == 1);
        // Without unscanned_class the highest class applies.
        const auto defaulted = load(radiology_with("    allow_unscanned: [image_url, file]\n"));
        CHECK(defaulted->find_tenant("radiology")->unscanned_class == 3);
        CHECK(defaulted->find_tenant("radiology")->allow_unscanned == std::vector<std::string>{"image_url", "file"});
    }

    TEST_CASE("lint warns where no request holding an unscanned part could ever be sent") {
        auto lint = [](const std::string& text) {
            std::vector<std::string> out;
            for (const auto& d : lint_policy_text(text, "p.yaml", nullptr))
                if (d.message.find("unscanned") != std::string::npos) out.push_back(format_diagnostic(d));
            return out;
        };
        CHECK(lint(policy_text).size() == 1);  // archive: secret, which no zone may hold
        CHECK(lint(policy_text)[0] ==
              "p.yaml:12:22: warning: tenant 'archive' lets input_audio parts through unscanned as class secret, which "
              "none of its zones may hold (their max_class is lower): every request holding one is denied");
        const std::string below = radiology_with("    allow_unscanned: [image_url]\n    unscanned_class: secret\n");
        const auto findings = lint(below);
        REQUIRE(findings.size() == 2);
        CHECK(findings[0] ==
              "p.yaml:8:22: warning: tenant 'radiology' lets image_url parts through unscanned as class secret, above "
              "its clearance (restricted): every request holding one is denied; set unscanned_class to at most its "
              "clearance, or raise the clearance");
    }

    TEST_CASE("policy test cases carry image parts, with and without the tenant's opt-in") {
        const auto dir = std::filesystem::temp_directory_path() / "policy-unscanned-suite";
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "policy.yaml") << policy_text;
        std::ofstream(dir / "policy.tests.yaml") << R"(policy: policy.yaml
cases:
  - name: radiology sends a scan
    request:
      tenant: radiology
      messages:
        - role: user
          content:
            - {text: "Any fracture?"}
            - {type: image_url, url: "data:image/png;base64,iVBORw0KGgo="}
    expect: {action: allow, data_class: restricted, zones: [radiology-gpus], detectors: ["unscanned:image_url"]}
  - name: marketing may not
    request:
      tenant: marketing
      messages:
        - role: user
          content: [{type: image_url, url: "data:image/png;base64,iVBORw0KGgo="}]
    expect: {action: deny, rule: unscanned-part, message: "no detector can read"}
  - name: nor may radiology have one fetched
    request:
      tenant: radiology
      messages:
        - role: user
          content: [{type: image_url, url: "https://example.com/x.png"}]
    expect: {action: deny, rule: unscanned-part, message: "egress guard"}
)";
        const auto loaded = load_test_suite(dir / "policy.tests.yaml");
        REQUIRE_MESSAGE(loaded.suite, (loaded.diagnostics.empty() ? "" : format_diagnostic(loaded.diagnostics[0])));
        const auto& first = loaded.suite->cases[0].request;
        REQUIRE(first.unscanned_parts.size() == 1);
        CHECK(first.unscanned_parts[0].json_path == "messages[0].content[1]");
        CHECK(first.segments.size() == 2);  // the text, and the URL string, scanned
        CHECK(first.segments[1].json_path == "messages[0].content[1].image_url.url");
        const auto result = run_test_suite(*loaded.suite, load());
        CHECK_MESSAGE(result.passed(), render_suite_result(result, "policy.tests.yaml"));

        // Mistakes in a part are named at their position.
        std::ofstream(dir / "policy.tests.yaml") << R"(policy: policy.yaml
cases:
  - name: a part of two kinds
    request:
      tenant: radiology
      messages:
        - role: user
          content: [{type: image_url, text: "x"}, {txt: "y"}]
    expect: {action: deny}
)";
        const auto bad = load_test_suite(dir / "policy.tests.yaml");
        std::filesystem::remove_all(dir);
        REQUIRE(bad.diagnostics.size() == 2);
        CHECK(format_diagnostic(bad.diagnostics[0]).ends_with(
            "policy.tests.yaml:8:45: a part of type 'image_url' holds no text; write the text as a part of its own"));
        CHECK(format_diagnostic(bad.diagnostics[1]).find("policy.tests.yaml:8:52: ") != std::string::npos);
    }
}
