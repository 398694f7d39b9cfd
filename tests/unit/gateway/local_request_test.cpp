// Requests for the built-in engine: OpenAI's max_tokens semantics, sampling parameters checked by
// name, and parameters or content the engine cannot honour refused by name rather than ignored.
#include <doctest/doctest.h>

#include "gateway/openai/request_body.hpp"
#include "gateway/upstream/local_request.hpp"

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

  TEST_CASE("max_tokens and max_completion_tokens together are refused, as OpenAI refuses them, not one of them ignored") {
    for (const char* limits : {R"(,"max_tokens":3,"max_completion_tokens":5)", R"(,"max_completion_tokens":5,"max_tokens":3)",
                               R"(,"max_tokens":4,"max_completion_tokens":4)"}) {
      CAPTURE(limits);
      const ApiError error = refused(Endpoint::chat_completions, chat(limits));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == "max_tokens");
      CHECK(error.message ==
            "setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported: send one of them");
    }
    // A null one is not set.
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"max_tokens":null,"max_completion_tokens":5)")).sampling.max_tokens ==
          5);
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
    for (const char* n : {"2", "0"}) {
      CAPTURE(n);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(R"(,"n":)") + n));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == "n");
      CHECK(error.message == "the built-in engine serving 'm' generates one choice per request: 'n' must be 1 or left out");
    }
    for (const char* n : {"\"2\"", "1.5", "1.0"}) {
      CAPTURE(n);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(R"(,"n":)") + n));
      CHECK(error.param == "n");
      CHECK(error.message == "'n' must be an integer");
    }
  }

  TEST_CASE("an integer parameter is a JSON integer: 1.0 is refused for each, as the decoder refuses max_tokens 5.0") {
    for (const char* key : {"n", "best_of", "top_k", "seed"}) {
      CAPTURE(key);
      const ApiError error = refused(Endpoint::completions, std::string(R"({"model":"m","prompt":"a",")") + key + "\":1.0}");
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == key);
      CHECK(error.message.starts_with(std::string("'") + key + "' must be an integer"));
      // The same parameter written as an integer is served.
      CHECK(accepted(Endpoint::completions, std::string(R"({"model":"m","prompt":"a",")") + key + "\":1}").prompt == "a");
    }
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
      CAPTURE(key);
      auto decoded = decode_request(Endpoint::chat_completions, chat(std::string(",\"") + key + "\":1.0"));
      auto* error = std::get_if<ApiError>(&decoded);
      REQUIRE(error != nullptr);
      CHECK(error->param == key);
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

  TEST_CASE("sampling values out of range are refused with the range and the value, written as the client wrote them") {
    ApiError error = refused(Endpoint::chat_completions, chat(R"(,"temperature":3)"));
    CHECK(error.param == "temperature");
    CHECK(error.message == "'temperature' must be between 0 and 2, not 3");
    error = refused(Endpoint::chat_completions, chat(R"(,"top_p":1.5)"));
    CHECK(error.param == "top_p");
    CHECK(error.message == "'top_p' must be between 0 and 1, not 1.5");
    CHECK(refused(Endpoint::chat_completions, chat(R"(,"temperature":"hot")")).message == "'temperature' must be a number");
    const auto ok = accepted(Endpoint::chat_completions, chat(R"(,"temperature":0.25,"top_p":0.5)"));
    CHECK(ok.sampling.temperature == 0.25f);
    CHECK(ok.sampling.top_p == 0.5f);
  }

  TEST_CASE("seed is any signed 64-bit integer, as OpenAI takes it; beyond that range, a fraction or a string is refused") {
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"seed":42)")).sampling.seed == 42u);
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"seed":-1)")).sampling.seed == ~std::uint64_t{0});
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"seed":9223372036854775807)")).sampling.seed ==
          std::uint64_t{9223372036854775807});
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"seed":-9223372036854775808)")).sampling.seed ==
          std::uint64_t{1} << 63);
    CHECK_FALSE(accepted(Endpoint::chat_completions, chat(R"(,"seed":null)")).sampling.seed.has_value());
    for (const char* seed : {"1.5", "7.0", "\"1\"", "true", "1e30", "9223372036854775808", "18446744073709551615",
                             "-9223372036854775809"}) {
      CAPTURE(seed);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(R"(,"seed":)") + seed));
      CHECK(error.param == "seed");
      CHECK(error.message == "'seed' must be an integer from -9223372036854775808 to 9223372036854775807");
    }
  }

  TEST_CASE("top_k is a whole number from 0 (off) to 1000000") {
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"top_k":40)")).sampling.top_k == 40);
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"top_k":0)")).sampling.top_k == 0);
    for (const char* top_k : {"2.5", "40.0", "-1", "1000001", "\"40\""}) {
      CAPTURE(top_k);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(R"(,"top_k":)") + top_k));
      CHECK(error.param == "top_k");
      CHECK(error.message == "'top_k' must be an integer from 0 (off) to 1000000");
    }
  }

  TEST_CASE("stop strings are checked here, each refusal naming the one at fault") {
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"stop":"END")")).sampling.stop == std::vector<std::string>{"END"});
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"stop":["a","b"])")).sampling.stop ==
          std::vector<std::string>{"a", "b"});
    std::string many = R"(,"stop":[)";
    for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + "\"s" + std::to_string(i) + "\"";
    ApiError error = refused(Endpoint::chat_completions, chat(many + "]"));
    CHECK(error.param == "stop");
    CHECK(error.message == "'stop' has 17 strings; at most 16");
    const std::string long_stop(257, 'x');
    error = refused(Endpoint::chat_completions, chat(R"(,"stop":["ok",")" + long_stop + "\"]"));
    CHECK(error.param == "stop[1]");
    CHECK(error.message == "'stop[1]' is 257 bytes; a stop string is at most 256");
    error = refused(Endpoint::chat_completions, chat(R"(,"stop":")" + long_stop + "\""));
    CHECK(error.param == "stop");
    error = refused(Endpoint::chat_completions, chat(R"(,"stop":["a",3])"));
    CHECK(error.param == "stop[1]");
    CHECK(error.message == "'stop[1]' must be a string");
  }

  TEST_CASE("parameters the engine does not implement are refused by name unless they ask for nothing") {
    struct Case {
      const char* json;
      const char* param;
      const char* why;
    };
    const Case cases[] = {
        {R"("response_format":{"type":"json_object"})", "response_format", "does not constrain its output to JSON or a schema"},
        {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools", "does not call tools"},
        {R"("functions":[{"name":"f"}])", "functions", "does not call functions"},
        {R"("logit_bias":{"50256":-100})", "logit_bias", "does not apply logit biases"},
        {R"("presence_penalty":0.5)", "presence_penalty", "does not apply presence penalties"},
        {R"("frequency_penalty":-1)", "frequency_penalty", "does not apply frequency penalties"},
        {R"("modalities":["text","audio"])", "modalities", "generates text only"},
        {R"("audio":{"voice":"alloy","format":"wav"})", "audio", "generates text only"},
        {R"("tool_choice":"required")", "tool_choice", "does not call tools"},
        {R"("tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice", "does not call tools"},
        {R"("function_call":{"name":"f"})", "function_call", "does not call functions"},
        {R"("prediction":{"type":"content","content":"x"})", "prediction", "does not use predicted outputs"},
        {R"("reasoning_effort":"low")", "reasoning_effort", "does not reason and has no reasoning effort to set"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.json);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(",") + c.json));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == c.param);
      CHECK(error.message == std::string("the built-in engine serving 'm' ") + c.why + ": leave out '" + c.param + "'");
    }
    const ApiError echo = refused(Endpoint::completions, R"({"model":"m","prompt":"a","echo":true})");
    CHECK(echo.param == "echo");
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","suffix":"}"})").param == "suffix");
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","best_of":3})").param == "best_of");
    // The values that ask for nothing are served, as clients that always send them expect.
    CHECK(accepted(Endpoint::chat_completions,
                   chat(R"(,"response_format":{"type":"text"},"tools":[],"logit_bias":{},"presence_penalty":0,)"
                        R"("frequency_penalty":0,"modalities":["text"],"audio":null,"functions":null,)"
                        R"("tool_choice":"none","function_call":"auto","prediction":null,"reasoning_effort":null)"))
              .messages.size() == 1);
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"tool_choice":"auto")")).messages.size() == 1);
    // best_of 1.0 is refused as a fraction (below), not taken for the 1 that asks for nothing.
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","best_of":1.0})").message ==
          "'best_of' must be an integer");
    CHECK(accepted(Endpoint::completions, R"({"model":"m","prompt":"a","echo":false,"suffix":"","best_of":1})")
              .prompt == "a");
  }

  TEST_CASE("a parameter the engine does not know is refused by name, as OpenAI refuses it, not ignored") {
    for (const char* key : {"temprature", "guided_json", "min_tokens", "ignore_eos", "max_new_tokens"}) {
      CAPTURE(key);
      const ApiError error = refused(Endpoint::chat_completions, chat(std::string(",\"") + key + "\":1"));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == key);
      CHECK(error.message == std::string("the built-in engine serving 'm' does not know the parameter '") + key +
                                 "' of chat.completions: leave it out, or check its spelling");
    }
    // Each endpoint's prompt is its own: a chat request's "prompt" would be ignored.
    CHECK(refused(Endpoint::chat_completions, chat(R"(,"prompt":"x")")).param == "prompt");
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","messages":[]})").param == "messages");
    // min_p is a sampling method the engine does not implement: refused unless 0, which asks for nothing.
    CHECK(refused(Endpoint::chat_completions, chat(R"(,"min_p":0.1)")).message ==
          "the built-in engine serving 'm' does not apply min-p sampling: leave out 'min_p'");
    CHECK(accepted(Endpoint::chat_completions, chat(R"(,"min_p":0)")).messages.size() == 1);
    // What only says who asks, or how to store, bill or cache the answer, changes no text: accepted.
    CHECK(accepted(Endpoint::chat_completions,
                   chat(R"(,"user":"u-1","metadata":{"a":"b"},"store":false,"service_tier":"auto",)"
                        R"("parallel_tool_calls":true,"safety_identifier":"s","prompt_cache_key":"k","stream":false,)"
                        R"("top_logprobs":0,"logprobs":false,"top_k":0,"seed":1,"stop":null,"temperature":1,"top_p":1)"))
              .messages.size() == 1);
    CHECK(accepted(Endpoint::completions, R"({"model":"m","prompt":"a","user":"u","max_tokens":2,"n":1})").prompt == "a");
  }

  TEST_CASE("a stream option the engine does not serve is refused by name, as an unknown parameter is") {
    const auto streamed = [](const std::string& options) {
      return chat(R"(,"stream":true,"stream_options":)" + options);
    };
    for (const char* key : {"continuous_usage_stats", "include_usge"}) {
      CAPTURE(key);
      const ApiError error = refused(Endpoint::chat_completions, streamed(std::string("{\"") + key + "\":true}"));
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == std::string("stream_options.") + key);
      CHECK(error.message == std::string("the built-in engine serving 'm' does not know the stream option "
                                         "'stream_options.") +
                                 key + "': leave it out, or check its spelling");
    }
    CHECK(refused(Endpoint::completions, R"({"model":"m","prompt":"a","stream":true,"stream_options":{"x":1}})").param ==
          "stream_options.x");
    // Padding events are not sent: asking for them is refused, turning them off asks for nothing.
    const ApiError padding = refused(Endpoint::chat_completions, streamed(R"({"include_obfuscation":true})"));
    CHECK(padding.param == "stream_options.include_obfuscation");
    CHECK(padding.message ==
          "the built-in engine serving 'm' does not pad its stream events: leave out 'stream_options.include_obfuscation'");
    CHECK(accepted(Endpoint::chat_completions, streamed(R"({"include_usage":true,"include_obfuscation":false})"))
              .messages.size() == 1);
    CHECK(accepted(Endpoint::chat_completions, streamed(R"({"include_obfuscation":null})")).messages.size() == 1);
    CHECK(accepted(Endpoint::chat_completions, streamed("{}")).messages.size() == 1);
  }

  TEST_CASE("a content part that is not text is refused, naming it, rather than dropped") {
    const ApiError error = refused(
        Endpoint::chat_completions,
        R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[)"
        R"({"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}]})");
    CHECK(error.param == "messages[1].content[1]");
    CHECK(error.message == "the built-in engine serving 'm' reads text only; 'messages[1].content[1]' is of type 'image_url'");
    const auto ok = accepted(Endpoint::chat_completions,
                             R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
                             R"({"type":"text","text":"b"}]},{"role":"assistant","content":""}]})");
    REQUIRE(ok.messages.size() == 2);
    CHECK(ok.messages[0].content == "ab");
    CHECK(ok.messages[1].content.empty());
  }

  TEST_CASE("a message without content, or with an empty list of parts, is refused naming it, as OpenAI refuses it") {
    for (const char* role : {"system", "developer", "user", "assistant"}) {
      for (const char* content : {"", R"(,"content":null)", R"(,"content":[])"}) {
        CAPTURE(role);
        CAPTURE(content);
        const ApiError error = refused(Endpoint::chat_completions,
                                       std::string(R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":")") +
                                           role + "\"" + content + "}]}");
        CHECK(error.status == boost::beast::http::status::bad_request);
        CHECK(error.param == "messages[1].content");
        CHECK(error.message == (std::string_view(content).empty() || std::string_view(content).find("null") != std::string_view::npos
                                    ? "'messages[1].content' is required"
                                    : "'messages[1].content' must be a string or a non-empty array of content parts"));
      }
    }
    // An empty string is text, as OpenAI takes it.
    CHECK(accepted(Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":""}]})").messages.size() == 1);
  }

  TEST_CASE("tool calls and tool results in the history are refused by name, not dropped from the prompt") {
    const ApiError calls = refused(
        Endpoint::chat_completions,
        R"({"model":"m","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,)"
        R"("tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{}"}}]},)"
        R"({"role":"tool","tool_call_id":"c1","content":"sunny"}]})");
    CHECK(calls.status == boost::beast::http::status::bad_request);
    CHECK(calls.param == "messages[1].tool_calls");
    CHECK(calls.message == "the built-in engine serving 'm' does not call tools: leave out 'messages[1].tool_calls'");
    const ApiError result = refused(Endpoint::chat_completions,
                                    R"({"model":"m","messages":[{"role":"user","content":"a"},)"
                                    R"({"role":"tool","tool_call_id":"c1","content":"sunny"}]})");
    CHECK(result.param == "messages[1].role");
    CHECK(result.message == "the built-in engine serving 'm' does not call tools: 'messages[1]' is a tool result; leave it out");
    const ApiError function = refused(Endpoint::chat_completions,
                                      R"({"model":"m","messages":[{"role":"function","name":"f","content":"x"}]})");
    CHECK(function.param == "messages[0].role");
    const ApiError legacy = refused(Endpoint::chat_completions,
                                    R"({"model":"m","messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]})");
    CHECK(legacy.param == "messages[0].function_call");
    // An empty list of calls asks for nothing.
    CHECK(accepted(Endpoint::chat_completions,
                   R"({"model":"m","messages":[{"role":"assistant","content":"hi","tool_calls":[]},{"role":"user","content":"a"}]})")
              .messages.size() == 2);
  }

  TEST_CASE("a message's name is refused naming it, not dropped: no chat format the engine renders has a place for it") {
    const ApiError name = refused(Endpoint::chat_completions,
                                  R"({"model":"m","messages":[{"role":"system","content":"s"},)"
                                  R"({"role":"user","content":"hi","name":"alice"}]})");
    CHECK(name.status == boost::beast::http::status::bad_request);
    CHECK(name.type == "invalid_request_error");
    CHECK(name.param == "messages[1].name");
    CHECK(name.message ==
          "the built-in engine serving 'm' cannot tell the model who wrote a message: its chat formats (chatml, llama3, "
          "llama2, mistral, zephyr) have no place for a name: leave out 'messages[1].name'; write the name into the content if "
          "the model should read it");
    for (const char* role : {"system", "developer", "assistant"}) {
      CAPTURE(role);
      CHECK(refused(Endpoint::chat_completions,
                    std::string(R"({"model":"m","messages":[{"role":")") + role + R"(","content":"a","name":"bob"}]})")
                .param == "messages[0].name");
    }
    const ApiError refusal = refused(Endpoint::chat_completions,
                                     R"({"model":"m","messages":[{"role":"user","content":"a"},)"
                                     R"({"role":"assistant","content":"","refusal":"I cannot help with that."}]})");
    CHECK(refusal.param == "messages[1].refusal");
    CHECK(refusal.message.starts_with("the built-in engine serving 'm' cannot show the model an earlier refusal"));
    CHECK(refused(Endpoint::chat_completions,
                  R"({"model":"m","messages":[{"role":"assistant","content":"a","audio":{"id":"au_1"}}]})")
              .param == "messages[0].audio");
    // Null or empty asks for nothing: what an SDK writes when it copies an answer back into the history.
    const auto copied = accepted(Endpoint::chat_completions,
                                 R"({"model":"m","messages":[{"role":"user","content":"a","name":""},)"
                                 R"({"role":"assistant","content":"b","name":null,"refusal":null,"audio":null,)"
                                 R"("annotations":[],"tool_calls":null,"function_call":null},{"role":"user","content":"c"}]})");
    REQUIRE(copied.messages.size() == 3);
    CHECK(copied.messages[1].content == "b");
  }

  TEST_CASE("a member of a message the engine does not know is refused naming it, as an unknown parameter is") {
    for (const char* key : {"foo", "tool_call_id", "reasoning_content", "Name"}) {
      CAPTURE(key);
      const ApiError error = refused(Endpoint::chat_completions,
                                     std::string(R"({"model":"m","messages":[{"role":"user","content":"a",")") + key +
                                         R"(":"x"}]})");
      CHECK(error.status == boost::beast::http::status::bad_request);
      CHECK(error.param == std::string("messages[0].") + key);
      CHECK(error.message == std::string("the built-in engine serving 'm' does not know the member '") + key +
                                 "' of a message: leave out 'messages[0]." + key + "', or check its spelling");
    }
  }

  TEST_CASE("a developer message is the system prompt, as OpenAI treats it") {
    const auto request = accepted(Endpoint::chat_completions,
                                  R"({"model":"m","messages":[{"role":"developer","content":"Answer in French."},)"
                                  R"({"role":"user","content":"hi"}]})");
    REQUIRE(request.messages.size() == 2);
    CHECK(request.messages[0].role == "system");
    CHECK(request.messages[0].content == "Answer in French.");
    CHECK(request.messages[1].role == "user");
  }

  TEST_CASE("a role OpenAI does not define is refused naming the message, not written into the prompt") {
    for (const char* role : {"bogus", "", "System"}) {
      CAPTURE(role);
      const ApiError error = refused(Endpoint::chat_completions,
                                     std::string(R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":")") +
                                         role + R"(","content":"b"}]})");
      CHECK(error.param == "messages[1].role");
      CHECK(error.message == std::string("'messages[1].role' is '") + role +
                                 "'; a role is one of system, developer, user, assistant, tool, function");
    }
    for (const char* role : {"system", "user", "assistant"}) {
      CAPTURE(role);
      CHECK(accepted(Endpoint::chat_completions,
                     std::string(R"({"model":"m","messages":[{"role":")") + role + R"(","content":"b"}]})")
                .messages.front()
                .role == role);
    }
  }
}
