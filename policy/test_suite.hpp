#pragma once
// `policy test`: YAML test cases run against a policy: a request and the decision expected for it,
// or a model's answer and what the policy leaves of it.

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "policy/response_scanner.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// What a case expects; only the fields it names are compared.
struct TestExpectation {
    std::optional<std::string> action;        // "allow" | "deny"
    std::optional<std::string> rule;          // the deciding rule
    std::optional<std::string> message;       // text the deny message must contain
    std::optional<std::string> data_class;
    std::optional<std::vector<std::string>> zones;
    std::optional<std::vector<std::string>> backends;
    std::optional<std::vector<std::string>> detectors;  // detector types found (as a set)
    std::optional<std::vector<std::string>> redacted;   // detector types redacted (as a set)
    std::optional<std::vector<std::string>> tokenized;  // detector types tokenized (as a set)
    std::optional<std::vector<std::string>> matched;    // rules that matched (as a set)
    std::optional<bool> capture_payload;
    std::optional<std::string> text;                    // answer cases: the answer (or arguments) as the client gets it
};

// A model's answer as it comes back through the gateway, for the policy's `responses` part: prose
// (content, a completion's text), or a tool call's arguments, which the gateway reads as JSON text.
struct AnswerCase {
    std::string tenant;
    std::string text;
    AnswerText form = AnswerText::prose;
    std::size_t chunk_chars = 0;  // streamed in pieces of this many bytes; 0: one whole answer
};

// One case of a test file.
struct TestCase {
    std::string name;
    int line = 0;
    Request request;                    // a request case...
    std::optional<AnswerCase> answer;   // ...or an answer case
    TestExpectation expect;
};

// A parsed test file and the policy it tests (resolved against the test file's directory).
struct TestSuite {
    std::filesystem::path policy_path;
    std::vector<TestCase> cases;
};

struct TestSuiteLoad {
    std::optional<TestSuite> suite;
    std::vector<Diagnostic> diagnostics;
};

TestSuiteLoad load_test_suite(const std::filesystem::path& path);

// The test file for `policy test FILE`: FILE itself when it has a top-level "cases" key, otherwise the
// policy's companion NAME.tests.yaml beside it.
std::filesystem::path resolve_test_file(const std::filesystem::path& file);

// The outcome of one case: the differences between expected and actual, empty when it passed.
struct CaseResult {
    std::string name;
    int line = 0;
    std::vector<std::string> differences;
    std::vector<std::string> notes;  // worth reading whether or not the case passed (a tenant the policy lacks)
    bool passed() const { return differences.empty(); }
};

struct SuiteResult {
    std::vector<CaseResult> cases;
    std::set<std::string> rules_exercised;  // rules that matched in at least one case
    std::size_t rule_count = 0;
    std::vector<std::string> rules_not_exercised;
    bool passed() const;
};

SuiteResult run_test_suite(const TestSuite& suite, const std::shared_ptr<const Policy>& policy);

// "PASS name" / "FAIL name" with a diff per failure, then the coverage line.
std::string render_suite_result(const SuiteResult& result, const std::string& file_label);

}  // namespace sovereign::policy
