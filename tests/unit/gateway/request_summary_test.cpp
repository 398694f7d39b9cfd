// The plain path's one-pass summary of a request body against the full decode: for every body, the
// same fields or the same error, and the one-pass route taken for ordinary bodies.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/openai/request_body.hpp"
#include "gateway/openai/request_summary.hpp"

using namespace sovereign::gateway;

namespace {

// What the plain path reads of a decoded request.
struct PlainFields {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::uint32_t max_tokens = 0;
  std::string logprobs_asked_by;
  bool token_ids = false;
  std::size_t prompt_bytes = 0;
  bool operator==(const PlainFields&) const = default;
};

PlainFields plain_fields(const DecodedRequest& request) {
  return {request.model, request.stream, request.include_usage, request.max_tokens,
          std::string(request.logprobs_asked_by), request.token_ids, request.prompt_bytes};
}

std::string describe(const PlainFields& f) {
  return "model=" + f.model + " stream=" + std::to_string(f.stream) + " include_usage=" +
         std::to_string(f.include_usage) + " max_tokens=" + std::to_string(f.max_tokens) + " logprobs=" +
         f.logprobs_asked_by + " token_ids=" + std::to_string(f.token_ids) + " prompt_bytes=" +
         std::to_string(f.prompt_bytes);
}

enum class Route { summarised, decoded, refused };

// Both answers refuse with the same error, to the byte.
void check_same_error(const ApiError& got, const ApiError& expected) {
  CHECK(got.status == expected.status);
  CHECK(got.type == expected.type);
  CHECK(got.code == expected.code);
  CHECK(got.param == expected.param);
  CHECK(got.message == expected.message);
  CHECK(got.to_json() == expected.to_json());
}

// Every text a policy reads of a request, one line each: its path, what kind of string it is, and
// its text as decoded.
std::string policy_texts(const DecodedRequest& request) {
  std::string lines;
  for (const auto& field : request.texts)
    lines += field.path_string() + (field.is_key ? " key" : "") + (field.json_text ? " json" : "") + " = " +
             std::string(field.text) + "\n";
  for (const auto& part : request.unreadable_parts)
    lines += "unreadable " + part.path + " " + part.type + " " + part.remote_url_path + "\n";
  return lines;
}

// Routes the policy's scope took over a test's bodies (read in one pass, decoded, refused).
std::size_t policy_routes[3] = {};

// Decodes `body` as a policy reads it, in one pass (policy_scan) and built (every_string), and
// checks that the answers agree: the same error, or the same fields and the same texts in the same
// order with the same paths; read in one pass exactly when the one-pass reader vouches for the body,
// and then with nothing built that a rewrite could change.
void compare_policy_scan(Endpoint endpoint, std::string_view body) {
  auto built = decode_request(endpoint, body, {}, TextScope::every_string);
  auto scanned = decode_request(endpoint, body, {}, TextScope::policy_scan);
  const auto direct = summarize_request(endpoint, body, true);
  INFO("under a policy, endpoint ", endpoint_name(endpoint), " body: ", std::string(body));
  if (const auto* error = std::get_if<ApiError>(&built)) {
    CHECK_FALSE(direct.has_value());
    const auto* same = std::get_if<ApiError>(&scanned);
    REQUIRE(same != nullptr);
    check_same_error(*same, *error);
    ++policy_routes[static_cast<std::size_t>(Route::refused)];
    return;
  }
  const auto& expected = std::get<DecodedRequest>(built);
  const auto* got = std::get_if<DecodedRequest>(&scanned);
  REQUIRE(got != nullptr);
  CHECK(got->endpoint == expected.endpoint);
  CHECK(plain_fields(*got) == plain_fields(expected));
  CHECK(policy_texts(*got) == policy_texts(expected));
  CHECK(same_texts(got->texts, expected.texts));  // what Exchange::transform counts on before a rewrite
  REQUIRE(got->texts.size() == expected.texts.size());
  for (std::size_t i = 0; i < got->texts.size(); ++i) {
    CHECK(std::string_view(got->texts[i].path.key) == expected.texts[i].path.key);
    CHECK(got->texts[i].path.index == expected.texts[i].path.index);
    CHECK(got->texts[i].path.part == expected.texts[i].path.part);
    CHECK(got->texts[i].other_path == expected.texts[i].other_path);
  }
  CHECK(got->body.is_null() == direct.has_value());
  if (direct) {
    CHECK(policy_texts(*direct) == policy_texts(expected));
    for (const auto& field : got->texts) CHECK((field.node == nullptr && field.number == nullptr));
  }
  ++policy_routes[static_cast<std::size_t>(direct ? Route::summarised : Route::decoded)];
}

// Decodes `body` both ways and checks that the public answers agree: the same plain fields, or the
// same error to the byte. Returns the route the summary scope took.
Route compare(Endpoint endpoint, std::string_view body) {
  auto full = decode_request(endpoint, body, {}, TextScope::prompts);
  auto summary = decode_request(endpoint, body, {}, TextScope::summary);
  const auto direct = summarize_request(endpoint, body);
  compare_policy_scan(endpoint, body);
  INFO("endpoint ", endpoint_name(endpoint), " body: ", std::string(body));
  if (const auto* error = std::get_if<ApiError>(&full)) {
    // A body the full decode refuses is never summarised.
    CHECK_FALSE(direct.has_value());
    const auto* same = std::get_if<ApiError>(&summary);
    REQUIRE(same != nullptr);
    check_same_error(*same, *error);
    return Route::refused;
  }
  const auto& expected = std::get<DecodedRequest>(full);
  const auto* got = std::get_if<DecodedRequest>(&summary);
  REQUIRE(got != nullptr);
  CHECK(got->endpoint == expected.endpoint);
  CHECK_MESSAGE(plain_fields(*got) == plain_fields(expected), describe(plain_fields(*got)), " against ",
                describe(plain_fields(expected)));
  // Summarised exactly when the one-pass decoder vouches for the body, and then with nothing built.
  CHECK(got->body.is_null() == direct.has_value());
  if (direct) {
    CHECK(plain_fields(*direct) == plain_fields(expected));
    CHECK(got->texts.empty());
    CHECK(got->unreadable_parts.empty());
    // A summarised body is one whose full decode leaves nothing the plain path would miss.
    CHECK(expected.unreadable_parts.empty());
    CHECK_FALSE(expected.token_ids);
  }
  return direct ? Route::summarised : Route::decoded;
}

void summarised(Endpoint endpoint, std::string_view body) {
  INFO("expected to be summarised: ", std::string(body));
  CHECK(compare(endpoint, body) == Route::summarised);
}
void decoded(Endpoint endpoint, std::string_view body) {
  INFO("expected to be decoded in full: ", std::string(body));
  CHECK(compare(endpoint, body) == Route::decoded);
}
void refused(Endpoint endpoint, std::string_view body) {
  INFO("expected to be refused: ", std::string(body));
  CHECK(compare(endpoint, body) == Route::refused);
}

// The body the gateway benchmark sends (tests/bench/gateway); the test runs from the source root.
std::string bench_body() {
  std::ifstream file("tests/bench/gateway/chat_request.json", std::ios::binary);
  REQUIRE_MESSAGE(file.good(), "tests/bench/gateway/chat_request.json, read from the source root");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string chat(std::string_view members) {
  return std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}])") + std::string(members) + "}";
}
std::string content(std::string_view value) {
  return std::string(R"({"model":"m","messages":[{"role":"user","content":)") + std::string(value) + "}]}";
}

