// The response rewriter: answers and streamed events that no filter changes leave byte for byte as
// the backend wrote them; those a filter changes are rewritten, split events included.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <utility>

#include <boost/json.hpp>

#include "gateway/log/json_line.hpp"
#include "gateway/openai/stream_end.hpp"
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

// Masks "secret" also when it arrives split across pieces: holds back a tail that could be the
// start of one, and releases it when the stream ends.
class StreamingMask : public TextFilter {
 public:
  std::string feed(std::string_view text) override {
    held_ += text;
    for (auto at = held_.find("secret"); at != std::string::npos; at = held_.find("secret", at)) held_.replace(at, 6, "******");
    std::size_t keep = 0;
    for (std::size_t n = std::min<std::size_t>(5, held_.size()); n > 0 && keep == 0; --n)
      if (std::string_view("secret").starts_with(std::string_view(held_).substr(held_.size() - n))) keep = n;
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
  }
  std::string finish() override { return std::exchange(held_, {}); }

 private:
  std::string held_;
};

ResponseRewriter streaming_mask_rewriter() {
  return ResponseRewriter(Endpoint::chat_completions, false, [](TextForm) {
    FilterChain chain;
    chain.push_back(std::make_unique<StreamingMask>());
    return chain;
  });
}

ResponseRewriter masking_rewriter(bool withhold_logprobs = false) {
  return ResponseRewriter(Endpoint::chat_completions, withhold_logprobs, [](TextForm) {
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

  TEST_CASE("a stream reads the same however its events are cut into chunks: one at a time, all in one, anywhere") {
    // Events of several shapes (masked, unchanged, a comment, an event line) and the end, fed whole,
    // an event at a time, and cut at random places: the bytes out are the same.
    std::string body;
    for (int i = 0; i < 200; ++i) {
      if (i % 7 == 3) body += ": keep-alive\n\n";
      if (i % 11 == 5) body += "event: message\n";
      body += R"(data: {"choices":[{"index":0,"delta":{"content":")" + std::string(i % 2 == 0 ? "a secret " : "plain ") +
              std::to_string(i) + R"("},"finish_reason":null}]})" "\n\n";
    }
    body += "data: [DONE]\n\n";
    const auto through = [](const std::vector<std::string_view>& chunks) {
      auto rewriter = streaming_mask_rewriter();
      std::string out;
      for (const auto chunk : chunks) out += rewriter.on_data(chunk);
      REQUIRE_FALSE(rewriter.failed());
      return out + rewriter.finish();
    };
    const std::string whole = through({body});
    CHECK(whole.find("secret") == std::string::npos);
    CHECK(whole.ends_with("data: [DONE]\n\n"));
    std::vector<std::string_view> events;
    for (std::size_t at = 0, end; at < body.size(); at = end + 2) {
      end = body.find("\n\n", at);
      events.push_back(std::string_view(body).substr(at, end + 2 - at));
    }
    CHECK(through(events) == whole);
    std::mt19937 random(20261125);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::string_view> chunks;
      for (std::size_t at = 0; at < body.size();) {
        const std::size_t length = std::min<std::size_t>(1 + random() % 600, body.size() - at);
        chunks.push_back(std::string_view(body).substr(at, length));
        at += length;
      }
      CHECK(through(chunks) == whole);
    }
  }

  TEST_CASE("a whole answer no filter changes goes out as received; a changed one is rewritten") {
    auto rewriter = masking_rewriter();
    const std::string plain = R"({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]})";
    CHECK(rewriter.whole(plain) == plain);
    auto second = masking_rewriter();
    const std::string changed = second.whole(R"({"choices":[{"index":0,"message":{"content":"the secret"}}]})");
    CHECK(boost::json::parse(changed).at("choices").at(0).at("message").at("content").as_string() == "the ******");
  }

  TEST_CASE("every text of a whole answer is filtered: content, reasoning, refusal, tool-call arguments") {
    auto rewriter = masking_rewriter();
    const std::string out = rewriter.whole(R"({"choices":[{"index":0,"message":{"content":null,
        "reasoning_content":"a secret plan","reasoning":"the secret way","refusal":"no secret",
        "function_call":{"name":"g","arguments":"{\"old\":\"secret\"}"},
        "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"k\":\"secret\"}"}}]}}]})");
    auto message = boost::json::parse(out).at("choices").at(0).at("message");
    CHECK(message.at("reasoning_content").as_string() == "a ****** plan");
    CHECK(message.at("reasoning").as_string() == "the ****** way");
    CHECK(message.at("function_call").at("arguments").as_string() == R"({"old":"******"})");
    CHECK(message.at("function_call").at("name").as_string() == "g");
    CHECK(message.at("refusal").as_string() == "no ******");
    CHECK(message.at("tool_calls").at(0).at("function").at("arguments").as_string() == R"({"k":"******"})");
    CHECK(message.at("tool_calls").at(0).at("function").at("name").as_string() == "f");
  }

  TEST_CASE("streamed tool-call arguments are filtered per call, split values included, and released at the end") {
    auto rewriter = streaming_mask_rewriter();
    auto event = [](const std::string& delta, const char* finish = "null") {
      return "data: {\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":" + finish + "}]}\n\n";
    };
    auto args = [](int call, const std::string& piece) {
      return R"({"tool_calls":[{"index":)" + std::to_string(call) + R"(,"function":{"arguments":")" + piece + R"("}}]})";
    };
    std::string out = rewriter.on_data(event(args(0, "x=sec")));
    out += rewriter.on_data(event(args(1, "other sec")));   // another call: its own stream
    out += rewriter.on_data(event(args(0, "ret;")));
    out += rewriter.on_data(event(R"({})", R"("tool_calls")"));  // call 1's held-back "sec" is released here
    out += rewriter.on_data("data: [DONE]\n\n");
    // Reassemble each call's arguments as a client would.
    std::map<std::int64_t, std::string> calls;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1)) {
      auto json = boost::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
      auto& delta = json.at("choices").at(0).at("delta").as_object();
      if (auto* list = delta.if_contains("tool_calls"))
        for (auto& call : list->as_array())
          calls[call.at("index").as_int64()] += std::string(call.at("function").at("arguments").as_string());
    }
    CHECK(calls[0] == "x=******;");
    CHECK(calls[1] == "other sec");
    CHECK(out.ends_with("data: [DONE]\n\n"));
    CHECK_FALSE(rewriter.failed());
  }

  TEST_CASE("streamed arguments of the deprecated function_call are filtered and released at the end") {
    auto rewriter = streaming_mask_rewriter();
    auto event = [](const std::string& delta, const char* finish = "null") {
      return "data: {\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":" + finish + "}]}\n\n";
    };
    std::string out = rewriter.on_data(event(R"({"role":"assistant","content":null,"function_call":{"name":"g","arguments":"{\"k\":\"sec"}})"));
    out += rewriter.on_data(event(R"({"function_call":{"arguments":"ret\", \"v\":\"sec"}})"));
    out += rewriter.on_data(event(R"({})", R"("function_call")"));
    std::string arguments;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1)) {
      const boost::json::value parsed = boost::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
      if (auto* call = parsed.at("choices").at(0).at("delta").as_object().if_contains("function_call"))
        arguments += std::string(call->at("arguments").as_string());
    }
    CHECK(arguments == R"({"k":"******", "v":"sec)");
  }

  TEST_CASE("at a choice's end, text held back goes to the field it came from, carried or not") {
    auto rewriter = streaming_mask_rewriter();
    std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":null}]})" "\n\n");
    // The last event carries reasoning (which holds back its own "sec") but no content.
    out += rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"reasoning_content":"think sec"},"finish_reason":"stop"}]})"
                            "\n\n");
    std::string content, reasoning;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1)) {
      auto delta = boost::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6)).at("choices").at(0).at("delta");
      if (auto* c = delta.as_object().if_contains("content")) content += std::string(c->as_string());
      if (auto* r = delta.as_object().if_contains("reasoning_content")) reasoning += std::string(r->as_string());
    }
    CHECK(content == "a sec");
    CHECK(reasoning == "think sec");
  }

  TEST_CASE("log probabilities, the answer's text token by token, are withheld where asked, streamed or not") {
    const std::string answer =
        R"({"choices":[{"index":0,"message":{"content":"a secret"},"logprobs":{"content":[{"token":"secret","logprob":-0.1}]}}]})";
    auto withholding = masking_rewriter(true);
    const auto whole = boost::json::parse(withholding.whole(answer)).at("choices").at(0);
    CHECK(whole.at("logprobs").is_null());
    CHECK(whole.at("message").at("content").as_string() == "a ******");
    // Not asked to: logprobs stay (token restore alone, without redaction, leaks nothing through them).
    auto keeping = masking_rewriter(false);
    CHECK(boost::json::parse(keeping.whole(answer)).at("choices").at(0).at("logprobs").is_object());
    // A streamed event whose text no filter changes is still rewritten when it carries logprobs.
    auto streaming = masking_rewriter(true);
    const std::string out = streaming.on_data(
        R"(data: {"choices":[{"index":0,"delta":{"content":"hello"},"logprobs":{"content":[{"token":"hello","logprob":0}]},"finish_reason":null}]})"
        "\n\n");
    REQUIRE(out.starts_with("data: "));
    const auto event = boost::json::parse(out.substr(6)).at("choices").at(0);
    CHECK(event.at("logprobs").is_null());
    CHECK(event.at("delta").at("content").as_string() == "hello");
  }

  TEST_CASE("token by token texts beside the choices (llama.cpp's completion_probabilities, a logprobs elsewhere) are withheld too") {
    // Each token alone is no secret: only withholding them keeps a value cut into tokens from the client.
    const std::string answer =
        R"({"choices":[{"index":0,"message":{"content":"a secret"}}],)"
        R"("completion_probabilities":[{"content":"a sec","probs":[{"tok_str":"a sec"}]},{"content":"ret","probs":[]}],)"
        R"("x_extra":{"logprobs":["sec","ret"]}})";
    auto withholding = masking_rewriter(true);
    const auto whole = boost::json::parse(withholding.whole(answer));
    CHECK(whole.at("completion_probabilities").is_null());
    CHECK(whole.at("x_extra").at("logprobs").is_null());
    CHECK(whole.at("choices").at(0).at("message").at("content").as_string() == "a ******");
    auto keeping = masking_rewriter(false);
    CHECK(boost::json::parse(keeping.whole(answer)).at("completion_probabilities").is_array());
    auto streaming = masking_rewriter(true);
    const std::string out = streaming.on_data(
        R"(data: {"choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":null}],)"
        R"("completion_probabilities":[{"content":"hello","probs":[]}]})"
        "\n\n");
    REQUIRE(out.starts_with("data: "));
    const auto event = boost::json::parse(out.substr(6));
    CHECK(event.at("completion_probabilities").is_null());
    CHECK(event.at("choices").at(0).at("delta").at("content").as_string() == "hello");
  }

  TEST_CASE("a stream ends at [DONE]: held-back text is released before it, nothing after it is relayed") {
    auto rewriter = streaming_mask_rewriter();
    std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":null}]})" "\n\n");
    out += rewriter.on_data("data: [DONE]\n\n" R"(data: {"choices":[{"index":0,"delta":{"content":"ret later"},"finish_reason":null}]})" "\n\n");
    out += rewriter.on_data(R"(data: {"choices":[{"index":1,"delta":{"content":"more"},"finish_reason":null}]})" "\n\ndata: [DONE]\n\n");
    out += rewriter.finish();
    CHECK(out.ends_with("data: [DONE]\n\n"));
    CHECK(out.find("[DONE]") == out.size() - 8);  // once, at the end
    CHECK(out.find("later") == std::string::npos);
    CHECK(out.find("more") == std::string::npos);
    std::string content;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1))
      content += content_of(out.substr(at + 6, out.find('\n', at) - at - 6));
    CHECK(content == "a sec");
  }

  TEST_CASE("text released at a stream's end goes out in a chunk with the backend's id, object, created and model") {
    // A backend that ends with [DONE] (or breaks off) before a finish_reason: the held-back tail
    // goes out in an event the gateway writes, shaped as the backend's others.
    for (const bool broken : {false, true}) {
      auto rewriter = streaming_mask_rewriter();
      std::string out = rewriter.on_data(
          R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m1","system_fingerprint":"fp",)"
          R"("choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":null}],"usage":{"total_tokens":3}})" "\n\n");
      out += broken ? rewriter.abandon() : rewriter.on_data("data: [DONE]\n\n");
      const auto last_event = out.rfind("data: {");
      REQUIRE(last_event != std::string::npos);
      const auto event = boost::json::parse(out.substr(last_event + 6, out.find('\n', last_event) - last_event - 6));
      CHECK(content_of(boost::json::serialize(event)) == "sec");
      CHECK(event.at("id").as_string() == "chatcmpl-1");
      CHECK(event.at("object").as_string() == "chat.completion.chunk");
      CHECK(event.at("created").as_int64() == 7);
      CHECK(event.at("model").as_string() == "m1");
      CHECK(event.at("system_fingerprint").as_string() == "fp");
      CHECK_FALSE(event.as_object().contains("usage"));  // counted once, in the event that carried it
    }
  }

  TEST_CASE("a character a backend cuts between two events is joined before the filters see it") {
    // "⟦secret⟧ é" written one byte per event: no filter sees half a character, none goes out.
    auto rewriter = streaming_mask_rewriter();
    const std::string text = "\xE2\x9F\xA6secret\xE2\x9F\xA7 caf\xC3\xA9";
    std::string out;
    for (char byte : text)
      out += rewriter.on_data("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + std::string(1, byte) +
                              "\"},\"finish_reason\":null}]}\n\n");
    out += rewriter.on_data("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    CHECK_FALSE(rewriter.failed());
    std::string content;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1)) {
      const std::string event = out.substr(at + 6, out.find('\n', at) - at - 6);
      CHECK(is_well_formed_utf8(event));
      const boost::json::value parsed = boost::json::parse(event);
      if (auto* piece = parsed.at("choices").at(0).at("delta").as_object().if_contains("content"))
        content += std::string(piece->as_string());
    }
    CHECK(content == "\xE2\x9F\xA6******\xE2\x9F\xA7 caf\xC3\xA9");
  }

  TEST_CASE("text that is not UTF-8 beyond a cut character ends the stream with an error event") {
    // The last case cuts a character that the next event does not complete.
    for (const std::vector<std::string>& texts : std::vector<std::vector<std::string>>{
             {"a\xFF b"}, {"\xC3 b"}, {"ok \xE2\x9F", "a"}}) {
      auto rewriter = masking_rewriter();
      std::string out;
      for (const std::string& text : texts)
        out += rewriter.on_data("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text +
                                "\"},\"finish_reason\":null}]}\n\n");
      CAPTURE(texts.back());
      CHECK(rewriter.failed());
      CHECK(out.find("a streamed event's text is not UTF-8") != std::string::npos);
    }
  }

  TEST_CASE("text that is not UTF-8 ends the stream where it comes, even where a filter would hold it back") {
    // A filter that holds every text back until its stream ends (as the answer scan holds what may
    // be the start of a value): the bytes would otherwise go out in a later, well-formed event.
    class HoldAll : public TextFilter {
     public:
      std::string feed(std::string_view text) override {
        held_ += text;
        return {};
      }
      std::string finish() override { return std::exchange(held_, {}); }

     private:
      std::string held_;
    };
    ResponseRewriter rewriter(Endpoint::chat_completions, false, [](TextForm) {
      FilterChain chain;
      chain.push_back(std::make_unique<HoldAll>());
      return chain;
    });
    std::string out = rewriter.on_data("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\xC3\x28 b\"}}]}\n\n");
    out += rewriter.on_data("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}]}\n\n");
    out += rewriter.finish();
    CHECK(rewriter.failed());
    CHECK(out.find("a streamed event's text is not UTF-8") != std::string::npos);
    CHECK(out.find("\xC3\x28") == std::string::npos);
  }

  TEST_CASE("a text in a shape the filters cannot read (parts, an object) is refused, never passed unchecked") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"content":[{"type":"text","text":"a secret"}]})", "message.content is an array, not text"},
        {R"({"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"k":"secret"}}}]})",
         "message.tool_calls[0].function.arguments is an object, not text"},
        {R"({"content":"ok","refusal":7})", "message.refusal is a number, not text"},
        // Texts held in another shape than OpenAI's: a client may read them all the same.
        {R"({"content":null,"tool_calls":{"id":"c","function":{"arguments":"a secret"}}})", "message.tool_calls is an object, not a list"},
        {R"({"content":null,"tool_calls":["a secret"]})", "message.tool_calls[0] is a string, not an object"},
        {R"({"content":null,"tool_calls":[{"id":"c","function":"a secret"}]})", "message.tool_calls[0].function is a string, not an object"},
        {R"({"content":null,"function_call":"a secret"})", "message.function_call is a string, not an object"},
        {R"("a secret")", "message is a string, not an object"}};
    for (const auto& [message, why] : cases) {
      const std::string& shown = message;  // a structured binding cannot be captured with clang 14
      CAPTURE(shown);
      auto whole = masking_rewriter();
      CHECK(whole.whole(R"({"choices":[{"index":0,"message":)" + message + "}]}").empty());
      CHECK(whole.failed());
      CHECK(whole.failure() == "choice 0's " + why);
      auto streamed = masking_rewriter();
      const std::string out = streamed.on_data(R"(data: {"choices":[{"index":0,"delta":)" + message + "}]}\n\n");
      CHECK(streamed.failed());
      std::string delta_why = why;
      delta_why.replace(0, 7, "delta");
      CHECK(out.find("choice 0's " + delta_why) != std::string::npos);
      CHECK(out.find("secret") == std::string::npos);
    }
  }

  TEST_CASE("a streamed choice or tool call whose index is no integer is refused: text of one must not join another's") {
    // JavaScript reads "1" and 1.0 as 1: split between such events, "sec" + "ret" would reach a client
    // as one choice's "secret" while the gateway filtered two.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"index":"1","delta":{"content":"sec"}})", "a choice's index is a string, not an integer"},
        {R"({"index":1.0,"delta":{"content":"sec"}})", "a choice's index is a decimal number, not an integer"},
        {R"({"index":1,"delta":{"tool_calls":[{"index":"0","function":{"arguments":"sec"}}]}})",
         "choice 1's delta.tool_calls[0].index is a string, not an integer"}};
    for (const auto& [choice, why] : cases) {
      const std::string& shown = choice;  // a structured binding cannot be captured with clang 14
      CAPTURE(shown);
      auto rewriter = streaming_mask_rewriter();
      std::string out = rewriter.on_data(R"(data: {"choices":[{"index":1,"delta":{"content":"x"}}]})" "\n\n");
      out += rewriter.on_data("data: {\"choices\":[" + choice + "]}\n\n");
      CHECK(rewriter.failed());
      CHECK(out.find(why) != std::string::npos);
      CHECK(out.find("sec") == std::string::npos);
    }
    // Whole, each text is complete in itself: the index joins nothing, and the answer is checked.
    auto whole = masking_rewriter();
    CHECK(whole.whole(R"({"choices":[{"index":"0","message":{"content":"a secret"}}]})") ==
          R"({"choices":[{"index":"0","message":{"content":"a ******"}}]})");
  }

  TEST_CASE("finish_reason \"\" in every event (Ollama, SGLang) ends nothing: a value split across events is found, nothing is lost") {
    auto rewriter = streaming_mask_rewriter();
    std::string out;
    for (const char* piece : {"Your sec", "ret is ", "123", ""})
      out += rewriter.on_data(std::string(R"(data: {"choices":[{"index":0,"delta":{"role":"assistant","content":")") + piece +
                              R"("},"finish_reason":""}]})" "\n\n");
    out += rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]})" "\n\n");
    out += rewriter.on_data("data: [DONE]\n\n");
    CHECK_FALSE(rewriter.failed());
    std::string content;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1)) {
      const auto event = boost::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
      for (const auto& choice : event.at("choices").as_array())
        if (const auto* text = choice.as_object().at("delta").as_object().if_contains("content")) content += text->as_string();
    }
    CHECK(content == "Your ****** is 123");
  }

  TEST_CASE("text of a choice after its finish_reason ends the stream: it could not be checked with what came before") {
    auto rewriter = streaming_mask_rewriter();
    std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":"stop"}]})" "\n\n");
    out += rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":""}}]})" "\n\n");  // empty: nothing said
    CHECK_FALSE(rewriter.failed());
    out += rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"ret"}}]})" "\n\n");
    CHECK(rewriter.failed());
    CHECK(out.find("choice 0's content goes on after its finish_reason") != std::string::npos);
    CHECK(out.find("ret") == std::string::npos);
  }

  TEST_CASE("a chat choice's text where the other mode keeps it (a streamed message, a text) is refused, never passed unchecked") {
    for (const std::string& choice : {std::string(R"({"index":0,"delta":{},"message":{"content":"a secret"}})"),
                                      std::string(R"({"index":0,"delta":{"content":"ok"},"text":"a secret"})")}) {
      CAPTURE(choice);
      auto streamed = masking_rewriter();
      const std::string out = streamed.on_data(R"(data: {"choices":[)" + choice + "]}\n\n");
      CHECK(streamed.failed());
      CHECK(out.find("chat answer, whose text is read from delta") != std::string::npos);
      CHECK(out.find("secret") == std::string::npos);
    }
    auto whole = masking_rewriter();
    CHECK(whole.whole(R"({"choices":[{"index":0,"message":{"content":"ok"},"delta":{"content":"a secret"}}]})").empty());
    CHECK(whole.failure() == "choice 0's delta is there in a whole chat answer, whose text is read from message");
    // Null, "" or {} there is no text: answers that write every member pass.
    auto nulls = masking_rewriter();
    CHECK(nulls.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a secret"},"message":{},"text":""}]})" "\n\n")
              .find("a ******") != std::string::npos);
    CHECK_FALSE(nulls.failed());
  }

  TEST_CASE("choices that are not objects, or not a list, are refused, never passed unchecked") {
    auto whole = masking_rewriter();
    CHECK(whole.whole(R"({"choices":["a secret"]})").empty());
    CHECK(whole.failure() == "a choice is a string, not an object");
    for (const std::string& event : {std::string(R"({"choices":["a secret"]})"), std::string(R"({"choices":{"text":"a secret"}})")}) {
      CAPTURE(event);
      auto streamed = masking_rewriter();
      const std::string out = streamed.on_data("data: " + event + "\n\n");
      CHECK(streamed.failed());
      CHECK(out.find("secret") == std::string::npos);
      CHECK(out.find("response_check_failed") != std::string::npos);
    }
    // A usage event may carry no choices, or null: nothing to check.
    auto usage = masking_rewriter();
    CHECK(usage.on_data(R"(data: {"choices":null,"usage":{"total_tokens":3}})" "\n\n") ==
          R"(data: {"choices":null,"usage":{"total_tokens":3}})" "\n\n");
    CHECK_FALSE(usage.failed());
  }

  TEST_CASE("a backend inventing choices without end is stopped at max_texts, streamed and whole") {
    auto streamed = masking_rewriter();
    std::string out;
    for (std::size_t i = 0; i <= ResponseRewriter::max_texts && !streamed.failed(); ++i)
      out = streamed.on_data(R"(data: {"choices":[{"index":)" + std::to_string(i) +
                             R"(,"delta":{"content":"x"},"finish_reason":null}]})" "\n\n");
    CHECK(streamed.failed());
    CHECK(out.find("the answer has more than 1024 texts") != std::string::npos);
    std::string choices;
    for (std::size_t i = 0; i <= ResponseRewriter::max_texts; ++i)
      choices += (i ? "," : "") + std::string(R"({"index":)") + std::to_string(i) + R"(,"message":{"content":"x"}})";
    auto whole = masking_rewriter();
    CHECK(whole.whole(R"({"choices":[)" + choices + "]}").empty());
    CHECK(whole.failure() == "the answer has more than 1024 texts (choices times their fields)");
  }

  TEST_CASE("strings outside the choices' texts are scanned too, whole and streamed; the server's own ids are not") {
    // A member no schema names, a server's own (llama.cpp's completion_probabilities), a tool
    // call's function name: a client reads them all, so the policy's filters see them all.
    auto rewriter = masking_rewriter();
    const std::string out = rewriter.whole(R"({"id":"secret-id","model":"secret-model","x_debug":{"echo":"a secret"},
        "choices":[{"index":0,"message":{"role":"assistant","content":"hi",
        "tool_calls":[{"id":"c1","type":"function","function":{"name":"send_secret","arguments":"{}"}}]},
        "completion_probabilities":[{"content":"secret","probs":[{"tok_str":"secret"}]}]}]})");
    const auto answer = boost::json::parse(out);
    CHECK(answer.at("x_debug").at("echo").as_string() == "a ******");
    const auto& choice = answer.at("choices").at(0);
    CHECK(choice.at("message").at("tool_calls").at(0).at("function").at("name").as_string() == "send_******");
    CHECK(choice.at("completion_probabilities").at(0).at("content").as_string() == "******");
    CHECK(choice.at("completion_probabilities").at(0).at("probs").at(0).at("tok_str").as_string() == "******");
    // Identifiers the server writes are not the model's text.
    CHECK(answer.at("id").as_string() == "secret-id");
    CHECK(answer.at("model").as_string() == "secret-model");

    auto streamed = masking_rewriter();
    std::string events = streamed.on_data(
        R"(data: {"id":"c","choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":null}],"x_extra":"the secret"})" "\n\n");
    events += streamed.on_data("data: [DONE]\n\n");
    CHECK_MESSAGE(events.find("secret") == std::string::npos, events);
    CHECK_MESSAGE(events.find("the ******") != std::string::npos, events);
    CHECK_FALSE(streamed.failed());

    // An answer whose other strings no filter changes still goes out byte for byte.
    auto untouched = masking_rewriter();
    const std::string plain = R"({"id":"x", "x_debug":{"echo":"nothing here"},"choices":[{"index":0,"message":{"content":"hi"}}]})";
    CHECK(untouched.whole(plain) == plain);
  }

  TEST_CASE("a stream relays only data: event, id and retry lines are dropped, a comment goes out as a bare colon") {
    auto rewriter = masking_rewriter();
    const std::string data = R"(data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]})";
    std::string out = rewriter.on_data(": keep-alive secret\n\n");
    CHECK(out == ":\n\n");
    out = rewriter.on_data("event: secret\nid: secret\nretry: 1000\n" + data + "\n\n");
    CHECK(out == data + "\n\n");
    out = rewriter.on_data("id: secret\n\n");  // an event with nothing a client reads as data: nothing goes out
    CHECK(out.empty());
    CHECK_FALSE(rewriter.failed());
  }

  TEST_CASE("an event whose data spans several data lines is read as a client reads it: the lines joined with LF") {
    // One JSON value over three data lines (the SSE specification joins them; some servers and
    // proxies write events so): no filter changes it, so its lines go out as they came.
    const std::string plain = "data: {\"choices\":[{\"index\":0,\ndata:\"delta\":{\"content\":\"hello\"},\ndata\n"
                              "data: \"finish_reason\":null}]}";
    for (std::size_t cut = 0; cut <= plain.size() + 2; ++cut) {
      auto rewriter = masking_rewriter();
      const std::string stream = plain + "\n\n";
      std::string out = rewriter.on_data(stream.substr(0, cut));
      out += rewriter.on_data(stream.substr(cut));
      out += rewriter.finish();
      CHECK_MESSAGE(out == stream, cut);
      CHECK_FALSE(rewriter.failed());
    }
    // A secret in it is masked, and the event goes out as one data line; a comment among the lines
    // goes out as a bare colon.
    const std::string masked = "data: {\"choices\":[{\"index\":0,\n: note\ndata: \"delta\":{\"content\":\"a secret\"},"
                               "\"finish_reason\":null}]}\n\n";
    for (std::size_t cut = 0; cut <= masked.size(); ++cut) {
      auto rewriter = streaming_mask_rewriter();
      std::string out = rewriter.on_data(masked.substr(0, cut));
      out += rewriter.on_data(masked.substr(cut));
      out += rewriter.on_data("data: [DONE]\n\n");
      CHECK_FALSE(rewriter.failed());
      CHECK_MESSAGE(out.find("secret") == std::string::npos, out);
      REQUIRE_MESSAGE(out.starts_with(":\ndata: {"), out);
      const std::size_t end = out.find('\n', 2);
      CHECK(content_of(out.substr(8, end - 8)) == "a ******");
      CHECK(out.substr(end) == "\n\ndata: [DONE]\n\n");
    }
    // A [DONE] written over lines is [DONE] only where its lines join to it; data lines that join
    // to no JSON value end the stream, as they do in a client.
    auto split = masking_rewriter();
    const std::string two_values = std::string(R"(data: {"choices":[]})") + "\n" + R"(data: {"choices":[]})" + "\n\n";
    CHECK(split.on_data(two_values).find("response_check_failed") != std::string::npos);
    CHECK(split.failed());
  }

  TEST_CASE("lines a client reads as data are read whatever ends them: CR, CRLF, after a byte-order mark") {
    const std::string event = R"(data: {"choices":[{"index":0,"delta":{"content":"a secret"},"finish_reason":null}]})";
    // A comment or event line ended by a lone CR hides nothing: the data line behind it is filtered.
    for (const std::string& stream : {": note\r" + event + "\n\n", "event: message\r" + event + "\r\r",
                                      "\xEF\xBB\xBF" + event + "\r\n\r\n", event + "\r\n\r\n"}) {
      for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        auto rewriter = masking_rewriter();
        std::string out = rewriter.on_data(stream.substr(0, cut));
        out += rewriter.on_data(stream.substr(cut));
        out += rewriter.finish();
        CHECK_MESSAGE(out.find("secret") == std::string::npos, out);
        CHECK_MESSAGE(out.find("******") != std::string::npos, out);
        CHECK(out.find('\r') == std::string::npos);
        CHECK_FALSE(rewriter.failed());
      }
    }
  }

  TEST_CASE("a stream that breaks mid-event: the unfinished event is dropped, held text released, nothing after a failure") {
    auto rewriter = streaming_mask_rewriter();
    std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"hello sec"},"finish_reason":null}]})" "\n\n"
                                       R"(data: {"choices":[{"index":0,"delta":{"con)");
    out += rewriter.abandon();
    CHECK_FALSE(rewriter.failed());
    CHECK(out.find("response_check_failed") == std::string::npos);
    std::string content;
    for (std::size_t at = out.find("data: {"); at != std::string::npos; at = out.find("data: {", at + 1))
      content += content_of(out.substr(at + 6, out.find('\n', at) - at - 6));
    CHECK(content == "hello sec");
    // A body that ends inside an event is cut short as one that breaks there: the unfinished event
    // is dropped (a client drops it too), the held text released; the stream has not ended.
    auto ended = streaming_mask_rewriter();
    std::string tail = ended.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"sec"},"finish_reason":null}]})" "\n\n");
    CHECK(tail.find("sec") == std::string::npos);  // held back: it may begin "secret"
    tail += ended.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"ret 1"},"finish_reason":null}]})");
    tail += ended.finish();
    CHECK_FALSE(ended.failed());
    CHECK_FALSE(ended.ended());
    CHECK(tail.find("response_check_failed") == std::string::npos);
    CHECK(tail.find("ret 1") == std::string::npos);
    std::string released;
    for (std::size_t at = tail.find("data: {"); at != std::string::npos; at = tail.find("data: {", at + 1))
      released += content_of(tail.substr(at + 6, tail.find('\n', at) - at - 6));
    CHECK(released == "sec");
  }

  TEST_CASE("a body that ends on data: [DONE] without the blank line after it has ended; one without that line has not") {
    for (const std::string end : {"data: [DONE]", "data: [DONE]\n", "data: [DONE]\r", ": bye\ndata:[DONE]"}) {
      auto rewriter = streaming_mask_rewriter();
      std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":null}]})" "\n\n" + end);
      out += rewriter.finish();
      CHECK_MESSAGE(rewriter.ended(), end);
      CHECK_FALSE(rewriter.failed());
      CHECK(out.ends_with("data: [DONE]\n\n"));
    }
    for (const std::string cut_short : {"", "data: [DONE] x", "data: {}", "\n\n: comment\n\n"}) {
      auto rewriter = streaming_mask_rewriter();
      std::string out = rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a sec"},"finish_reason":null}]})" "\n\n" + cut_short);
      out += rewriter.finish();
      CHECK_FALSE_MESSAGE(rewriter.ended(), cut_short);
      CHECK_FALSE(rewriter.failed());
      CHECK(out.find("[DONE]") == std::string::npos);
    }
  }

  TEST_CASE("a rewritten stream ends where a stream relayed untouched ends: one reader of the end line, however split") {
    // StreamEnd is what the forwarder and the outcome gate read a stream's end with; the rewriter
    // reads it with the same, so for the same bytes, split the same way, both end after the same
    // chunk, or both not at all.
    const std::string event = R"(data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]})";
    const std::string after = R"(data: {"choices":[{"index":0,"delta":{"content":"after"},"finish_reason":null}]})";
    const std::vector<std::string> streams = {
        event + "\n\ndata: [DONE]\n\n",
        event + "\r\n\r\ndata: [DONE]\r\n\r\n" + after + "\r\n\r\n",
        event + "\r\rdata:[DONE]\r\r",
        event + "\n\ndata: [DONE]\n" + after + "\n\n",  // no blank line after the end line
        event + "\n\nid: 7\n: bye\ndata: [DONE]\n\n",
        event + "\ndata: [DONE]\n\n",  // the end line in an event with another data line: it ends there
        event + "\n\ndata: [DONE]",  // the body ends on the end line
        event + "\n\ndata: [DONE]\r",
        event + "\n\ndata: [DONE] x\n\n",
        event + "\n\ndata:  [DONE]\n\n",
        event + "\n\n: data: [DONE]\n\n",
        event + "\n\n",
    };
    for (const std::string& stream : streams) {
      for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        auto rewriter = masking_rewriter();
        StreamEnd relayed;
        std::string out;
        for (const std::string_view chunk : {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
          if (rewriter.ended()) break;
          out += rewriter.on_data(chunk);
          std::string bytes(chunk);
          relayed.cut(bytes);
          CHECK_MESSAGE(rewriter.ended() == relayed.ended(), "cut at " << cut << " of " << boost::json::serialize(boost::json::value(stream)));
        }
        if (!rewriter.ended()) {
          out += rewriter.finish();
          std::string bytes;
          relayed.finish(bytes);
        }
        CHECK_MESSAGE(rewriter.ended() == relayed.ended(), "cut at " << cut << " of " << boost::json::serialize(boost::json::value(stream)));
        // An event a client would not read as the end is no JSON either: the rewriter fails closed.
        CHECK(rewriter.failed() == (stream.find("[DONE] x") != std::string::npos || stream.find(":  [DONE]") != std::string::npos));
        CHECK(out.find("after") == std::string::npos);
        CHECK(out.ends_with("data: [DONE]\n\n") == rewriter.ended());
      }
    }
  }

  TEST_CASE("an answer that repeats a key is withheld, streamed and whole: a client may read the key the check did not") {
    auto rewriter = masking_rewriter();
    const std::string out =
        rewriter.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"a secret","content":"safe"},"finish_reason":null}]})" "\n\n");
    CHECK(rewriter.failed());
    CHECK(out.find("repeats a key") != std::string::npos);
    CHECK(out.find("secret") == std::string::npos);
    auto whole = masking_rewriter();
    CHECK(whole.whole(R"({"choices":[{"index":0,"message":{"content":"a secret","content":"safe"}}]})").empty());
    CHECK(whole.failed());
    CHECK(whole.failure().find("repeats a key") != std::string::npos);
    // The same key in different objects is no repetition.
    auto fine = masking_rewriter();
    const std::string answer = R"({"choices":[{"index":0,"message":{"content":"safe"}},{"index":1,"message":{"content":"fine"}}]})";
    CHECK(fine.whole(answer) == answer);
    CHECK_FALSE(fine.failed());
  }

  TEST_CASE("an event that is not JSON ends the stream with an error event") {
    auto rewriter = masking_rewriter();
    const std::string out = rewriter.on_data("data: {not json\n\n");
    CHECK(rewriter.failed());
    CHECK(out.find("response_check_failed") != std::string::npos);
  }

  TEST_CASE("an error's body has every string filtered, choices or not; one not JSON is left for the forwarder to withhold") {
    auto rewriter = masking_rewriter();
    const std::string plain = R"({"error":{"message":"bad request","type":"invalid_request_error","param":null}})";
    CHECK(rewriter.error_body(plain) == plain);
    CHECK_FALSE(rewriter.failed());
    auto quoting = masking_rewriter();
    const std::string out = quoting.error_body(
        R"({"error":{"message":"prompt 'the secret' too long","param":"secret"},"choices":[{"message":{"content":"secret"}}]})");
    CHECK_FALSE(quoting.failed());
    CHECK(out.find("secret") == std::string::npos);
    CHECK(out.find("prompt 'the ******' too long") != std::string::npos);
    auto text = masking_rewriter();
    CHECK(text.error_body("the secret, as text") == "the secret, as text");
    CHECK_FALSE(text.failed());
  }

  TEST_CASE("an error too large to check, or with a repeated key, is refused") {
    auto large = masking_rewriter();
    large.error_body(R"({"error":{"message":")" + std::string(ResponseRewriter::max_error_body_bytes, 'a') + R"("}})");
    CHECK(large.failed());
    CHECK(large.failure() == "it is larger than 64 KiB");
    auto repeated = masking_rewriter();
    repeated.error_body(R"({"error":{"message":"a","message":"the secret"}})");
    CHECK(repeated.failed());
    CHECK(repeated.failure() == "it repeats a key inside an object");
  }
}
