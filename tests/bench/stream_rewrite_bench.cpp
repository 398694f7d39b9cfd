// The response rewriter on a streamed answer: the gateway benchmark's stream (tests/bench/gateway_bench.sh
// --stream: the bench answer's text an event a word, between an event with the role and the end
// events), rewritten whole by one rewriter after another, as the gateway rewrites each streamed answer
// under a policy. Each event read in one pass (the gateway's way) against each event parsed into a
// document and written again where a filter changed it (the reading the one pass stands in for),
// with the bench policy's filters (the answer scan) and with none, in the same run.
//
// Usage: stream_rewrite_bench [POLICY.yaml [ANSWERS [ROUNDS]]]   (run from the source root)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "gateway/pipeline/answer_filters.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "policy/policy.hpp"

using namespace sovereign;
using namespace sovereign::gateway;
namespace json = boost::json;

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The stream gateway_bench.sh --stream serves, built from the bench answer the same way.
std::string bench_stream(const json::value& answer) {
  const std::string content(answer.at("choices").at(0).at("message").at("content").as_string());
  const auto event = [&](json::object delta, json::value finish) {
    json::object chunk{{"id", answer.at("id")}, {"created", answer.at("created")}, {"model", answer.at("model")},
                       {"system_fingerprint", answer.at("system_fingerprint")}, {"object", "chat.completion.chunk"}};
    chunk["choices"] = json::array{json::object{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                                {"finish_reason", std::move(finish)}}};
    return "data: " + json::serialize(chunk) + "\n\n";
  };
  std::string stream = event({{"role", "assistant"}, {"content", ""}}, nullptr);
  for (std::size_t at = 0; at < content.size();) {
    const std::size_t space = content.find(' ', at + 1);
    const std::size_t end = space == std::string::npos ? content.size() : space;
    stream += event({{"content", content.substr(at, end - at)}}, nullptr);
    at = end;
  }
  return stream + event({}, "stop") + "data: [DONE]\n\n";
}

struct Timing {
  double best_us = 0;  // per answer, fastest round
  EventRoutes routes;  // of one answer
};

Timing measure(const std::string& stream, const FilterChainFactory& chains, AnswerReading reading, int answers, int rounds) {
  Timing timing;
  timing.best_us = 1e30;
  std::size_t bytes = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < answers; ++i) {
      ResponseRewriter rewriter(Endpoint::chat_completions, true, chains, reading);
      std::string out = rewriter.on_data(stream);
      out += rewriter.finish();
      bytes += out.size();
      if (i == 0) timing.routes = rewriter.event_routes();
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    timing.best_us = std::min(timing.best_us, us / answers);
  }
  if (bytes == 0) std::abort();
  return timing;
}

}  // namespace

int main(int argc, char** argv) {
  const char* policy_path = argc > 1 ? argv[1] : "tests/bench/gateway/policy.yaml";
  const int answers = argc > 2 ? std::atoi(argv[2]) : 5000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  const std::string answer_text = read_file("tests/bench/gateway/chat_response.json");
  boost::system::error_code ec;
  const json::value answer = json::parse(answer_text, ec);
  const auto loaded = policy::load_policy_file(policy_path);
  if (ec || !loaded.policy || answers <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: stream_rewrite_bench [POLICY.yaml [ANSWERS [ROUNDS]]], from the source root\n");
    return 2;
  }
  const std::string stream = bench_stream(answer);
  AnswerFilterSettings settings;
  settings.policy = loaded.policy;
  settings.tenant = "bench";
  settings.totals = std::make_shared<std::map<std::string, int>>();
  const FilterChainFactory scan = [&](TextForm form) { return answer_filters(settings, form); };
  const FilterChainFactory none = [](TextForm) { return FilterChain{}; };
  std::size_t events = 0;
  for (std::size_t at = stream.find("data: {"); at != std::string::npos; at = stream.find("data: {", at + 1)) ++events;

  std::printf("Response rewriter, the bench stream (%zu events with data, %zu bytes), %d answers x %d rounds, fastest round\n\n",
              events, stream.size(), answers, rounds);
  std::printf("| filters | events read | us/answer | ns/event | answers/s | vs parsed | events: as they came / in place / parsed after / parsed |\n");
  std::printf("|---|---|---:|---:|---:|---:|---|\n");
  for (const auto& [name, chains] : {std::pair<const char*, const FilterChainFactory*>{"bench policy", &scan},
                                     std::pair<const char*, const FilterChainFactory*>{"none", &none}}) {
    const Timing parsed = measure(stream, *chains, AnswerReading::parsed, answers, rounds);
    const Timing one_pass = measure(stream, *chains, AnswerReading::one_pass_first, answers, rounds);
    for (const auto& [reading, t] : {std::pair<const char*, const Timing*>{"parsed", &parsed},
                                     std::pair<const char*, const Timing*>{"in one pass", &one_pass}})
      std::printf("| %s | %s | %.2f | %.0f | %.0f | %.2f | %zu / %zu / %zu / %zu |\n", name, reading, t->best_us,
                  t->best_us * 1000 / events, 1e6 / t->best_us, parsed.best_us / t->best_us, t->routes.one_pass,
                  t->routes.spliced, t->routes.one_pass_then_parsed, t->routes.parsed);
  }
  return 0;
}
