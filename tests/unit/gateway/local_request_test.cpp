// Requests for the built-in engine: OpenAI's max_tokens semantics, and parameters the engine cannot
// honour refused by name rather than ignored.
#include <doctest/doctest.h>

#include "gateway/openai/request_body.hpp"
#include "gateway/upstream/local_forwarder.hpp"

using namespace sovereign;
using namespace sovereign::gateway;

namespace {

std::variant<accel::GenerationRequest, ApiError> local_request(Endpoint endpoint, std::string_view body) {
  auto decoded = decode_request(endpoint, body);
  auto* request = std::get_if<DecodedRequest>(&decoded);
  REQUIRE_MESSAGE(request != nullptr, std::get<ApiError>(decoded).message);
  return generation_request(*request);
}

accel::GenerationRequest accepted(Endpoint endpoint, std::string_view body) {
  auto result = local_request(endpoint, body);
  auto* request = std::get_if<accel::GenerationRequest>(&result);
  REQUIRE_MESSAGE(request != nullptr, std::get<ApiError>(result).message);
  return *request;
}

ApiError refused(Endpoint endpoint, std::string_view body) {
  auto result = local_request(endpoint, body);
  auto* error = std::get_if<ApiError>(&result);
  REQUIRE_MESSAGE(error != nullptr, "expected the request to be refused");
  return *error;
}

constexpr const char* kChat = R"("model":"m","messages":[{"role":"user","content":"hi"}])";

std::string chat(const std::string& extra = {}) { return std::string("{") + kChat + extra + "}"; }

}  // namespace

TEST_SUITE("local") {
  TEST_CASE("without max_tokens the engine is given no limit; with it, exactly that limit") {
    CHECK_FALSE(accepted(Endpoint::chat_completions, chat()).sampling.max_tokens.has_value());
    CHECK_FALSE(accepted(Endpoint::chat_completions, chat(R"(,"max_tokens":null)")).sampling.max_tokens.has_value());
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"max_tokens":7)")).sampling.max_tokens == 7);
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"max_completion_tokens":300)")).sampling.max_tokens == 300);
    CHECK(accepted(Endpoint::completions, R"({"model":"m","prompt":"a","max_tokens":1})").sampling.max_tokens == 1);
  }

  TEST_CASE("max_tokens and max_completion_tokens of 0 are refused with 400 naming the parameter") {
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
      auto decoded = decode_request(Endpoint::chat_completions, chat(std::string(",\"") + key + "\":0"));
      auto* error = std::get_if<ApiError>(&decoded);
      REQUIRE(error != nullptr);
      CHECK(error->status == boost::beast::http::status::bad_request);
      CHECK(error->type == "invalid_request_error");
      CHECK(error->param == key);
      CHECK(error->message == std::string("'") + key + "' must be a positive integer (1 to 100000000)");
    }
  }

  TEST_CASE("n other than 1 is refused by name; n of 1 is served") {
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"n":1)")).messages.size() == 1);
    for (const char* n : {"2", "0", "\"2\"", "1.5"}) {
      CAPTURE(n);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(R"(,"n":)") + n));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == "n");
      CHECK(error.message == "the built-in engine serving 'm' generates one choice per request: 'n' must be 1 or left out");
    }
  }

  TEST_CASE("log probabilities are refused naming the parameter that asked for them") {
    const ApiError chat_logprobs = refused(Endpoint::chat_completions, chat(R"(,"logprobs":true)"));
    CHECK(chat_logprobs.param == "logprobs");
    CHECK(chat_logprobs.message == "the built-in engine serving 'm' does not return log probabilities: leave out 'logprobs'");
    CHECK(refused(Endpoint::chat_completions, chat(R"(,"top_logprobs":3)")).param == "top_logprobs");
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","logprobs":0})").param == "logprobs");
    // Saying no is not asking.
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"logprobs":false,"top_logprobs":0)")).messages.size() == 1);
  }
}
