// Fuzz target: policy files as compliance officers write them, and their test suites. The input is
// a policy, optionally followed by a line "#--- tests ---" and a test-suite file for it. Lint and the
// loader must report every problem with a position, never crash or hang; a policy that loads is
// evaluated on a fixed request (with a trace, rendered as `policy explain` does), scans an answer,
// and runs its test suite.
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.hpp"
#include "policy/engine.hpp"
#include "policy/explain.hpp"
#include "policy/lint.hpp"
#include "policy/response_scanner.hpp"
#include "policy/test_suite.hpp"

using namespace sovereign;

namespace {

constexpr std::string_view suite_marker = "\n#--- tests ---\n";

policy::Request fixed_request(const policy::Policy& loaded) {
  policy::Request request;
  request.tenant = loaded.model().tenants.empty() ? "fuzz" : loaded.model().tenants.front().name;
  request.model = "llama-3.1-8b";
  request.endpoint = "chat.completions";
  request.segments = {
      {"messages[0].content", "Patient John Smith, NHS number 943 476 5919, born 12.03.1961. Card 4111 1111"},
      {"messages[1].content", "1111 1111, mail jane.doe@example.com, IBAN DE89 3704 0044 0532 0130 00."},
      {"messages[2].content", "AKIAIOSFODNN7EXAMPLE and 192.168.1.20, SSN 123-45-6789, BSN 111222333."},
  };
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view input = fuzz::as_text(data, size);
  const std::size_t marker = input.find(suite_marker);
  const std::string_view yaml = input.substr(0, marker);

  // What lint does (load, then analyse), with one compile of the detectors per input.
  auto loaded = policy::load_policy_text(yaml, "policy.yaml");
  if (!loaded.policy) {
    if (loaded.diagnostics.empty()) {
      std::fprintf(stderr, "a policy was refused without a diagnostic\n");
      std::abort();
    }
    return 0;
  }
  (void)policy::analyse_policy(*loaded.policy, nullptr);
  const policy::Request request = fixed_request(*loaded.policy);
  policy::EvaluationTrace trace;
  const policy::Decision decision = policy::evaluate(request, *loaded.policy, &trace);
  (void)policy::render_explanation(request, decision, trace, *loaded.policy);
  (void)policy::explain_answer(loaded.policy, request.tenant, "Reach jane.doe@example.com or card 4111 1111 1111 1111.");
  (void)policy::explain_answer(loaded.policy, request.tenant, R"({"to": "jane\u0040example.com", "card": "\\u0034111 1111 1111 1111"})",
                               policy::AnswerText::json_text);

  if (marker != std::string_view::npos) {
    const auto directory = fuzz::scratch_directory();
    fuzz::write_file(directory / "policy.yaml", yaml);
    fuzz::write_file(directory / "policy.tests.yaml", input.substr(marker + suite_marker.size()));
    auto suite = policy::load_test_suite(directory / "policy.tests.yaml");
    if (suite.suite) (void)policy::render_suite_result(policy::run_test_suite(*suite.suite, loaded.policy), "policy.tests.yaml");
  }
  return 0;
}