// Bodies from parts that are right, wrong or unusual, in any order and spacing: what the two
// decoders must agree on, whichever route the summary takes.
class BodyGenerator {
 public:
  explicit BodyGenerator(std::uint32_t seed) : random_(seed) {}

  std::pair<Endpoint, std::string> next() {
    static constexpr Endpoint endpoints[] = {Endpoint::chat_completions, Endpoint::completions, Endpoint::embeddings};
    const Endpoint endpoint = endpoints[pick(3)];
    std::vector<std::pair<std::string, std::string>> members;
    auto maybe = [&](const char* key, std::initializer_list<const char*> values, int percent) {
      if (chance(percent)) members.emplace_back(key, one_of(values));
    };
    maybe("model", {R"("m")", R"("gpt-4o")", R"("meta-llama/Llama-3.1-8B-Instruct")", R"("m\u002d1")", R"("")", "1",
                    "null", R"("bad name")"},
          95);
    maybe("stream", {"true", "false", "null", R"("x")", "1"}, 40);
    maybe("stream_options", {R"({"include_usage":true})", R"({"include_usage":false})", R"({"include_usage":null})",
                             R"({"include_usage":1})", "{}", "null", "[]", R"({"x":{"y":[1,2]}})"},
          20);
    for (const char* key : {"max_tokens", "max_completion_tokens"})
      maybe(key, {"1", "256", "100000000", "100000001", "0", "-1", "1.0", "null", R"("5")", "1e2",
                  "18446744073709551616"},
            25);
    maybe("logprobs", {"true", "false", "null", "0", "1", R"("x")", "{}", "[]", "-1"}, 15);
    maybe("top_logprobs", {"0", "3", "2.5", "-1", "null", "true", R"("3")", "18446744073709551615"}, 15);
    maybe("n_probs", {"0", "1", "null", "0.5", "-2"}, 10);
    maybe("temperature", {"0.2", "1", "1e999", "null"}, 30);
    maybe("metadata", {R"({"a":{"b":[1,"x",null]},"c":"d"})", R"({"k":"v","k":"w"})", "{}", R"([[[]]])"}, 20);
    maybe("user", {R"("u")", R"("caf\u00e9")"}, 20);
    if (chance(90)) {
      if (endpoint == Endpoint::chat_completions) members.emplace_back("messages", messages());
      else members.emplace_back(endpoint == Endpoint::completions ? "prompt" : "input", prompts());
    }
    if (chance(5)) members.emplace_back("messages", messages());  // ignored by the other endpoints
    if (chance(5)) members.emplace_back("prompt", prompts());     // ignored by chat
    if (!members.empty() && chance(8)) members.push_back(members[pick(members.size())]);  // a repeated key
    std::shuffle(members.begin(), members.end(), random_);
    std::string body = "{" + space();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) body += "," + space();
      body += "\"" + members[i].first + "\"" + space() + ":" + space() + members[i].second;
    }
    return {endpoint, body + space() + "}"};
  }

 private:
  std::string messages() {
    if (chance(10)) return one_of({"[]", "{}", "null", R"("x")", "[1]"});
    std::string list = "[";
    const std::size_t count = 1 + pick(4);
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) list += "," + space();
      list += message();
    }
    return list + "]";
  }

  std::string message() {
    std::vector<std::string> members;
    if (chance(95)) members.push_back(R"("role":)" + one_of({R"("user")", R"("assistant")", R"("system")", "1", "null"}, 90));
    if (chance(90)) members.push_back(R"("content":)" + message_content());
    if (chance(10)) members.push_back(R"("name":"bob")");
    if (chance(10)) members.push_back(R"("tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])");
    if (!members.empty() && chance(5)) members.push_back(members.front());
    std::shuffle(members.begin(), members.end(), random_);
    std::string object = "{";
    for (std::size_t i = 0; i < members.size(); ++i) object += (i > 0 ? "," : "") + members[i];
    return object + "}";
  }

  std::string message_content() {
    switch (pick(8)) {
      case 0: return "null";
      case 1: return one_of({"1", "{}", "true"});
      case 2:
      case 3: {
        std::string parts = "[";
        const std::size_t count = pick(4);
        for (std::size_t i = 0; i < count; ++i) {
          if (i > 0) parts += ",";
          parts += one_of({R"({"type":"text","text":"part one"})", R"({"text":"no type"})", R"({"type":"text"})",
                           R"({"type":"input_text","text":"tab\there"})", R"({"type":"refusal","refusal":"no"})",
                           R"({"type":"te\u0078t","text":"escaped type"})",
                           R"({"type":"text","text":"x","cache_control":{"type":"ephemeral"}})"},
                          85);
          if (chance(12)) {
            parts.pop_back();
            parts += one_of({R"(,"x":1})", R"(,"text":2})", R"(,"type":"image_url","image_url":{"url":"https://x"}})"});
          }
        }
        if (chance(10)) parts += std::string(count > 0 ? "," : "") + one_of({"1", R"("s")", "null", R"({"type":1})"});
        return parts + "]";
      }
      default: return text();
    }
  }

  std::string prompts() {
    switch (pick(6)) {
      case 0: return one_of({"5", "{}", "null", "[1,2]", "[[1]]", "[null]", R"(["a",1])", "[1.5]", "[]"});
      case 1:
      case 2: {
        std::string list = "[";
        const std::size_t count = pick(4);
        for (std::size_t i = 0; i < count; ++i) list += (i > 0 ? "," : "") + text();
        return list + "]";
      }
      default: return text();
    }
  }

  // A JSON string: plain, escaped, unicode, or long enough that the parser gives it in parts.
  std::string text() {
    switch (pick(6)) {
      case 0: return R"("caf\u00e9 \"quoted\" back\\slash\nline")";
      case 1: return "\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\"";
      case 2: return R"("\ud83d\ude00 and \u0000 nul")";
      case 3: {
        std::string long_text = "\"";
        const std::size_t lines = 200 + pick(800);
        for (std::size_t i = 0; i < lines; ++i) long_text += "line " + std::to_string(i) + "\\n";
        return long_text + "\"";
      }
      default: return "\"" + std::string(pick(40), 'w') + "\"";
    }
  }

  std::string space() { return one_of({"", "", "", " ", "\n  ", "\t"}); }

  std::string one_of(std::initializer_list<const char*> values, int first_percent = 0) {
    if (first_percent > 0 && chance(first_percent)) return *values.begin();
    return *(values.begin() + pick(values.size()));
  }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  std::mt19937 random_;
};

}  // namespace

