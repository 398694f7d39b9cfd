#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "fixture.hpp"
#include "policy/diagnostic.hpp"
#include "policy/test_suite.hpp"

using namespace sovereign::policy;

namespace {
// A scratch directory holding the fixture policy and one test file, removed afterwards.
struct SuiteFiles {
    std::filesystem::path dir;
    explicit SuiteFiles(const std::string& tests) {
        dir = std::filesystem::temp_directory_path() /
              ("policy-suite-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "policy.yaml") << testing::fixture_policy;
        std::ofstream(dir / "policy.tests.yaml") << tests;
    }
    ~SuiteFiles() { std::filesystem::remove_all(dir); }
};

const std::string passing = R"(policy: policy.yaml
cases:
  - name: radiology may send patient notes on site
    request:
      tenant: radiology
      model: llama
      messages:
        - {role: user, content: "Summarise patient PAT-123456"}
    expect:
      action: allow
      rule: clinical-staff
      zones: [site]
      detectors: [patient_id]
      data_class: restricted
  - name: research cards are tokenized
    request:
      tenant: research
      text: "Charge 4111 1111 1111 1111 please"
    expect: {action: allow, tokenized: [credit_card], zones: [hall-b, site]}
)";
// Loads `tests` beside the fixture policy and runs them.
SuiteResult run_suite(const std::string& tests) {
    SuiteFiles files(tests);
    const auto loaded = load_test_suite(files.dir / "policy.tests.yaml");
    REQUIRE(loaded.suite);
    const auto policy = load_policy_file(loaded.suite->policy_path);
    REQUIRE(policy.policy);
    return run_test_suite(*loaded.suite, policy.policy);
}
}  // namespace

