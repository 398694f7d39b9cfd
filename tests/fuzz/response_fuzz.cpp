// Fuzz target: answers as backends send them back, streamed (server-sent events cut into chunks
// whose lengths byte 1 seeds) or whole (JSON), through the gateway's response rewriter with the
// answer scanner as its filter. Byte 0 picks the endpoint and the mode. Whatever a backend sends,
// the rewriter must pass, rewrite or refuse it (fail closed), never crash or hang. Each answer is
// read both ways the rewriter can read it, in one pass and parsed: the two must answer alike, byte
// for byte for a whole answer, event for event as a client reads them for a stream (differential).
#include "answer_policy.hpp"
#include "fuzz_support.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "policy/response_scanner.hpp"
#include "sse_alike.hpp"

using namespace sovereign;

namespace {

class ScanOnly : public gateway::TextFilter {
 public:
  ScanOnly() : scanner_(fuzz::answer_policy(), "anyone") {}
  std::string feed(std::string_view text) override { return scanner_.feed(text); }
  std::string finish() override { return scanner_.finish(); }
  std::string complete(std::string_view text) override { return scanner_.complete(text); }
  bool failed() const override { return scanner_.failed(); }

 private:
  policy::ResponseScanner scanner_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 256 * 1024) return 0;
  const gateway::Endpoint endpoint =
      (data[0] & 1) != 0 ? gateway::Endpoint::completions : gateway::Endpoint::chat_completions;
  const bool streamed = (data[0] & 2) != 0;
  const bool withhold_logprobs = (data[0] & 4) != 0;
  const std::string_view body = fuzz::as_text(data + 2, size - 2);
  const auto scan_only = [](gateway::TextForm) {
    gateway::FilterChain chain;
    chain.push_back(std::make_unique<ScanOnly>());
    return chain;
  };
  gateway::ResponseRewriter rewriter(endpoint, withhold_logprobs, scan_only);
  if (!streamed) {
    gateway::ResponseRewriter parsed(endpoint, withhold_logprobs, scan_only, gateway::AnswerReading::parsed);
    const std::string out = rewriter.whole(std::string(body));
    if (out != parsed.whole(std::string(body)) || rewriter.failed() != parsed.failed() ||
        rewriter.failure() != parsed.failure())
      std::abort();
  } else {
    // Each event is read in one pass where it can be, as the parsed reading reads it: the two
    // streams must read alike to a client (the same JSON where a changed text was written in place).
    gateway::ResponseRewriter parsed(endpoint, withhold_logprobs, scan_only, gateway::AnswerReading::parsed);
    std::string out, parsed_out;
    fuzz::ChunkLengths lengths(data[1]);
    for (std::size_t at = 0; at < body.size() && !rewriter.failed();) {
      const std::size_t n = std::min(body.size() - at, lengths.next());
      out += rewriter.on_data(body.substr(at, n));
      parsed_out += parsed.on_data(body.substr(at, n));
      at += n;
    }
    if (!rewriter.failed()) out += rewriter.finish();
    if (!parsed.failed()) parsed_out += parsed.finish();
    if (rewriter.failed() != parsed.failed() || !gateway::testing::read_alike(out, parsed_out)) std::abort();
  }
  (void)rewriter.failure();
  return 0;
}