TEST_SUITE("request summary") {
  TEST_CASE("the benchmark's body is summarised in one pass, with the fields of the full decode") {
    const std::string body = bench_body();
    summarised(Endpoint::chat_completions, body);
    const auto summary = summarize_request(Endpoint::chat_completions, body);
    REQUIRE(summary.has_value());
    CHECK(summary->model == "bench-model");
    CHECK(summary->max_tokens == 256);
    CHECK_FALSE(summary->stream);
    CHECK(summary->prompt_bytes > 1000);
  }

  TEST_CASE("under a policy the benchmark's body is read in one pass: its four messages, then its user") {
    const std::string body = bench_body();
    const auto read = decode_request(Endpoint::chat_completions, body, {}, TextScope::policy_scan);
    REQUIRE(std::holds_alternative<DecodedRequest>(read));
    const auto& request = std::get<DecodedRequest>(read);
    CHECK(request.body.is_null());
    REQUIRE(request.texts.size() == 5);
    for (std::size_t i = 0; i < 4; ++i) CHECK(request.texts[i].path_string() == "messages[" + std::to_string(i) + "].content");
    CHECK(request.texts[1].text.starts_with("Summarise the following report"));
    CHECK(request.texts[4].path_string() == "user");
    CHECK(request.texts[4].text == "bench-client-0001");
    // The texts are the request's own: the body they came from may go.
    DecodedRequest moved = std::get<DecodedRequest>(decode_request(Endpoint::chat_completions, std::string(body), {},
                                                                   TextScope::policy_scan));
    CHECK(moved.texts[4].text == "bench-client-0001");
    CHECK(policy_texts(moved) == policy_texts(request));
    // A text that differs anywhere is no longer the same list.
    DecodedRequest other = std::get<DecodedRequest>(decode_request(Endpoint::chat_completions, body, {}, TextScope::every_string));
    CHECK(same_texts(other.texts, request.texts));
    other.texts[4].other_path = "metadata.user";
    CHECK_FALSE(same_texts(other.texts, request.texts));
    other.texts.pop_back();
    CHECK_FALSE(same_texts(other.texts, request.texts));
  }

  TEST_CASE("under a policy, keys, numbers, names and arguments are read in one pass as the built body reads them") {
    const Endpoint c = Endpoint::chat_completions;
    std::fill(std::begin(policy_routes), std::end(policy_routes), 0);
    for (const std::string& body :
         {chat(R"(,"metadata":{"card":4111111111111111,"note":"call 0201","big":4.111111111111111e15,"f":1.5,)"
               R"("neg":-12,"huge":18446744073709551615,"list":[1,"two",[3.0]]},"n_probs":2,"seed":7,"user":"u-1")"),
          chat(R"(,"tools":[{"type":"function","function":{"name":"lookup","description":"Finds a patient",)"
               R"("parameters":{"type":"object","properties":{"nhs_number":{"type":"string","minimum":0}},)"
               R"("required":["nhs_number"]}}}],"tool_choice":"auto","response_format":{"type":"json_object"})"),
          std::string(R"({"model":"m","messages":[{"role":"assistant","content":null,"name":"dr \"who\"",)"
                      R"("tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"iban\":\"GB82\"}"}}]},)"
                      R"({"role":"tool","tool_call_id":"c1","content":"ok"},{"role":"narrator","content":[)"
                      R"({"type":"text","text":"a"},{"type":"input_text","text":"b","cache_control":{"type":"ephemeral"}}]}],)"
                      R"("function_call":{"name":"g"},"":{"":"empty keys","x\u00e9":"escaped key"}})"),
          std::string(R"({"model":"m","messages":[{"role":"user","content":"hi","function_call":{"arguments":"{}"}}]})"),
          // Escaped keys (which the parser hands over from its own buffer) among plain ones, nested.
          chat(R"(,"m\u00e9ta":{"plain":{"k\u0041":"v","n":"w"},"x\u0042":["y",{"z\u0043":"q","p":"r"}],"after":"s"})")}) {
      compare_policy_scan(c, body);
      CHECK_MESSAGE(summarize_request(c, body, true).has_value(), body);
    }
    CHECK(policy_routes[static_cast<std::size_t>(Route::summarised)] == 5);
    // What the built body gives, spelled out once for the first: every number outside the top-level
    // parameters as its digits, keys outside the schema, values, in body order after the prompt.
    const auto read = summarize_request(c, chat(R"(,"metadata":{"card":4111111111111111,"f":1.5,"big":4.1e15},"n_probs":2)"), true);
    REQUIRE(read.has_value());
    CHECK(policy_texts(*read) ==
          "messages[0].content = hi\nmetadata.card (key) key = card\nmetadata.card = 4111111111111111\n"
          "metadata.f (key) key = f\nmetadata.big (key) key = big\nmetadata.big = 4100000000000000\n"
          "n_probs (key) key = n_probs\nn_probs = 2\n");
  }

  TEST_CASE("ordinary chat bodies are summarised, whatever their spacing, escapes and parts") {
    const Endpoint c = Endpoint::chat_completions;
    summarised(c, chat(""));
    summarised(c, chat(R"(,"stream":true,"stream_options":{"include_usage":true})"));
    summarised(c, chat(R"(,"stream_options":{"include_usage":false,"extra":[1]},"stream":true)"));
    summarised(c, chat(R"(,"stream":true,"stream_options":{"include_usage":null})"));
    summarised(c, chat(R"(,"stream":false,"stream_options":null)"));
    summarised(c, chat(R"(,"stream":null)"));
    summarised(c, chat(R"(,"max_tokens":1)"));
    summarised(c, chat(R"(,"max_tokens":100000000)"));
    summarised(c, chat(R"(,"max_completion_tokens":77)"));
    summarised(c, chat(R"(,"max_completion_tokens":77,"max_tokens":5)"));
    summarised(c, chat(R"(,"max_tokens":5,"max_completion_tokens":null)"));
    for (const char* logprobs : {"true", "false", "null", "0", R"("yes")", "{}", "[]"})
      summarised(c, chat(std::string(R"(,"logprobs":)") + logprobs));
    for (const char* top : {"0", "3", "2.5", "-1", "null", "true", R"("3")", "18446744073709551615", "[1]", "{}"}) {
      summarised(c, chat(std::string(R"(,"top_logprobs":)") + top));
      summarised(c, chat(std::string(R"(,"n_probs":)") + top));
    }
    summarised(c, content(R"("caf\u00e9 \"q\" \\ \/ \b\f\n\r\t \ud83d\ude00 \u0000")"));
    summarised(c, content("\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC\""));
    summarised(c, content(R"("")"));
    summarised(c, content("null"));
    summarised(c, content("[]"));
    summarised(c, content(R"([{"type":"text","text":"a"},{"type":"input_text","text":"b\n"},{"text":"untyped"},)"
                          R"({"type":"text"},{"type":"output_text","text":"c"},{"type":"refusal","refusal":"no"},)"
                          R"({"type":"te\u0078t","text":"escaped type"},{"type":"text","text":"d","cache_control":{"type":"x"}}])"));
    // Long texts with escapes come from the parser in parts.
    std::string long_text = "\"";
    for (int i = 0; i < 3000; ++i) long_text += "line\\n\\u00e9";
    summarised(c, content(long_text + "\""));
    summarised(c, content("[{\"type\":\"text\",\"text\":" + long_text + "\"}]"));
    summarised(c, R"({"model":"m\u002d1","messages":[{"role":"user","content":"x"}]})");
    summarised(c, R"({"mod\u0065l":"m","messages":[{"role":"user","content":"x"}]})");
    summarised(c, R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",)"
                  R"("function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"1"}]})");
    summarised(c, "{\n  \"model\" : \"m\",\n\t\"messages\" : [\n    { \"role\" : \"user\" , \"content\" : \"hi\" }\n  ]\r\n}\n");
    summarised(c, chat(R"(,"metadata":{"a":{"b":[1,"x",null,{"c":{"d":[[]]}}]}},"user":"u","temperature":0.2,"seed":-5)"));
    summarised(c, chat(R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",)"
                       R"("properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"]}}}])"));
    summarised(c, chat(R"(,"prompt":5,"input":[1])"));  // other endpoints' members mean nothing here
    // The same key in different objects is no repeat.
    summarised(c, R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],)"
                  R"("metadata":{"model":"x","messages":1}})");
    std::string many = R"({"model":"m","messages":[)";
    for (int i = 0; i < 300; ++i) many += std::string(i > 0 ? "," : "") + R"({"role":"user","content":"turn"})";
    summarised(c, many + "]}");
    std::string deep = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":";
    summarised(c, deep + std::string(62, '[') + std::string(62, ']') + "}");
  }

  TEST_CASE("ordinary completions and embeddings bodies are summarised") {
    for (const Endpoint endpoint : {Endpoint::completions, Endpoint::embeddings}) {
      const std::string key = endpoint == Endpoint::completions ? "prompt" : "input";
      const auto body = [&key](std::string_view value, std::string_view more = "") {
        return R"({"model":"m",")" + key + "\":" + std::string(value) + std::string(more) + "}";
      };
      summarised(endpoint, body(R"("a prompt")"));
      summarised(endpoint, body(R"(["a","caf\u00e9",""])"));
      summarised(endpoint, body("[]"));
      summarised(endpoint, body(R"("p")", R"(,"logprobs":0,"top_logprobs":5,"n_probs":2)"));
      summarised(endpoint, body(R"("p")", R"(,"logprobs":true)"));
      summarised(endpoint, body(R"("p")", R"(,"n_probs":1,"stream":true,"stream_options":{"include_usage":true})"));
      summarised(endpoint, body(R"("p")", R"(,"messages":{"not":"read"})"));
    }
  }

  TEST_CASE("bodies the full decode accepts with more to say are decoded in full") {
    const Endpoint c = Endpoint::chat_completions;
    // A repeated key that cannot be "model": accepted without a policy, from the built body.
    decoded(c, R"({"model":"m","messages":[{"role":"user","content":"card 4111","content":"hi"}]})");
    decoded(c, chat(R"(,"metadata":{"k":"v","k":"w"})"));
    // ... but refused where a \u00 escape anywhere could spell a second "model".
    refused(c, chat(R"(,"metadata":{"k\u0000":"v","k\u0000":"w"})"));
    // Parts no detector reads, token ids, a number beyond a double, an object of many keys.
    decoded(c, content(R"([{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}])"));
    decoded(c, content(R"([{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}])"));
    decoded(c, content(R"([{"cache_control":{}}])"));
    decoded(c, content(R"([{"type":null,"text":"x"}])"));
    decoded(Endpoint::completions, R"({"model":"m","prompt":[19,4111,1111]})");
    decoded(Endpoint::embeddings, R"({"model":"m","input":[["a 4111"],[1,2]]})");
    decoded(c, chat(R"(,"temperature":1e999)"));
    std::string keys = R"(,"logit_bias":{)";
    for (int i = 0; i < 40; ++i) keys += std::string(i > 0 ? "," : "") + "\"" + std::to_string(i) + "\":1";
    decoded(c, chat(keys + "}"));
  }

  TEST_CASE("bodies the full decode refuses get its very error") {
    const Endpoint c = Endpoint::chat_completions;
    for (const char* body : {"", "  \n", "[]", "null", "\"x\"", "{", "{}", "{\"model\":\"m\"} x", "\xEF\xBB\xBF{}",
                             R"({"model":"m","messages":[{"role":"user","content":"\ud800"}]})",
                             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}"})
      refused(c, body);
    refused(c, R"({"messages":[{"role":"user","content":"x"}]})");
    for (const char* model : {"1", R"("")", "null", R"("bad name")", "[]", "{}", R"("a\u0020b")"})
      refused(c, std::string(R"({"model":)") + model + R"(,"messages":[{"role":"user","content":"x"}]})");
    refused(c, "{\"model\":\"" + std::string(max_model_name_bytes + 1, 'm') + "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    for (const char* messages : {"", R"(,"messages":{})", R"(,"messages":[])", R"(,"messages":null)", R"(,"messages":[1])",
                                 R"(,"messages":[{"content":"x"}])", R"(,"messages":[{"role":1,"content":"x"}])",
                                 R"(,"messages":[{"role":"user","content":1}])", R"(,"messages":[{"role":"user","content":{}}])",
                                 R"(,"messages":[{"role":"user","content":[1]}])", R"(,"messages":[{"role":"user","content":["x"]}])",
                                 R"(,"messages":[{"role":"user","content":[{"text":1}]}])",
                                 R"(,"messages":[{"role":"user","content":[{"type":"text","text":null}]}])",
                                 R"(,"messages":[{"role":"user","content":"x"},{"role":null}])"})
      refused(c, std::string(R"({"model":"m")") + messages + "}");
    for (const char* members : {R"(,"stream":"yes")", R"(,"stream":1)", R"(,"stream_options":[])",
                                R"(,"stream_options":{})", R"(,"stream":false,"stream_options":{"include_usage":true})",
                                R"(,"stream":true,"stream_options":{"include_usage":"x"})", R"(,"max_tokens":0)",
                                R"(,"max_tokens":-1)", R"(,"max_tokens":1.5)", R"(,"max_tokens":100000001)",
                                R"(,"max_tokens":"5")", R"(,"max_tokens":1e2)", R"(,"max_tokens":18446744073709551615)",
                                R"(,"max_completion_tokens":true)", R"(,"max_tokens":5,"max_completion_tokens":0)",
                                R"(,"model":"other")", R"(,"mod\u0065l":"other")", R"(,"model":"m")"})
      refused(c, chat(members));
    std::string deep = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":";
    refused(c, deep + std::string(64, '[') + std::string(64, ']') + "}");
    for (const Endpoint endpoint : {Endpoint::completions, Endpoint::embeddings}) {
      const std::string key = endpoint == Endpoint::completions ? "prompt" : "input";
      refused(endpoint, R"({"model":"m"})");
      refused(endpoint, R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
      for (const char* value : {"5", "{}", "null", "true", "[null]", "[1.5]", "[{}]", "[true]", R"(["a",null])"})
        refused(endpoint, R"({"model":"m",")" + key + "\":" + value + "}");
    }
  }

  TEST_CASE("every single-byte change to the benchmark's body gets the same answer both ways") {
    std::fill(std::begin(policy_routes), std::end(policy_routes), 0);
    const std::string original = bench_body();
    static constexpr char bytes[] = {'"', '{', '}', '[', ']', ',', ':', '\\', 'x', ' ', '0', '\x80', 'n'};
    std::size_t routes[3] = {};
    auto check = [&routes](Endpoint endpoint, const std::string& body) {
      ++routes[static_cast<std::size_t>(compare(endpoint, body))];
    };
    // And a completions body with the members the plain path reads.
    const std::string completion =
        R"({"model":"bench-model","prompt":["Summarise the report: \"clear lungs\".","caf\u00e9"],)"
        R"("max_tokens":256,"stream":true,"stream_options":{"include_usage":true},"logprobs":1})";
    for (const Endpoint endpoint : {Endpoint::chat_completions, Endpoint::completions}) {
      const std::string& base = endpoint == Endpoint::completions ? completion : original;
      for (std::size_t at = 0; at <= base.size(); ++at) {
        if (at < base.size()) check(endpoint, std::string(base).erase(at, 1));
        for (const char byte : bytes) {
          check(endpoint, std::string(base).insert(at, 1, byte));
          if (at < base.size() && base[at] != byte) {
            std::string replaced = base;
            replaced[at] = byte;
            check(endpoint, replaced);
          }
        }
      }
    }
    // Changes inside the texts leave ordinary bodies, which were summarised; most others break the
    // JSON. (A single byte rarely makes a body the full decode accepts with more to say.)
    CHECK(routes[static_cast<std::size_t>(Route::summarised)] > 10'000);
    CHECK(routes[static_cast<std::size_t>(Route::refused)] > 10'000);
    CHECK(policy_routes[static_cast<std::size_t>(Route::summarised)] > 10'000);
  }

  TEST_CASE("generated bodies, right and wrong, get the same answer both ways") {
    std::fill(std::begin(policy_routes), std::end(policy_routes), 0);
    BodyGenerator generator(20240611);
    std::size_t routes[3] = {};
    for (int i = 0; i < 20'000; ++i) {
      const auto [endpoint, body] = generator.next();
      ++routes[static_cast<std::size_t>(compare(endpoint, body))];
    }
    CHECK(routes[static_cast<std::size_t>(Route::summarised)] > 1'000);
    CHECK(routes[static_cast<std::size_t>(Route::decoded)] > 100);
    CHECK(routes[static_cast<std::size_t>(Route::refused)] > 1'000);
    CHECK(policy_routes[static_cast<std::size_t>(Route::summarised)] > 1'000);
    CHECK(policy_routes[static_cast<std::size_t>(Route::decoded)] > 100);
  }
}
