// OpenAI request decoding: what is sent where, every text found, bad bodies refused with the field named.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>

#include <boost/json.hpp>

#include "gateway/openai/request_body.hpp"
#include "gateway/openai/text_search.hpp"
#include "gateway/openai/word_set.hpp"

using namespace sovereign::gateway;

namespace {

ApiError error_of(Endpoint endpoint, std::string_view body) {
  auto result = decode_request(endpoint, body);
  auto* error = std::get_if<ApiError>(&result);
  REQUIRE_MESSAGE(error != nullptr, "expected the body to be refused");
  return *error;
}

}  // namespace

TEST_SUITE("openai") {
  TEST_CASE("chat bodies yield every text with its JSON path, including content parts") {
    auto result = decode_request(Endpoint::chat_completions, R"({"model":"m","stream":true,"max_tokens":50,
      "messages":[{"role":"system","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"x"}}]},
                  {"role":"assistant","content":null}]})");
    auto* request = std::get_if<DecodedRequest>(&result);
    REQUIRE(request != nullptr);
    CHECK(request->model == "m");
    CHECK(request->stream);
    CHECK(request->max_tokens == 50);
    REQUIRE(request->texts.size() == 3);
    CHECK(request->texts[0].path.to_string() == "messages[0].content");
    CHECK(request->texts[1].path.to_string() == "messages[1].content[0].text");
    CHECK(request->texts[1].text == "hello");
    // Then every other string but the model's name and the API's vocabulary (roles, part types).
    CHECK(request->texts[2].path_string() == "messages[1].content[1].image_url.url");
    CHECK(request->texts[2].text == "x");
  }

  TEST_CASE("every string outside the prompt texts is collected for the policy, with its path") {
    auto result = decode_request(Endpoint::chat_completions, R"({"model":"m","user":"alice@example.com",
      "metadata":{"card 4111 1111 1111 1111":"ok"},
      "tools":[{"type":"function","function":{"name":"lookup","description":"find the customer",
                "parameters":{"type":"object","properties":{"iban":{"type":"string"}}}}}],
      "messages":[{"role":"user","name":"bob","content":"hi"},
                  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
                   "function":{"name":"lookup","arguments":"{\"card\":\"4111\"}"}}]}]})");
    auto* request = std::get_if<DecodedRequest>(&result);
    REQUIRE(request != nullptr);
    std::vector<std::string> found;
    for (const auto& field : request->texts) found.push_back(field.path_string() + "=" + std::string(field.text));
    CHECK(found == std::vector<std::string>{
                       "messages[0].content=hi",
                       "user=alice@example.com",
                       "metadata.card 4111 1111 1111 1111 (key)=card 4111 1111 1111 1111",
                       "metadata.card 4111 1111 1111 1111=ok",
                       "tools[0].function.name=lookup",
                       "tools[0].function.description=find the customer",
                       "tools[0].function.parameters.properties.iban (key)=iban",
                       "messages[0].name=bob",
                       "messages[1].tool_calls[0].id=call_1",
                       "messages[1].tool_calls[0].function.name=lookup",
                       "messages[1].tool_calls[0].function.arguments={\"card\":\"4111\"}",
                   });
    // A value outside the prompt texts is rewritten in place like the others; keys are not.
    auto& arguments = request->texts.back();
    replace_text(arguments, "[REDACTED]");
    CHECK(request->body.at_pointer("/messages/1/tool_calls/0/function/arguments") == "[REDACTED]");
    CHECK(request->texts[2].is_key);
    CHECK(request->texts[2].node == nullptr);
  }

  TEST_CASE("a repeated key is refused: the policy would read one, a backend perhaps the other") {
    const char* nested = R"({"model":"m","messages":[{"role":"user","content":"card 4111 1111 1111 1111","content":"hi"}]})";
    CHECK(error_of(Endpoint::chat_completions, nested).code == "invalid_json");
    const char* models = R"({"model":"allowed","messages":[{"role":"user","content":"x"}],"model":"other"})";
    CHECK(error_of(Endpoint::chat_completions, models).message.find("repeats a key") != std::string::npos);
    // Without a policy only "model" is checked (it chooses the backend and the tenant's permission).
    CHECK(std::holds_alternative<ApiError>(decode_request(Endpoint::chat_completions, models, {}, TextScope::prompts)));
    CHECK(std::holds_alternative<DecodedRequest>(decode_request(Endpoint::chat_completions, nested, {}, TextScope::prompts)));
    // A second "model" written with escapes is the same key.
    const char* escaped = R"({"model":"allowed","mod\u0065l":"other","messages":[{"role":"user","content":"x"}]})";
    CHECK(std::holds_alternative<ApiError>(decode_request(Endpoint::chat_completions, escaped, {}, TextScope::prompts)));
    CHECK(error_of(Endpoint::chat_completions, escaped).code == "invalid_json");
    CHECK(std::holds_alternative<DecodedRequest>(decode_request(
        Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"caf\u00e9"}]})", {},
        TextScope::prompts)));
    // The same words as values, not keys, are fine.
    CHECK(std::holds_alternative<DecodedRequest>(decode_request(
        Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"\"model\" and \"model\""}]})")));
  }

  TEST_CASE("a number too large for a double is refused, since it could not be written back") {
    const auto error = error_of(Endpoint::chat_completions,
                                R"({"model":"m","temperature":1e999,"messages":[{"role":"user","content":"x"}]})");
    CHECK(error.param == "temperature");
    CHECK(error.message.find("too large") != std::string::npos);
    CHECK(error_of(Endpoint::chat_completions,
                   R"({"model":"m","metadata":{"n":[-1e400]},"messages":[{"role":"user","content":"x"}]})")
              .param == "metadata.n[0]");
  }

  TEST_CASE("token ids are marked so that a policy can refuse what it cannot read") {
    auto ids = std::get<DecodedRequest>(decode_request(Endpoint::completions, R"({"model":"m","prompt":[19,4111,1111]})"));
    CHECK(ids.token_ids);
    CHECK(ids.texts.empty());
    auto nested = std::get<DecodedRequest>(decode_request(Endpoint::embeddings, R"({"model":"m","input":[["a 4111"],[1,2]]})"));
    CHECK(nested.token_ids);
    REQUIRE(nested.texts.size() == 1);
    CHECK(nested.texts[0].path_string() == "input[0][0]");
    auto text = std::get<DecodedRequest>(decode_request(Endpoint::completions, R"({"model":"m","prompt":"plain"})"));
    CHECK_FALSE(text.token_ids);
  }

  TEST_CASE("every content part that is not text is noted, with its path, type and any URL a backend would fetch") {
    auto unreadable = [](std::string_view parts) {
      auto result = decode_request(Endpoint::chat_completions,
                                   std::string(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":[)") +
                                       std::string(parts) + "]}]}");
      REQUIRE(std::holds_alternative<DecodedRequest>(result));
      return std::get<DecodedRequest>(result).unreadable_parts;
    };
    const auto image = unreadable(R"({"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}})");
    REQUIRE(image.size() == 1);
    CHECK(image[0].path == "messages[1].content[1]");
    CHECK(image[0].type == "image_url");
    CHECK(image[0].remote_url_path.empty());  // its data is inline
    CHECK(unreadable(R"({"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}})")[0].type == "input_audio");
    CHECK(unreadable(R"({"type":"file","file":{"file_id":"file-abc123"}})")[0].type == "file");
    const auto video = unreadable(R"({"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}})");
    CHECK(video[0].type == "video_url");
    CHECK(video[0].remote_url_path == "messages[1].content[0].video_url.url");
    // A URL given as a string, in any case of its scheme; DATA: is inline as data: is.
    CHECK(unreadable(R"({"type":"image_url","image_url":"HTTP://example.com/scan.png"})")[0].remote_url_path ==
          "messages[1].content[0].image_url");
    CHECK(unreadable(R"({"type":"image_url","image_url":{"url":"DATA:image/png;base64,AA==","detail":"high"}})")[0]
              .remote_url_path.empty());
    // A part without a type is read as its text; without one, it is what the backend makes of it.
    CHECK(unreadable(R"({"image_url":{"url":"https://example.com/scan.png"}})")[0].type.empty());
    CHECK(unreadable(R"({"type":7,"text":"x"})").size() == 1);
    // Each one counts, in body order.
    const auto two = unreadable(R"({"type":"text","text":"a"},{"type":"file","file":{"file_id":"f"}},{"type":"image_url","image_url":{"url":"u"}})");
    REQUIRE(two.size() == 2);
    CHECK(two[0].path == "messages[1].content[1]");
    CHECK(two[1].path == "messages[1].content[2]");
    CHECK(two[1].remote_url_path == "messages[1].content[2].image_url.url");  // not data: a backend would open it
    // Text in any of its part types is read.
    CHECK(unreadable(R"({"type":"text","text":"a"},{"type":"input_text","text":"b"},{"type":"output_text","text":"c"},)"
                     R"({"type":"refusal","refusal":"no"},{"text":"untyped"})")
              .empty());
  }

  TEST_CASE("whole numbers outside OpenAI's parameters are scanned as their digits, and rewritten as strings") {
    auto result = decode_request(Endpoint::chat_completions, R"({"model":"m","max_tokens":50,"seed":4111111111111111,
      "messages":[{"role":"user","content":"hi"}],
      "chat_template_kwargs":{"card":4111111111111111,"as_float":4.111111111111111e15,"ratio":0.5,"ids":[536221234,-7]},
      "metadata":{"seed":4111111111111111}})");
    auto* request = std::get_if<DecodedRequest>(&result);
    REQUIRE(request != nullptr);
    std::vector<std::string> found;
    for (const auto& field : request->texts)
      if (!field.is_key) found.push_back(field.path_string() + "=" + std::string(field.text));
    // The top-level max_tokens and seed are settings; a fraction holds no identifier.
    CHECK(found == std::vector<std::string>{"messages[0].content=hi", "chat_template_kwargs.card=4111111111111111",
                                            "chat_template_kwargs.as_float=4111111111111111",
                                            "chat_template_kwargs.ids[0]=536221234", "chat_template_kwargs.ids[1]=-7",
                                            "metadata.seed=4111111111111111"});
    // Moved, as the gateway moves it, the request still reads its digits.
    DecodedRequest moved = std::move(*request);
    auto card = std::find_if(moved.texts.begin(), moved.texts.end(),
                             [](const TextField& field) { return field.path_string() == "chat_template_kwargs.card"; });
    REQUIRE(card != moved.texts.end());
    CHECK(std::any_of(moved.texts.begin(), moved.texts.end(), [](const TextField& field) {
      return field.path_string() == "chat_template_kwargs.ids[1]" && field.text == "-7";  // short: held in the string itself
    }));
    CHECK(card->text == "4111111111111111");
    replace_text(*card, "[REDACTED:credit_card]");
    CHECK(card->text == "[REDACTED:credit_card]");
    CHECK(moved.body.at_pointer("/chat_template_kwargs/card") == "[REDACTED:credit_card]");
    CHECK(moved.body.at_pointer("/chat_template_kwargs/as_float").is_double());
    // Without a policy nothing is scanned, numbers included.
    auto prompts = std::get<DecodedRequest>(decode_request(Endpoint::chat_completions,
                                                           R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x":{"n":4111111111111111}})",
                                                           {}, TextScope::prompts));
    CHECK(prompts.texts.size() == 1);
  }

  TEST_CASE("refusals say where: a repeated key by its path, an empty body, nesting past the limit, include_usage") {
    const auto repeated = error_of(Endpoint::chat_completions,
                                   R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b","content":"c"}]})");
    CHECK(repeated.message.find("('messages[1].content' is named twice)") != std::string::npos);
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"a"}],"metadata":{"a":{"k":1,"k":2}}})")
              .message.find("'metadata.a.k'") != std::string::npos);
    CHECK(error_of(Endpoint::chat_completions, "").message ==
          "The request body is empty; send a JSON object with Content-Type: application/json.");
    CHECK(error_of(Endpoint::chat_completions, " \r\n").message.starts_with("The request body is empty"));
    const std::string deep = R"({"model":"m","x":)" + std::string(70, '[') + std::string(70, ']') + "}";
    CHECK(error_of(Endpoint::chat_completions, deep).message.find("deeper than 64 levels at byte") != std::string::npos);
    CHECK(error_of(Endpoint::chat_completions,
                   R"({"model":"m","messages":[{"role":"user","content":"a"}],"stream":true,"stream_options":{"include_usage":1}})")
              .param == "stream_options.include_usage");
  }

  TEST_CASE("half a surrogate pair is named where Boost.JSON says only 'syntax error'") {
    const auto lone = error_of(Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"x\uD83D y"}]})");
    CHECK(lone.message.find("syntax error at byte 58 (line 1, column 59), after the escape \\uD83D, the first half of a "
                            "UTF-16 surrogate pair, without its second half") != std::string::npos);
    // After an escaped backslash the escape is still one (three backslashes); after two it would be text.
    const auto after_backslash =
        error_of(Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"\\\ud800!"}]})");
    CHECK(after_backslash.message.find("after the escape \\ud800") != std::string::npos);
    CHECK(std::holds_alternative<DecodedRequest>(
        decode_request(Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"\\ud800!"}]})")));
  }

  TEST_CASE("a request for log probabilities is marked with the member that asks: they carry the answer's text token by token") {
    auto asker = [](Endpoint endpoint, std::string_view body) {
      auto result = decode_request(endpoint, body);
      REQUIRE(std::holds_alternative<DecodedRequest>(result));
      return std::string(std::get<DecodedRequest>(result).logprobs_asked_by);
    };
    const auto chat = Endpoint::chat_completions;
    const auto completions = Endpoint::completions;
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true})") == "logprobs");
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2})") == "top_logprobs");
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":false,"top_logprobs":0})").empty());
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":null})").empty());
    CHECK(asker(completions, R"({"model":"m","prompt":"x","logprobs":0})") == "logprobs");  // the sampled tokens alone
    CHECK(asker(completions, R"({"model":"m","prompt":"x","logprobs":5})") == "logprobs");
    CHECK(asker(completions, R"({"model":"m","prompt":"x"})").empty());
    // llama.cpp's n_probs: its completion_probabilities carry the text token by token as well.
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"n_probs":3})") == "n_probs");
    CHECK(asker(completions, R"({"model":"m","prompt":"x","n_probs":1})") == "n_probs");
    CHECK(asker(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"n_probs":0})").empty());
  }

  TEST_CASE("top-level members are read wherever they stand, a repeated one as the parsed body keeps it") {
    // Without a policy a repeated key other than "model" is not refused: the last one counts.
    auto result = decode_request(Endpoint::chat_completions,
                                 R"({"stream":true,"max_completion_tokens":7,"messages":[{"role":"user","content":"x"}],)"
                                 R"("stream_options":{"include_usage":true},"max_tokens":9,"model":"m","stream":true,)"
                                 R"("top_logprobs":1,"logprobs":null})",
                                 {}, TextScope::prompts);
    REQUIRE(std::holds_alternative<DecodedRequest>(result));
    const auto& request = std::get<DecodedRequest>(result);
    CHECK(request.model == "m");
    CHECK(request.stream);
    CHECK(request.include_usage);
    CHECK(request.max_tokens == 7);  // max_completion_tokens, OpenAI's newer name, is read last
    CHECK(request.logprobs_asked_by == "top_logprobs");
    REQUIRE(request.texts.size() == 1);
    CHECK(request.texts[0].text == "x");
    auto last = decode_request(Endpoint::chat_completions,
                               R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"stream":false})",
                               {}, TextScope::prompts);
    REQUIRE(std::holds_alternative<DecodedRequest>(last));
    CHECK_FALSE(std::get<DecodedRequest>(last).stream);
    // Names that differ from the members read only in case or length are other members.
    CHECK(error_of(Endpoint::chat_completions, R"({"Model":"m","models":"m","messages":[]})").param == "model");
  }

  TEST_CASE("rewritten texts go back to the same place in the body") {
    auto result = decode_request(Endpoint::chat_completions,
                                 R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a@b.c"}]}]})");
    auto request = std::get<DecodedRequest>(std::move(result));
    replace_text(request.texts[0], "[EMAIL]");
    CHECK(request.texts[0].text == "[EMAIL]");
    CHECK(boost::json::serialize(request.body) ==
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"[EMAIL]"}]}]})");
    auto strings = std::get<DecodedRequest>(decode_request(
        Endpoint::chat_completions, R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}]})"));
    replace_text(strings.texts[1], "z");
    CHECK(boost::json::serialize(strings.body) ==
          R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":"z"}]})");
    auto prompts = std::get<DecodedRequest>(decode_request(Endpoint::completions, R"({"model":"m","prompt":["a","b"]})"));
    replace_text(prompts.texts[1], "c");
    CHECK(boost::json::serialize(prompts.body) == R"({"model":"m","prompt":["a","c"]})");
  }

  TEST_CASE("completions and embeddings accept a string or a list") {
    auto completion = std::get<DecodedRequest>(decode_request(Endpoint::completions, R"({"model":"m","prompt":["a","b"]})"));
    CHECK(completion.texts.size() == 2);
    CHECK(completion.texts[1].path.to_string() == "prompt[1]");
    auto embedding = std::get<DecodedRequest>(decode_request(Endpoint::embeddings, R"({"model":"m","input":"x"})"));
    CHECK(embedding.texts.at(0).path.to_string() == "input");
  }

  TEST_CASE("stream_options.include_usage is read, and absent or null means no") {
    const char* chat = R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]})";
    CHECK(std::get<DecodedRequest>(decode_request(Endpoint::chat_completions, chat)).include_usage);
    const char* plain = R"({"model":"m","stream":true,"stream_options":null,"messages":[{"role":"user","content":"x"}]})";
    CHECK_FALSE(std::get<DecodedRequest>(decode_request(Endpoint::chat_completions, plain)).include_usage);
    const char* empty = R"({"model":"m","stream":true,"stream_options":{},"messages":[{"role":"user","content":"x"}]})";
    CHECK_FALSE(std::get<DecodedRequest>(decode_request(Endpoint::chat_completions, empty)).include_usage);
  }

  TEST_CASE("bad bodies are refused naming the field") {
    CHECK(error_of(Endpoint::chat_completions, "{").code == "invalid_json");
    CHECK(error_of(Endpoint::chat_completions, "[]").message == "The request body must be a JSON object.");
    CHECK(error_of(Endpoint::chat_completions, R"({"messages":[]})").param == "model");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m"})").message == "'messages' is required");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","messages":[{"content":"x"}]})").param ==
          "messages[0].role");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","stream":"yes","messages":[]})").param == "stream");
    CHECK(error_of(Endpoint::completions, R"({"model":"m","prompt":{}})").param == "prompt");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","max_tokens":-5,"messages":[]})").param == "max_tokens");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","stream_options":true,"messages":[]})").param ==
          "stream_options");
    CHECK(error_of(Endpoint::chat_completions,
                   R"({"model":"m","stream_options":{"include_usage":"yes"},"messages":[]})").param == "stream_options");
    CHECK(error_of(Endpoint::chat_completions, R"({"model":"m","stream_options":{"include_usage":true},"messages":[]})")
              .message == "'stream_options' is only allowed when 'stream' is true");
    CHECK(error_of(Endpoint::chat_completions, "\xEF\xBB\xBF{\"model\":\"m\",\"messages\":[]}").message.find(
              "starts with a byte order mark") != std::string::npos);
    std::string deep(100, '[');
    CHECK(error_of(Endpoint::chat_completions, deep).code == "invalid_json");
  }

  TEST_CASE("invalid JSON is refused saying where it stops being valid") {
    const auto incomplete = error_of(Endpoint::chat_completions, "{");
    CAPTURE(incomplete.message);
    CHECK(incomplete.message.find("at byte 1 (line 1, column 2)") != std::string::npos);
    const auto pretty = error_of(Endpoint::chat_completions, "{\n  \"model\": \"m\",\n  \"messages\": [,]\n}");
    CAPTURE(pretty.message);
    CHECK(pretty.message.find("(line 3, column 16)") != std::string::npos);
    const auto latin1 = error_of(Endpoint::chat_completions, "{\"model\":\"caf\xe9\"}");
    CAPTURE(latin1.message);
    CHECK(latin1.message.find("at byte 13 (line 1, column 14), where the text is not valid UTF-8") != std::string::npos);
    const auto extra = error_of(Endpoint::chat_completions, "{} {}");
    CAPTURE(extra.message);
    CHECK(extra.message.find("extra data at byte 3 (line 1, column 4)") != std::string::npos);
  }

  TEST_CASE("errors serialize in OpenAI's shape") {
    auto json = boost::json::parse(api_errors::model_not_permitted("m", "t").to_json());
    const auto& error = json.at("error");
    CHECK(error.at("type") == "permission_error");
    CHECK(error.at("code") == "model_not_permitted");
    CHECK(error.at("param") == "model");
    CHECK(api_errors::rate_limited("t", "x").status == boost::beast::http::status::too_many_requests);
    CHECK(boost::json::parse(api_errors::invalid_api_key().to_json()).at("error").at("param").is_null());
  }
}

