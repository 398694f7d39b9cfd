#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/policy_command.hpp"

namespace {

// Runs `sovereign policy ARGS...` with stdout and stderr captured.
struct Run {
    int status = 0;
    std::string out;
    std::string err;
};

Run run(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    auto* old_out = std::cout.rdbuf(out.rdbuf());
    auto* old_err = std::cerr.rdbuf(err.rdbuf());
    const int status = sovereign::gateway::run_policy_command(args);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    return {status, out.str(), err.str()};
}

const std::string root = SOURCE_ROOT;
const std::string hospital = root + "/examples/hospital/policy.yaml";
const std::string request = root + "/tests/policy/fixtures/chat_request.json";

}  // namespace

TEST_SUITE("policy-command") {
    TEST_CASE("explain reads an OpenAI chat body, content parts included, and never prints the values") {
        const auto r = run({"explain", "--policy", hospital, "--request", request, "--tenant", "research"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Decision: ALLOW (deciding rule: research-pseudonymised") != std::string::npos);
        CHECK(r.out.find("patient_mrn in messages[1].content[0].text, bytes 8-19") != std::string::npos);
        CHECK(r.out.find("tokenize uk_nhs in messages[1].content[0].text") != std::string::npos);
        CHECK(r.out.find("MRN-0012345") == std::string::npos);
        CHECK(r.out.find("943 476 5919") == std::string::npos);
    }

    TEST_CASE("explain shows an image let through unscanned for a tenant that opted in, and refuses it otherwise") {
        const std::string image = root + "/tests/policy/fixtures/image_request.json";
        const auto r = run({"explain", "--policy", hospital, "--request", image, "--tenant", "radiology"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Decision: ALLOW (deciding rule: radiology-on-ward-gpus") != std::string::npos);
        CHECK(r.out.find("Parts no detector can read, let through unscanned:\n  - image_url in messages[0].content[1], "
                         "counted as class patient\n") != std::string::npos);
        CHECK(r.out.find("Data class: patient") != std::string::npos);
        CHECK(r.out.find("zones: ward-gpus\n") != std::string::npos);
        const auto refused = run({"explain", "--policy", hospital, "--request", image, "--tenant", "research"});
        CHECK(refused.status == 0);
        CHECK(refused.out.find("Decision: REFUSED before the policy decides (HTTP 400, invalid_request, parameter "
                               "'messages[0].content[1]')") != std::string::npos);
    }

    TEST_CASE("explain names the rule that denies and the message the application sees") {
        const auto r = run({"explain", "--policy", hospital, "--request", request, "--tenant", "it-helpdesk"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Decision: DENY (deciding rule: default-deny)") != std::string::npos);
        CHECK(r.out.find("Message to the application: no rule of the policy allows this request") != std::string::npos);
        // capture-patient-requests matches the patient data: the gateway seals the refused request too.
        CHECK(r.out.find("payload capture for auditors: yes (the request is sealed before it is refused)") !=
              std::string::npos);
    }

    TEST_CASE("explain --answer says what the policy removes from a model's answer and what the client gets") {
        const auto path = std::filesystem::temp_directory_path() / "policy-command-answer.txt";
        std::ofstream(path) << "Card 4111 1111 1111 1111, mail jane@example.org.";
        const auto r = run({"explain", "--policy", hospital, "--answer", path.string(), "--tenant", "research"});
        std::filesystem::remove(path);
        CHECK(r.status == 0);
        CHECK(r.out.find("  - credit_card, bytes 5-24: removed (responses: redact)\n") != std::string::npos);
        CHECK(r.out.find("  - email, bytes 31-47: kept") != std::string::npos);
        CHECK(r.out.find("The client gets:\nCard [REDACTED:credit_card], mail jane@example.org.\n") != std::string::npos);
        const auto both = run({"explain", "--policy", hospital, "--answer", "x", "--request", request, "--tenant", "research"});
        CHECK(both.status == 2);
        CHECK(both.err.find("one of --request, --answer or --arguments") != std::string::npos);
    }

    TEST_CASE("explain --arguments reads a tool call's arguments as JSON text, as the gateway does") {
        // A JSON body inside the arguments: its escape is escaped again, so only the gateway's reading
        // (string escapes resolved, then the escapes in what that gives) spells the card.
        const auto path = std::filesystem::temp_directory_path() / "policy-command-arguments.json";
        const std::string arguments = R"({"body": "{\"card\": \"\\u0034111 1111 1111 1111\"}"})";
        std::ofstream(path) << arguments;
        const auto r = run({"explain", "--policy", hospital, "--arguments", path.string(), "--tenant", "research"});
        const auto prose = run({"explain", "--policy", hospital, "--answer", path.string(), "--tenant", "research"});
        const auto both = run({"explain", "--policy", hospital, "--answer", path.string(), "--arguments", path.string(),
                               "--tenant", "research"});
        std::filesystem::remove(path);
        CHECK(r.status == 0);
        CHECK(r.out.starts_with("Tool call arguments for tenant research (53 bytes, read as JSON text)"));
        CHECK(r.out.find("  - credit_card, bytes 23-48: removed (responses: redact)\n") != std::string::npos);
        CHECK(r.out.find("The client gets:\n" R"({"body": "{\"card\": \"[REDACTED:credit_card]\"}"})" "\n") !=
              std::string::npos);
        CHECK(prose.status == 0);
        CHECK(prose.out.find("The client gets:\n" + arguments + "\n") != std::string::npos);
        CHECK(both.status == 2);
        CHECK(both.err.find("one of --request, --answer or --arguments") != std::string::npos);
    }

    TEST_CASE("explain --answer says which findings one marker removes where they overlap") {
        const auto dir = std::filesystem::temp_directory_path();
        const auto answer = dir / "policy-command-overlap.txt";
        std::ofstream(answer) << "connection from ::ffff:10.20.30.40 refused";
        const auto write_policy = [&](const std::string& redact) {
            const auto path = dir / ("policy-command-overlap-" + std::to_string(redact.size()) + ".yaml");
            std::ofstream(path) << "classes: [public, internal]\nzones: [{name: site}]\nresponses: {redact: [" << redact
                                << "]}\nrules: [{name: all, then: {action: allow}}]\n";
            return path;
        };
        const auto both_policy = write_policy("ipv4, ipv6");
        const auto ipv6_policy = write_policy("ipv6");
        const auto both = run({"explain", "--policy", both_policy.string(), "--answer", answer.string(), "--tenant", "x"});
        const auto ipv6 = run({"explain", "--policy", ipv6_policy.string(), "--answer", answer.string(), "--tenant", "x"});
        for (const auto& path : {answer, both_policy, ipv6_policy}) std::filesystem::remove(path);
        // The IPv4-mapped address is the whole of it to both detectors: both findings span bytes 16-34.
        CHECK(both.status == 0);
        CHECK(both.out.find("  - ipv4, bytes 16-34: removed (responses: redact)\n") != std::string::npos);
        CHECK(both.out.find("  - ipv6, bytes 16-34: removed (responses: redact)\n") != std::string::npos);
        CHECK(both.out.find("The client gets:\nconnection from [REDACTED:ipv4] refused\n") != std::string::npos);
        CHECK(ipv6.status == 0);
        CHECK(ipv6.out.find("  - ipv6, bytes 16-34: removed (responses: redact)\n") != std::string::npos);
        CHECK(ipv6.out.find("  - ipv4, bytes 16-34: kept (neither responses.redact nor the tenant's redact_in_responses "
                            "names ipv4), but bytes 16-34 of it go with the [REDACTED:ipv6] over bytes 16-34, which it "
                            "overlaps\n") != std::string::npos);
        CHECK(ipv6.out.find("The client gets:\nconnection from [REDACTED:ipv6] refused\n") != std::string::npos);
    }

    TEST_CASE("explain reads every string of the body, as the gateway does, and says what it refuses first") {
        const auto quickstart = root + "/examples/quickstart/policy.yaml";
        const auto path = std::filesystem::temp_directory_path() / "policy-command-strings.json";
        std::ofstream(path) << R"({"model": "demo", "user": "AKIAIOSFODNN7EXAMPLE",
            "messages": [{"role": "user", "content": "hi"},
                         {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                          "function": {"name": "f", "arguments": "{\"key\": \"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\"}"}}]}],
            "metadata": {"note": "card 4111 1111 1111 1111"}})";
        const auto r = run({"explain", "--policy", quickstart, "--request", path.string(), "--tenant", "demo"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Decision: DENY (deciding rule: no-credentials") != std::string::npos);
        CHECK(r.out.find("github_token in messages[1].tool_calls[0].function.arguments") != std::string::npos);
        CHECK(r.out.find("aws_access_key in user, bytes 0-20") != std::string::npos);
        CHECK(r.out.find("credit_card in metadata.note") != std::string::npos);
        std::ofstream(path) << R"({"model": "demo", "prompt": [19, 4111]})";
        const auto ids = run({"explain", "--policy", quickstart, "--request", path.string(), "--tenant", "demo"});
        std::filesystem::remove(path);
        CHECK(ids.status == 0);
        CHECK(ids.out.find("Decision: REFUSED before the policy decides (HTTP 400, invalid_request, parameter "
                           "'prompt')\nMessage to the application: This gateway's policy checks every prompt, and "
                           "token ids cannot be checked") == 0);
    }

    TEST_CASE("explain refuses what the gateway refuses: a repeated key, and a value to tokenize in an object key") {
        const auto bank = root + "/examples/bank/policy.yaml";
        const auto path = std::filesystem::temp_directory_path() / "policy-command-refusals.json";
        std::ofstream(path) << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "model": "n"})";
        const auto repeated = run({"explain", "--policy", bank, "--request", path.string(), "--tenant", "summariser"});
        CHECK(repeated.out.find("Decision: REFUSED before the policy decides (HTTP 400, invalid_json)") == 0);
        std::ofstream(path) << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format":
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object",
             "properties": {"4111 1111 1111 1111": {"type": "string"}}}}}})";
        const auto key = run({"explain", "--policy", bank, "--request", path.string(), "--tenant", "summariser"});
        std::filesystem::remove(path);
        CHECK(key.out.find("Decision: REFUSED after the policy decided (HTTP 400, invalid_request") == 0);
        CHECK(key.out.find("keys are not rewritten") != std::string::npos);
    }

    TEST_CASE("explain notes a tenant the policy does not list, with a suggestion") {
        const auto r = run({"explain", "--policy", hospital, "--request", request, "--tenant", "reseach"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Note: the policy lists no tenant 'reseach'; it is decided with the default clearance and "
                         "no zones of its own (did you mean 'research'?).\nDecision: ") == 0);
    }

    TEST_CASE("a request file that is not JSON is reported as the gateway reports it: byte, line and column") {
        const auto path = std::filesystem::temp_directory_path() / "policy-command-bad.json";
        std::ofstream(path) << "{\"model\": \"x\",\n \"messages\": [\xff]}";
        const auto r = run({"explain", "--policy", hospital, "--request", path.string(), "--tenant", "research"});
        std::filesystem::remove(path);
        CHECK(r.status == 2);
        CHECK(r.err == path.string() + ": The request body is not valid JSON: syntax error at byte 29 (line 2, "
                                       "column 15), where the text is not valid UTF-8. Send a JSON object with "
                                       "Content-Type: application/json.\n");
    }

    TEST_CASE("explain decides a deeply nested body as the gateway does: served to 64 levels, refused beyond") {
        const auto path = std::filesystem::temp_directory_path() / "policy-command-deep.json";
        const auto nested = [&](int levels) {
            std::ofstream(path) << R"({"model": "llama", "messages": [{"role": "user", "content": "hello"}], "metadata": )"
                                << std::string(static_cast<std::size_t>(levels), '[') << "1"
                                << std::string(static_cast<std::size_t>(levels), ']') << "}";
            return run({"explain", "--policy", hospital, "--request", path.string(), "--tenant", "research"});
        };
        // 40 levels under the body (Boost.JSON's default limit, 32, used to refuse it as not JSON).
        const auto served = nested(40);
        CHECK(served.status == 0);
        CHECK(served.out.find("Decision: ") == 0);
        CHECK(served.out.find("REFUSED") == std::string::npos);
        const auto refused = nested(70);
        std::filesystem::remove(path);
        CHECK(refused.status == 0);
        CHECK(refused.out.find("Decision: REFUSED before the policy decides (HTTP 400, invalid_json)\n"
                               "Message to the application: The request body is not valid JSON: it nests arrays and "
                               "objects deeper than 64 levels") == 0);
    }

    TEST_CASE("lint prints each problem as FILE:LINE:COL and exits 1; usage errors exit 2") {
        const auto typos = root + "/tests/policy/fixtures/typos.yaml";
        const auto r = run({"lint", typos});
        CHECK(r.status == 1);
        CHECK(r.out == typos + ":5:5: unknown key 'max_clas' in a zone; did you mean 'max_class'?\n" + typos +
                           ":8:23: detected: no detector named 'emial'; did you mean 'email'?\n" + typos +
                           ":9:20: action must be allow or deny, not 'alow'\n");
        CHECK(run({"lint"}).status == 2);
        CHECK(run({"frobnicate"}).status == 2);
        CHECK(run({"lint", hospital, "--backends", "bad"}).status == 2);
    }

    TEST_CASE("lint reads on past a YAML syntax error: the problems after it are reported in the same run") {
        const auto file = root + "/tests/policy/fixtures/syntax_errors.yaml";
        const auto r = run({"lint", file});
        CHECK(r.status == 1);
        CHECK(r.out == file + ":9:5: YAML syntax error: end of map flow not found\n" + file +
                           ":5:5: unknown key 'max_clas' in a zone; did you mean 'max_class'?\n" + file +
                           ":11:23: detected: no detector named 'emial'; did you mean 'email'?\n" + file +
                           ":12:20: action must be allow or deny, not 'alow'\n");
    }

    TEST_CASE("lint --gateway with a gateway file that does not load here still reports every problem of the policy") {
        // A model file that exists only on the gateway's host: the gateway file does not load here.
        const auto gateway = std::filesystem::temp_directory_path() / "policy-command-unread-gateway.yaml";
        std::ofstream(gateway) << "listeners: [{name: api, address: 127.0.0.1, port: 18080}]\n"
                                  "admin: {address: 127.0.0.1, port: 19090}\n"
                                  "tenants: [{name: research, models: [llama], api_keys: [{sha256: "
                               << std::string(64, '0') << "}]}]\n"
                                  "backends:\n"
                                  "  - {name: ward, type: local, zone: ward-gpus, models: [llama], model_file: "
                                  "/nonexistent/llama.gguf}\n";
        const auto typos = root + "/tests/policy/fixtures/typos.yaml";
        const auto r = run({"lint", typos, "--gateway", gateway.string()});
        std::filesystem::remove(gateway);
        CHECK(r.status == 1);
        CHECK(r.out == gateway.string() + ":5:77: backend 'ward': model file '/nonexistent/llama.gguf' does not exist\n" +
                           typos + ":5:5: unknown key 'max_clas' in a zone; did you mean 'max_class'?\n" + typos +
                           ":8:23: detected: no detector named 'emial'; did you mean 'email'?\n" + typos +
                           ":9:20: action must be allow or deny, not 'alow'\n" + typos +
                           ": backends and tenants not checked: " + gateway.string() + " did not load (see above)\n");
    }

    TEST_CASE("lint with backends reports tenants that can reach none") {
        const auto r = run({"lint", hospital, "--backends", "ward:ward-gpus:llama", "--backends", "cloud:regional-cloud:llama"});
        CHECK(r.status == 1);
        CHECK(r.out.find("zone 'research-cluster' has no backend") != std::string::npos);
        CHECK(r.out.find("tenant") == std::string::npos);
    }

    TEST_CASE("policy test runs the companion test file of a policy") {
        const auto r = run({"test", hospital});
        CHECK(r.status == 0);
        CHECK(r.out.find("16 passed, 0 failed") != std::string::npos);
        CHECK(r.out.find("coverage: 7/7 rules exercised (100%)") != std::string::npos);
    }

    TEST_CASE("policy test of a policy whose companion test file names another policy refuses to test that one") {
        const auto dir = std::filesystem::temp_directory_path() / "sovereign-policy-test-other";
        std::filesystem::create_directories(dir);
        std::filesystem::copy_file(hospital, dir / "policy.yaml", std::filesystem::copy_options::overwrite_existing);
        std::filesystem::copy_file(hospital, dir / "old.yaml", std::filesystem::copy_options::overwrite_existing);
        std::ofstream(dir / "policy.tests.yaml")
            << "policy: old.yaml\ncases:\n  - name: any\n    request:\n      tenant: research\n      model: m\n"
               "      messages: [{role: user, content: hello}]\n    expect: {action: allow}\n";
        const auto r = run({"test", (dir / "policy.yaml").string()});
        CHECK(r.status == 1);
        CHECK(r.err.find("its 'policy:' names") != std::string::npos);
        CHECK(r.out.find("passed") == std::string::npos);
        std::filesystem::remove_all(dir);
    }
}