TEST_SUITE("policy-test") {
    TEST_CASE("a passing suite reports every case and the rules it exercised") {
        SuiteFiles files(passing);
        CHECK(resolve_test_file(files.dir / "policy.yaml") == files.dir / "policy.tests.yaml");
        const auto loaded = load_test_suite(files.dir / "policy.tests.yaml");
        REQUIRE(loaded.suite);
        const auto policy = load_policy_file(loaded.suite->policy_path);
        REQUIRE(policy.policy);
        const auto result = run_test_suite(*loaded.suite, policy.policy);
        CHECK(result.passed());
        CHECK(result.rules_exercised ==
              std::set<std::string>{"clinical-staff", "research-confidential-on-site", "cards-tokenized",
                                    "capture-restricted"});
        const auto text = render_suite_result(result, "policy.tests.yaml");
        CHECK(text.find("PASS radiology may send patient notes on site\n") != std::string::npos);
        CHECK(text.find("coverage: 4/7 rules exercised (57%)") != std::string::npos);
    }

    TEST_CASE("a failing case shows the expected and actual values as a diff") {
        std::string failing = passing;
        failing.replace(failing.find("rule: clinical-staff"), 20, "rule: other-rule    ");
        const auto result = run_suite(failing);
        CHECK_FALSE(result.passed());
        REQUIRE(result.cases[0].differences.size() == 1);
        CHECK(result.cases[0].differences[0] == "- expected rule: other-rule\n+ actual   rule: clinical-staff");
    }

    TEST_CASE("answer cases check what the policy leaves of a model's answer, whole or streamed") {
        // The fixture redacts credit_card from every answer.
        const std::string answers = R"(policy: policy.yaml
cases:
  - name: a card in an answer is removed
    answer: {tenant: radiology, text: "Card 4111 1111 1111 1111 on file."}
    expect: {text: "Card [REDACTED:credit_card] on file.", detectors: [credit_card], redacted: [credit_card]}
  - name: streamed two characters at a time
    answer: {tenant: radiology, text: "Card 4111 1111 1111 1111 on file.", chunk_chars: 2}
    expect: {text: "Card [REDACTED:credit_card] on file."}
  - name: an e-mail address is found but stays
    answer: {tenant: radiology, text: "Write to jane@example.org."}
    expect: {text: "Write to jane@example.org.", detectors: [email], redacted: []}
  - name: a wrong expectation
    answer: {tenant: radiology, text: "Card 4111 1111 1111 1111."}
    expect: {text: "Card 4111 1111 1111 1111."}
)";
        const auto result = run_suite(answers);
        REQUIRE(result.cases.size() == 4);
        for (std::size_t i = 0; i < 3; ++i) CHECK_MESSAGE(result.cases[i].passed(), result.cases[i].name);
        REQUIRE(result.cases[3].differences.size() == 1);
        CHECK(result.cases[3].differences[0] ==
              "- expected text: Card 4111 1111 1111 1111.\n+ actual   text: Card [REDACTED:credit_card].");
    }

    TEST_CASE("an answer case may be a tool call's arguments, read as JSON text as the gateway reads them") {
        // A tool call posting a JSON body: the card in it is written with an escape of the body's own,
        // escaped again for the arguments' string, so only the second reading (JSON text, then the
        // escapes in what it gives) spells the card. Read as prose the text stays as it is.
        const std::string answers = R"(policy: policy.yaml
cases:
  - name: arguments are read with their string escapes resolved
    answer: {tenant: radiology, arguments: '{"body": "{\"card\": \"\\u0034111 1111 1111 1111\"}"}'}
    expect:
      text: '{"body": "{\"card\": \"[REDACTED:credit_card]\"}"}'
      detectors: [credit_card]
      redacted: [credit_card]
  - name: streamed three characters at a time
    answer: {tenant: radiology, arguments: '{"body": "{\"card\": \"\\u0034111 1111 1111 1111\"}"}', chunk_chars: 3}
    expect: {text: '{"body": "{\"card\": \"[REDACTED:credit_card]\"}"}'}
  - name: the same text as prose
    answer: {tenant: radiology, text: '{"body": "{\"card\": \"\\u0034111 1111 1111 1111\"}"}'}
    expect: {text: '{"body": "{\"card\": \"\\u0034111 1111 1111 1111\"}"}', detectors: []}
)";
        const auto result = run_suite(answers);
        REQUIRE(result.cases.size() == 3);
        for (const auto& c : result.cases) {
            const std::string why = c.passed() ? c.name : c.name + ": " + c.differences[0];
            CHECK_MESSAGE(c.passed(), why);
        }
    }

    TEST_CASE("a case is a request or an answer, and expects only what applies to it") {
        for (const auto& [tests, message] : std::vector<std::pair<std::string, std::string>>{
                 {"    request: {tenant: a, text: hi}\n    expect: {text: hi}\n",
                  ":5:14: 'text' is not expected of a request case ('text' is for answer cases)"},
                 {"    answer: {tenant: a, text: hi}\n    expect: {action: allow}\n",
                  ":5:14: 'action' is not expected of an answer case (text, detectors, redacted)"},
                 {"    answer: {tenant: a, text: hi, chunk_chars: 0}\n    expect: {text: hi}\n",
                  ":4:48: chunk_chars must be 1 to 4096"},
                 {"    request: {tenant: a, text: hi}\n    answer: {tenant: a, text: hi}\n    expect: {text: hi}\n",
                  ":3:5: a test case needs exactly one of 'request' (what the policy decides) or 'answer' (what it "
                  "leaves of a model's answer)"},
                 {"    answer: {tenant: a, text: hi, arguments: '{}'}\n    expect: {text: hi}\n",
                  ":4:13: an answer needs exactly one of 'text' (what the model writes as prose) or 'arguments' (the "
                  "arguments of a tool call it answers with, as JSON text)"},
                 {"    answer: {tenant: a}\n    expect: {text: hi}\n",
                  ":4:13: an answer needs exactly one of 'text' (what the model writes as prose) or 'arguments' (the "
                  "arguments of a tool call it answers with, as JSON text)"},
                 {"    answer: {tenant: a, arguments: {iban: x}}\n    expect: {text: hi}\n",
                  ":4:36: arguments must be the JSON text the model writes, quoted as one string, like "
                  "'{\"iban\": \"DE89 3704 0044 0532 0130 00\"}'"}}) {
            SuiteFiles files("policy: policy.yaml\ncases:\n  - name: x\n" + tests);
            const auto loaded = load_test_suite(files.dir / "policy.tests.yaml");
            CHECK_FALSE(loaded.suite);
            REQUIRE(loaded.diagnostics.size() == 1);
            CHECK_MESSAGE(format_diagnostic(loaded.diagnostics[0]).ends_with(message),
                          format_diagnostic(loaded.diagnostics[0]));
        }
    }

    TEST_CASE("a case naming a tenant the policy does not list passes or fails as decided, with a note") {
        const auto result = run_suite("policy: policy.yaml\ncases:\n  - name: typo\n    request: {tenant: radiolgy, text: hi}\n"
                                      "    expect: {action: deny}\n");
        REQUIRE(result.cases.size() == 1);
        CHECK(result.cases[0].passed());
        REQUIRE(result.cases[0].notes.size() == 1);
        CHECK(result.cases[0].notes[0].find("tenant 'radiolgy' is not listed in the policy") == 0);
        CHECK(result.cases[0].notes[0].find("did you mean 'radiology'?") != std::string::npos);
        CHECK(render_suite_result(result, "t.yaml").find("PASS typo\n  note: tenant 'radiolgy'") == 0);
    }

    // The files the test-file JSON Schema is held to refuse (meson.build): the loader refuses each too.
    TEST_CASE("each mistake the test-file schema refuses is refused by policy test, at its position") {
        const auto dir = std::filesystem::path(SOURCE_ROOT) / "tests/policy/fixtures/test_files";
        std::size_t files = 0;
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            CAPTURE(entry.path().string());
            ++files;
            const auto loaded = load_test_suite(entry.path());
            CHECK_FALSE(loaded.suite);
            REQUIRE(loaded.diagnostics.size() == 1);
            CHECK(loaded.diagnostics[0].line > 3);  // at the mistake, below the file's policy and cases keys
        }
        CHECK(files == 10);
    }

    TEST_CASE("mistakes in a test file are reported with their position") {
        SuiteFiles files("policy: policy.yaml\ncases:\n  - name: x\n    request: {tenant: a, text: hi}\n"
                         "    expect: {acton: allow}\n");
        const auto loaded = load_test_suite(files.dir / "policy.tests.yaml");
        CHECK_FALSE(loaded.suite);
        REQUIRE(loaded.diagnostics.size() == 1);
        CHECK(format_diagnostic(loaded.diagnostics[0]).ends_with(
            ":5:14: unknown key 'acton' in expect; did you mean 'action'?"));
        // An expectation of nothing passes whatever the policy does; an endpoint the body contradicts
        // tests a request the gateway can never receive.
        for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
                 {"    request: {tenant: a, text: hi}\n    expect: {}\n", ":5:13: expect checks nothing"},
                 {"    request: {tenant: a, text: hi}\n    expect: {message: ''}\n",
                  ":5:23: message is empty, which every message contains, so it checks nothing"},
                 {"    request: {tenant: a, messages: []}\n    expect: {action: deny}\n",
                  ":4:36: messages must be a list of at least one {role, content}"},
                 {"    request: {tenant: a, text: hi, endpoint: embedings}\n    expect: {action: allow}\n",
                  ":4:46: endpoint 'embedings' is not the endpoint of this request"}}) {
            SuiteFiles bad("policy: policy.yaml\ncases:\n  - name: x\n" + text);
            const auto result = load_test_suite(bad.dir / "policy.tests.yaml");
            CHECK_FALSE(result.suite);
            REQUIRE(result.diagnostics.size() == 1);
            CHECK_MESSAGE(format_diagnostic(result.diagnostics[0]).find(message) != std::string::npos,
                          format_diagnostic(result.diagnostics[0]));
        }
    }
}
