// The response rewriter: answers and streamed events that no filter changes leave byte for byte as
// the backend wrote them; those a filter changes are rewritten, split events included.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "gateway/pipeline/response_rewriter.hpp"

using namespace sovereign::gateway;

namespace {

// Replaces every "secret" with "******" in the text it sees, holding nothing back.
class Mask : public TextFilter {
 public:
  std::string feed(std::string_view text) override {
    std::string out(text);
    for (auto at = out.find("secret"); at != std::string::npos; at = out.find("secret", at)) out.replace(at, 6, "******");
    return out;
  }
  std::string finish() override { return {}; }
};

ResponseRewriter masking_rewriter() {
  return ResponseRewriter(Endpoint::chat_completions, [] {
    FilterChain chain;
    chain.push_back(std::make_unique<Mask>());
    return chain;
  });
}

std::string content_of(const std::string& event_json) {
  return std::string(boost::json::parse(event_json).at("choices").at(0).at("delta").at("content").as_string());
}

}  // namespace

TEST_SUITE("rewrite") {
  TEST_CASE("streamed events no filter changes go out byte for byte; changed ones are rewritten") {
    auto rewriter = masking_rewriter();
    // Unusual but valid spacing: a re-serialised event would lose it.
    const std::string plain = R"(data:{"choices": [ {"index":0, "delta":{"content":"hello"},"finish_reason":null} ]})";
    const std::string masked = R"(data: {"choices":[{"index":0,"delta":{"content":"a secret"},"finish_reason":null}]})";
    CHECK(rewriter.on_data(plain + "\n\n") == plain + "\n\n");
    const std::string out = rewriter.on_data(masked.substr(0, 20));
    CHECK(out.empty());  // half an event waits for the rest
    const std::string rest = rewriter.on_data(masked.substr(20) + "\n\n");
    REQUIRE(rest.starts_with("data: "));
    CHECK(content_of(rest.substr(6)) == "a ******");
    CHECK(rewriter.on_data("data: [DONE]\n\n") == "data: [DONE]\n\n");
    CHECK_FALSE(rewriter.failed());
  }

  TEST_CASE("a whole answer no filter changes goes out as received; a changed one is rewritten") {
    auto rewriter = masking_rewriter();
    const std::string plain = R"({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]})";
    CHECK(rewriter.whole(plain) == plain);
    auto second = masking_rewriter();
    const std::string changed = second.whole(R"({"choices":[{"index":0,"message":{"content":"the secret"}}]})");
    CHECK(boost::json::parse(changed).at("choices").at(0).at("message").at("content").as_string() == "the ******");
  }

  TEST_CASE("an event that is not JSON ends the stream with an error event") {
    auto rewriter = masking_rewriter();
    const std::string out = rewriter.on_data("data: {not json\n\n");
    CHECK(rewriter.failed());
    CHECK(out.find("response_check_failed") != std::string::npos);
  }
}