TEST_SUITE("word set") {
  TEST_CASE("every listed word is found; its neighbours, prefixes and the empty word are not") {
    static constexpr std::string_view words[] = {"content", "role", "n", "tool_call_id", "top_p", "top_k",
                                                 "$ref", "user", "url", "stream", "stream_options", ""};
    const WordSet set(words);
    for (std::string_view word : words) CHECK(set.contains(word) == !word.empty());
    for (std::string_view other : {"", "contents", "conten", "Content", "rolf", "m", "nn", "top_q", "top_", "usr",
                                   "streams", "stream_option", "$re", "tool_call_ie"})
      CHECK_FALSE(set.contains(other));
  }
}

TEST_SUITE("text search") {
  TEST_CASE("finds what std::string_view::find finds, at every length and alignment") {
    // Haystacks from a small alphabet so that needles occur, partly occur, and straddle the
    // sixteen-byte blocks and the scalar tail.
    std::mt19937 random(20261124);
    const std::string alphabet = "\"mode\\u0l";
    auto draw = [&](std::size_t length) {
      std::string text(length, ' ');
      for (auto& c : text) c = alphabet[random() % alphabet.size()];
      return text;
    };
    for (int round = 0; round < 20000; ++round) {
      const std::string haystack = draw(random() % 70);
      const std::string needle = round % 5 == 0 ? std::string("\"model\"") : draw(1 + random() % 6);
      INFO("haystack: ", haystack, " needle: ", needle);
      REQUIRE(find_text(haystack, needle) == std::string_view(haystack).find(needle));
    }
  }

  TEST_CASE("edge cases: empty needle, needle longer than the text, match at the very end") {
    CHECK(find_text("abc", "") == 0);
    CHECK(find_text("", "a") == std::string_view::npos);
    CHECK(find_text("ab", "abc") == std::string_view::npos);
    const std::string tail = std::string(40, 'x') + "\"model\"";
    CHECK(find_text(tail, "\"model\"") == 40);
    CHECK(find_text(std::string(33, 'x') + "\\u00", "\\u00") == 33);
    CHECK(find_text(std::string(64, '"'), "\"model\"") == std::string_view::npos);
  }

  TEST_CASE("find_either_byte finds what find_first_of finds, from every offset") {
    // Few CRs and LFs among other bytes (0x8D and 0x8A share their low seven bits), so that the first
    // one found lies in the first block, a later block or the scalar tail, or nowhere.
    std::mt19937 random(20261125);
    const std::string alphabet = "ab \x8D\x8A";
    for (int round = 0; round < 20000; ++round) {
      std::string text(random() % 80, ' ');
      for (auto& c : text) c = alphabet[random() % alphabet.size()];
      for (std::size_t marks = random() % 3; marks > 0 && !text.empty(); --marks)
        text[random() % text.size()] = random() % 2 == 0 ? '\r' : '\n';
      const std::size_t from = random() % (text.size() + 2);
      INFO("text of ", text.size(), " bytes from ", from);
      REQUIRE(find_either_byte(text, '\r', '\n', from) == std::string_view(text).find_first_of("\r\n", from));
    }
  }
}
