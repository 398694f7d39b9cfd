// Tool-call arguments as the policy reads them: JSON text with its escapes resolved, and each byte
// of what it read traced back to the escape or character that wrote it.
#include <doctest/doctest.h>

#include "gateway/openai/json_text.hpp"
#include "gateway/openai/request_body.hpp"
#include "gateway/pipeline/policy_request.hpp"

using namespace sovereign::gateway;

namespace {

// The text as written that produced text[begin, end) as read.
std::string written(std::string_view json, std::size_t begin, std::size_t end) {
  const auto readable = readable_json_text(json);
  const auto [from, to] = readable.original_range(begin, end);
  return std::string(json.substr(from, to - from));
}

}  // namespace

TEST_SUITE("openai") {
  TEST_CASE("JSON text reads with its escapes resolved, each byte traced to what wrote it") {
    const std::string_view json = R"({"as":"CORP\\jdoe","topic":"Project \"Falcon\"","city":"Z\u00fcrich","smile":"\ud83d\ude00"})";
    const auto readable = readable_json_text(json);
    CHECK(readable.text == "{\"as\":\"CORP\\jdoe\",\"topic\":\"Project \"Falcon\"\",\"city\":\"Z\xC3\xBCrich\",\"smile\":\"\xF0\x9F\x98\x80\"}");
    REQUIRE(readable.source.size() == readable.text.size() + 1);
    CHECK(readable.source.back() == json.size());
    const auto at = [&](std::string_view value) { return readable.text.find(value); };
    CHECK(written(json, at("CORP"), at("CORP") + 9) == R"(CORP\\jdoe)");
    CHECK(written(json, at("Project"), at("Project") + 16) == R"(Project \"Falcon\")");
    // A value that ends inside the bytes of an escaped character takes the whole escape.
    CHECK(written(json, at("Z"), at("Z") + 2) == R"(Z\u00fc)");
    CHECK(written(json, at("\xF0"), at("\xF0") + 4) == R"(\ud83d\ude00)");
    // Every other escape, a lone surrogate (as written: the policy reads the same text of an answer's
    // arguments, where a high surrogate may wait for its low half in the next chunk), and backslashes
    // that start no escape.
    CHECK(readable_json_text(R"(\/\b\f\n\r\t)").text == "/\b\f\n\r\t");
    CHECK(readable_json_text(R"(\ud800x)").text == R"(\ud800x)");
    CHECK(readable_json_text(R"(\udc00\ud83dx)").text == R"(\udc00\ud83dx)");
    CHECK(readable_json_text(R"(a\qb\u12 \)").text == R"(a\qb\u12 \)");
    CHECK(readable_json_text("").text.empty());
  }

  TEST_CASE("tool-call and function_call arguments of chat messages are JSON text; other strings are not") {
    auto result = decode_request(Endpoint::chat_completions, R"({"model":"m","user":"{\"a\":\"b\\\\c\"}",
      "messages":[{"role":"assistant","content":"{\"x\":1}","tool_calls":[{"id":"c1","type":"function",
                   "function":{"name":"f","arguments":"{\"as\":\"CORP\\\\jdoe\"}"}}],
                   "function_call":{"name":"g","arguments":"{\"q\":\"say \\\"hi\\\"\"}"}}]})");
    auto* request = std::get_if<DecodedRequest>(&result);
    REQUIRE(request != nullptr);
    std::vector<std::string> json_texts;
    for (const auto& field : request->texts)
      if (field.json_text) json_texts.push_back(field.path_string());
    CHECK(json_texts == std::vector<std::string>{"messages[0].tool_calls[0].function.arguments",
                                                  "messages[0].function_call.arguments"});
    // The policy reads them with their escapes resolved, and everything else as it is.
    const auto policy_input = policy_request(*request, "t", "");
    std::vector<std::string> segments;
    for (const auto& segment : policy_input.segments) segments.push_back(segment.json_path + "=" + segment.text);
    CHECK(segments == std::vector<std::string>{
                          "messages[0].content={\"x\":1}",
                          "user={\"a\":\"b\\\\c\"}",
                          "messages[0].tool_calls[0].id=c1",
                          "messages[0].tool_calls[0].function.name=f",
                          "messages[0].tool_calls[0].function.arguments={\"as\":\"CORP\\jdoe\"}",
                          "messages[0].function_call.name=g",
                          "messages[0].function_call.arguments={\"q\":\"say \"hi\"\"}",
                      });
  }
}
