// The one-pass reading of whole answers against the parsed reading it stands in for: for every
// answer, the same bytes out, the same refusal, and the same texts given to the same filters in the
// same order; and the one-pass route taken for ordinary answers.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/pipeline/answer_texts.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "json_generator.hpp"
#include "recording_filter.hpp"

using namespace sovereign::gateway;
using namespace sovereign::gateway::testing;

namespace {

struct Outcome {
  std::string out;
  bool failed = false;
  std::string failure;
  std::vector<Seen> seen;
  WholeRoute route = WholeRoute::none;
};

// One whole answer through a rewriter whose chains hold two recording filters each: the second sees
// what the first made of the text.
Outcome rewrite(Endpoint endpoint, bool withhold_logprobs, Behaviour behaviour, AnswerReading reading,
                const std::string& body) {
  Outcome outcome;
  std::size_t chains = 0;
  ResponseRewriter rewriter(endpoint, withhold_logprobs, recording_chains(outcome.seen, chains, behaviour), reading);
  outcome.out = rewriter.whole(body);
  outcome.failed = rewriter.failed();
  outcome.failure = rewriter.failure();
  outcome.route = rewriter.whole_route();
  return outcome;
}

// Rewrites `body` both ways and checks that they agree; returns the route the one pass took.
WholeRoute compare(Endpoint endpoint, bool withhold_logprobs, Behaviour behaviour, const std::string& body) {
  const Outcome parsed = rewrite(endpoint, withhold_logprobs, behaviour, AnswerReading::parsed, body);
  const Outcome read = rewrite(endpoint, withhold_logprobs, behaviour, AnswerReading::one_pass_first, body);
  INFO("endpoint ", endpoint == Endpoint::completions ? "completions" : "chat", " withhold ", withhold_logprobs,
       " change ", behaviour.change, " fail ", behaviour.fail_on_marker, " answer: ", body);
  CHECK(parsed.route == WholeRoute::parsed);
  CHECK(read.out == parsed.out);
  CHECK(read.failed == parsed.failed);
  CHECK(read.failure == parsed.failure);
  CHECK_MESSAGE(read.seen == parsed.seen, "one pass:", describe(read.seen), "\nparsed:", describe(parsed.seen));
  // The one pass vouches only for answers it reads as the parsed reading does, and parses those a
  // filter changed.
  if (read.route == WholeRoute::one_pass) CHECK((read.failed || read.out == body));
  if (read.route == WholeRoute::one_pass_then_parsed) CHECK(read.out != body);
  CHECK(read.route != WholeRoute::none);
  return read.route;
}

// Routes by how often the one pass took them.
struct Routes {
  std::size_t one_pass = 0, one_pass_then_parsed = 0, parsed = 0;
  void add(WholeRoute route) {
    if (route == WholeRoute::one_pass) ++one_pass;
    else if (route == WholeRoute::one_pass_then_parsed) ++one_pass_then_parsed;
    else ++parsed;
  }
};

Routes compare_every_way(Endpoint endpoint, const std::string& body) {
  Routes routes;
  for (const bool withhold : {false, true})
    for (const Behaviour behaviour : {Behaviour{}, Behaviour{true, false}, Behaviour{true, true}})
      routes.add(compare(endpoint, withhold, behaviour, body));
  return routes;
}

void read_in_one_pass(Endpoint endpoint, const std::string& body) {
  INFO("expected to be read in one pass: ", body);
  const Routes routes = compare_every_way(endpoint, body);
  CHECK(routes.parsed == 0);
}

void read_parsed(Endpoint endpoint, const std::string& body, bool withhold = false) {
  INFO("expected to be read parsed: ", body);
  CHECK(compare(endpoint, withhold, Behaviour{true, true}, body) == WholeRoute::parsed);
  CHECK(compare(endpoint, withhold, Behaviour{}, body) == WholeRoute::parsed);
}

// The answer the gateway benchmark's upstream sends (tests/bench/gateway); the test runs from the
// source root.
std::string bench_answer() {
  std::ifstream file("tests/bench/gateway/chat_response.json", std::ios::binary);
  REQUIRE_MESSAGE(file.good(), "tests/bench/gateway/chat_response.json, read from the source root");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string chat_answer(std::string_view message, std::string_view choice_members = "", std::string_view more = "") {
  return R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":)" +
         std::string(message) + std::string(choice_members) + R"(,"logprobs":null,"finish_reason":"stop"}],)"
         R"("usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})" + std::string(more) + "}";
}

// Answers from parts that are right, wrong or unusual, in any order and spacing.
class AnswerGenerator : JsonGenerator {
 public:
  explicit AnswerGenerator(std::uint32_t seed) : JsonGenerator(seed, {"", "", "", " ", "\n  ", "\t"}, 5) {}

  Endpoint endpoint() { return chance(25) ? Endpoint::completions : Endpoint::chat_completions; }

  std::string answer(Endpoint endpoint) {
    std::vector<std::pair<std::string, std::string>> members;
    auto maybe = [&](const char* key, std::initializer_list<const char*> values, int percent) {
      if (chance(percent)) members.emplace_back(key, one_of(values));
    };
    maybe("id", {R"("chatcmpl-9")", R"("report 42")", "7", "null"}, 80);
    maybe("object", {R"("chat.completion")", R"("text_completion")"}, 70);
    maybe("created", {"1700000000", "1.5", "-3"}, 70);
    maybe("model", {R"("m")", R"("report-model")", R"({"name":"report"})"}, 70);
    maybe("system_fingerprint", {R"("fp_1")", "null"}, 30);
    maybe("service_tier", {R"("default")", "null"}, 20);
    maybe("usage", {R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})",
                    R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":3,"accepted_prediction_tokens":0}})",
                    R"({"note":"report 7"})", "null", "[]"},
          60);
    maybe("x_extra", {R"("a report of 12")", R"({"nested":["report",1,{"type":"report"},""]})", "3.25", "true",
                      R"([[["deep 1"]]])"},
          15);
    maybe("completion_probabilities", {"null", R"([{"content":"report","probs":[{"tok_str":"rep 1"}]}])"}, 8);
    maybe("logprobs", {"null", R"({"content":[{"token":"x"}]})"}, 5);
    if (chance(95)) members.emplace_back("choices", choices(endpoint));
    if (!members.empty() && chance(6)) members.push_back(members[pick(members.size())]);  // a repeated key
    return object(members);
  }

 private:
  std::string choices(Endpoint endpoint) {
    if (chance(4)) return one_of({"null", "{}", R"("report")", "1"});
    std::string list = "[";
    const std::size_t count = pick(4);
    for (std::size_t i = 0; i < count; ++i) list += (i > 0 ? "," + space() : "") + choice(endpoint, i);
    return list + "]";
  }

  std::string choice(Endpoint endpoint, std::size_t position) {
    if (chance(3)) return one_of({"null", R"("report")", "[]", "2"});
    std::vector<std::pair<std::string, std::string>> members;
    if (chance(90)) {
      members.emplace_back("index", chance(85) ? std::to_string(chance(90) ? position : pick(3))
                                               : one_of({R"("1")", "1.0", "null", "-1", "18446744073709551615", "{}"}));
    }
    const bool completions = endpoint == Endpoint::completions;
    if (completions ? chance(85) : chance(8)) members.emplace_back("text", text_value());
    if (completions ? chance(8) : chance(90)) members.emplace_back("message", message());
    if (chance(5)) members.emplace_back("delta", one_of({"null", "{}", R"({"content":"report"})", R"("")"}));
    if (chance(80)) members.emplace_back("finish_reason", one_of({R"("stop")", "null", R"("length")", R"("report 1")"}));
    if (chance(70)) members.emplace_back("logprobs", one_of({"null", "null", R"({"content":[{"token":"report","logprob":-0.1}]})"}));
    if (chance(5)) members.emplace_back("extra", one_of({R"("report 9")", R"({"a":"b 1"})", "[1,2]"}));
    if (!members.empty() && chance(4)) members.push_back(members[pick(members.size())]);
    return object(members);
  }

  std::string message() {
    if (chance(4)) return one_of({"null", R"("report")", "[]", "{}"});
    std::vector<std::pair<std::string, std::string>> members;
    if (chance(90)) members.emplace_back("role", one_of({R"("assistant")", "null", "1"}));
    if (chance(90)) members.emplace_back("content", text_value());
    if (chance(15)) members.emplace_back("reasoning_content", text_value());
    if (chance(8)) members.emplace_back("reasoning", text_value());
    if (chance(15)) members.emplace_back("refusal", text_value());
    if (chance(15)) members.emplace_back("tool_calls", tool_calls());
    if (chance(5)) members.emplace_back("function_call", one_of({R"({"name":"f","arguments":"{\"n\":12}"})", "null",
                                                                 R"({"name":"f"})", R"({"arguments":{}})", R"("f")"}));
    if (chance(8)) members.emplace_back("annotations", one_of({"[]", R"([{"type":"url","url":"https://report/1"}])"}));
    if (chance(5)) members.emplace_back("audio", one_of({"null", R"({"id":"a","transcript":"report 3"})"}));
    if (!members.empty() && chance(4)) members.push_back(members[pick(members.size())]);
    return object(members);
  }

  std::string tool_calls() {
    if (chance(8)) return one_of({"null", "{}", R"("call")", "[null]", R"([1])"});
    std::string list = "[";
    const std::size_t count = pick(4);
    for (std::size_t i = 0; i < count; ++i) {
      std::vector<std::pair<std::string, std::string>> members;
      if (chance(40)) members.emplace_back("index", one_of({"0", "1", "2", "5", R"("1")", "null", "1.5"}));
      if (chance(80)) members.emplace_back("id", one_of({R"("call_1")", R"("call_2")"}));
      if (chance(80)) members.emplace_back("type", R"("function")");
      if (chance(95)) {
        std::string function = chance(90) ? R"({"name":"get_report")" : "{";
        if (chance(90)) function += std::string(function.size() > 1 ? "," : "") + R"("arguments":)" +
                                    one_of({R"("{\"id\":42}")", R"("{}")", R"("")", "null", R"({"id":1})", text_value().c_str()});
        members.emplace_back("function", chance(95) ? function + "}" : one_of({"null", R"("f")"}));
      }
      list += (i > 0 ? "," : "") + object(members);
    }
    return list + "]";
  }

  // A JSON value where a text belongs: mostly a string, plain, escaped, unicode, long or with the
  // markers the filters react to; sometimes null or no string at all.
  std::string text_value() {
    switch (pick(14)) {
      case 0: return "null";
      case 1: return one_of({"1", "{}", "[]", R"([{"type":"text","text":"report"}])", "true"});
      case 2: return R"("caf\u00e9 \"quoted\" report\\slash\nline 12")";
      case 3: return "\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 report\"";
      case 4: return R"("\ud83d\ude00 and \u0000 nul 3")";
      case 5: {
        std::string long_text = "\"";
        const std::size_t lines = 200 + pick(800);
        for (std::size_t i = 0; i < lines; ++i) long_text += "line " + std::to_string(i) + "\\n";
        return long_text + "\"";
      }
      case 6: return R"("a report that should FAIL")";
      case 7: return R"("")";
      case 8: return R"("the report")";
      default: return "\"" + std::string(pick(30), 'w') + "\"";
    }
  }
};

}  // namespace

TEST_SUITE("answer texts") {
  TEST_CASE("the benchmark's answer is read in one pass, and parsed only when a filter changes a text") {
    const std::string body = bench_answer();
    CHECK(compare(Endpoint::chat_completions, false, Behaviour{}, body) == WholeRoute::one_pass);
    CHECK(compare(Endpoint::chat_completions, true, Behaviour{}, body) == WholeRoute::one_pass);
    CHECK(compare(Endpoint::chat_completions, false, Behaviour{true, false}, body) == WholeRoute::one_pass_then_parsed);
    const auto texts = read_answer_texts(body, Endpoint::chat_completions, true);
    REQUIRE(texts.has_value());
    REQUIRE(texts->texts.size() == 1);
    CHECK(texts->texts[0].field == "content");
    CHECK(texts->texts[0].choice == 0);
    CHECK(texts->texts[0].text.starts_with("The report describes"));
  }

  TEST_CASE("ordinary chat and completions answers are read in one pass: texts, other strings, escapes") {
    const Endpoint chat = Endpoint::chat_completions;
    read_in_one_pass(chat, chat_answer(R"({"role":"assistant","content":"the report"})"));
    read_in_one_pass(chat, chat_answer(R"({"role":"assistant","content":null,"refusal":"no report 1"})"));
    read_in_one_pass(chat, chat_answer(R"({"role":"assistant","content":"","reasoning_content":"think 1","reasoning":"why 2"})"));
    read_in_one_pass(chat, chat_answer(R"({"content":"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t \ud83d\ude00 \u0000 report 3"})"));
    read_in_one_pass(chat, chat_answer("{\"content\":\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC report\"}"));
    read_in_one_pass(chat, chat_answer(R"({"role":"assistant","content":null,"tool_calls":[)"
                                       R"({"id":"call_1","type":"function","function":{"name":"get_report","arguments":"{\"id\":42}"}},)"
                                       R"({"index":5,"id":"call_2","type":"function","function":{"arguments":"{}","name":"f 2"}},)"
                                       R"({"function":{"name":"g"}},{"function":null,"index":null},{"id":"c"}]})"));
    read_in_one_pass(chat, chat_answer(R"({"content":null,"function_call":{"name":"f","arguments":"{\"n\":12}"}})"));
    read_in_one_pass(chat, chat_answer(R"({"content":"a","tool_calls":null,"function_call":null,"refusal":null})"));
    // The text after members that hold texts, and members in any order.
    read_in_one_pass(chat, R"({"choices":[{"finish_reason":"stop","message":{"refusal":"r 1","tool_calls":[{"function":)"
                           R"({"arguments":"x 2"},"index":3}],"content":"c 3","role":"assistant"},"index":2}],"id":"x"})");
    // Several choices, some sharing an index.
    read_in_one_pass(chat, R"({"choices":[{"index":0,"message":{"content":"report 0"}},{"index":1,"message":)"
                           R"({"content":"report 1"}},{"index":1,"message":{"content":"again 1"}},{"message":{"content":"no index"}}]})");
    read_in_one_pass(chat, R"({"choices":[{"index":-4,"message":null},{"index":null,"message":{}}],"usage":null})");
    read_in_one_pass(chat, R"({"choices":[]})");
    // Strings that are no choice's text: scanned on their own; the server's own are not.
    read_in_one_pass(chat, chat_answer(R"({"role":"assistant","content":"hi","annotations":[{"type":"url","url":"https://r/1"}],)"
                                       R"("audio":{"id":"a","transcript":"report 3","data":""}})",
                                       R"(,"x_choice":{"note":"report 5"},"delta":null,"text":null)",
                                       R"(,"x_debug":{"echo":["report 6",1.5,true,null,{"id":"report 7"}]},"service_tier":"default",)"
                                       R"("system_fingerprint":"fp 8","completion_probabilities":null)"));
    read_in_one_pass(chat, R"({"choices":[{"index":0,"message":{"content":"report"}}],"usage":{"prompt_tokens":5,)"
                           R"("prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":3}}})");
    // Escaped keys are read unescaped, as the parsed answer reads them.
    read_in_one_pass(chat, R"({"ch\u006fices":[{"index":0,"m\u0065ssage":{"c\u006fntent":"report 1","r\u006fle":"x 2"}}]})");
    // Long texts with escapes come from the parser in parts.
    std::string long_text;
    for (int i = 0; i < 3000; ++i) long_text += "line " + std::to_string(i) + "\\n\\u00e9";
    read_in_one_pass(chat, chat_answer(R"({"content":")" + long_text + R"(","reasoning_content":")" + long_text + "\"}",
                                       R"(,"x":")" + long_text + "\""));
    read_in_one_pass(chat, "{\n  \"choices\" : [\n    { \"index\" : 0 , \"message\" : { \"content\" : \"report\" } }\n  ]\r\n}\n");

    const Endpoint completions = Endpoint::completions;
    read_in_one_pass(completions, R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[)"
                                  R"({"text":"the report 1","index":0,"logprobs":null,"finish_reason":"length"},)"
                                  R"({"text":"","index":1},{"text":null,"index":2}],"usage":{"total_tokens":3}})");
    // A completion's message is no text of it, but a string like any other.
    read_in_one_pass(completions, R"({"choices":[{"index":0,"message":{"content":"report 1"},"delta":{"content":"x"}}]})");
    // A chat answer read as chat for an embeddings request, as the parsed reading reads it.
    read_in_one_pass(Endpoint::embeddings, chat_answer(R"({"content":"report"})"));
  }

  TEST_CASE("answers the one pass does not vouch for are read parsed, and get its very answer") {
    const Endpoint chat = Endpoint::chat_completions;
    for (const char* body : {"", " ", "[]", "null", "\"x\"", "{", "{}", R"({"choices":[]} x)", "\xEF\xBB\xBF{}",
                             R"({"choices":null})", R"({"choices":{}})", R"({"choices":"report"})", R"({"choices":[1]})",
                             R"({"choices":[null]})", R"({"choices":[[]]})", R"({"choices":[{"index":0},"report 1"]})",
                             R"({"choices":[{"message":{"content":"\ud800"}}]})",
                             "{\"choices\":[{\"message\":{\"content\":\"\xC3\x28\"}}]}",
                             R"({"choices":[{"index":0,"message":{"content":"a"}}],"choices":[]})",
                             R"({"choices":[{"index":0,"message":{"content":"a","content":"b"}}]})",
                             R"({"choices":[{"index":0,"message":{"content":"a","c\u006fntent":"b"}}]})",
                             R"({"id":{"a":1,"a":2},"choices":[]})", R"({"x":"1","\u0078":"2","choices":[]})",
                             R"({"choices":[{"index":0,"message":{"content":"a"},"index":1}]})"})
      read_parsed(chat, body);
    // An object of more keys than the one pass compares.
    std::string keys = R"({"choices":[{"index":0,"message":{"content":"report"}}],"x":{)";
    for (int i = 0; i < 70; ++i) keys += std::string(i > 0 ? "," : "") + "\"k" + std::to_string(i) + "\":\"v " + std::to_string(i) + "\"";
    read_parsed(chat, keys + "}}");
    // Texts in shapes no filter reads.
    for (const char* message : {R"({"content":[{"type":"text","text":"report 1"}]})", R"({"content":7})",
                                R"({"content":{}})", R"({"refusal":true})", R"({"tool_calls":{"function":{"arguments":"x"}}})",
                                R"({"tool_calls":["x 1"]})", R"({"tool_calls":[null]})", R"({"tool_calls":[{"function":"f"}]})",
                                R"({"tool_calls":[{"function":{"arguments":{"id":1}}}]})", R"({"function_call":"f"})",
                                R"({"function_call":{"arguments":[]}})", R"("report")", "[]", "1"})
      read_parsed(chat, chat_answer(message));
    // Where the other mode keeps its text, an index that is no integer.
    for (const char* members : {R"(,"delta":{"content":"report 1"})", R"(,"delta":{})", R"(,"text":"report 2")",
                                R"(,"text":"")", R"(,"delta":"")"})
      read_parsed(chat, chat_answer(R"({"content":"a"})", members));
    for (const char* index : {R"("1")", "1.0", "18446744073709551615", "true", "{}", "[]"})
      read_parsed(chat, R"({"choices":[{"index":)" + std::string(index) + R"(,"message":{"content":"report 1"}}]})");
    read_parsed(chat, chat_answer(R"({"tool_calls":[{"index":"1","function":{"arguments":"x 1"}}]})"));
    read_parsed(chat, chat_answer(R"({"tool_calls":[{"index":2.0,"function":{"arguments":"x 1"}}]})"));
    read_parsed(Endpoint::completions, R"({"choices":[{"index":0,"text":["report"]}]})");
    // Log probabilities the policy withholds: the parsed answer puts null in their place.
    read_parsed(chat, R"({"choices":[{"index":0,"message":{"content":"a"},"logprobs":{"content":[{"token":"a"}]}}]})", true);
    read_parsed(chat, chat_answer(R"({"content":"a"})", "", R"(,"completion_probabilities":[{"content":"a"}])"), true);
    read_parsed(chat, chat_answer(R"({"content":"a"})", "", R"(,"id":{"logprobs":[1]})"), true);
    // ... and are read in one pass where they are not withheld.
    CHECK(compare(chat, false, Behaviour{}, chat_answer(R"({"content":"a"})", "",
                                                        R"(,"completion_probabilities":[{"content":"a 1"}])")) ==
          WholeRoute::one_pass);
    // Deeper than the parser goes, either way.
    read_parsed(chat, R"({"choices":[],"x":)" + std::string(40, '[') + std::string(40, ']') + "}");
  }

  TEST_CASE("a backend inventing choices without end is stopped at max_texts by either reading") {
    std::string choices;
    for (std::size_t i = 0; i <= ResponseRewriter::max_texts; ++i)
      choices += (i ? "," : "") + std::string(R"({"index":)") + std::to_string(i) + R"(,"message":{"content":"x 1"}})";
    const std::string body = R"({"choices":[)" + choices + R"(],"x":"report 2"})";
    for (const Behaviour behaviour : {Behaviour{}, Behaviour{true, false}}) {
      CHECK(compare(Endpoint::chat_completions, false, behaviour, body) == WholeRoute::one_pass);
      const Outcome outcome = rewrite(Endpoint::chat_completions, false, behaviour, AnswerReading::one_pass_first, body);
      CHECK(outcome.failure == "the answer has more than 1024 texts (choices times their fields)");
    }
  }

  TEST_CASE("every single-byte change to the benchmark's answer gets the same answer both ways") {
    const std::string original = bench_answer();
    static constexpr char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'a', ' ', 'n', '\x80'};
    Routes routes;
    for (std::size_t at = 0; at < original.size(); ++at) {
      std::vector<std::string> changed = {std::string(original).erase(at, 1)};
      for (const char byte : bytes) {
        if (original[at] != byte) {
          changed.push_back(original);
          changed.back()[at] = byte;
        }
        changed.push_back(std::string(original).insert(at, 1, byte));
      }
      for (const std::string& body : changed) {
        routes.add(compare(Endpoint::chat_completions, at % 2 == 0, Behaviour{}, body));
        routes.add(compare(Endpoint::chat_completions, at % 2 == 1, Behaviour{true, true}, body));
        routes.add(compare(Endpoint::completions, at % 3 == 0, Behaviour{true, false}, body));
      }
    }
    // Changes inside the texts and spacing leave ordinary answers; most others break the JSON.
    MESSAGE("one pass ", routes.one_pass, ", then parsed ", routes.one_pass_then_parsed, ", parsed ", routes.parsed);
    CHECK(routes.one_pass > 5'000);
    CHECK(routes.one_pass_then_parsed > 5'000);
    CHECK(routes.parsed > 5'000);
  }

  TEST_CASE("generated answers, right and wrong, get the same answer both ways") {
    AnswerGenerator generator(20250115);
    std::mt19937 random(7);
    Routes routes;
    for (int i = 0; i < 5'000; ++i) {
      const Endpoint endpoint = generator.endpoint();
      const std::string body = generator.answer(endpoint);
      const bool withhold = random() % 2 == 0;
      const Behaviour behaviour{random() % 3 != 0, random() % 2 == 0};
      routes.add(compare(endpoint, withhold, behaviour, body));
    }
    MESSAGE("one pass ", routes.one_pass, ", then parsed ", routes.one_pass_then_parsed, ", parsed ", routes.parsed);
    CHECK(routes.one_pass > 500);
    CHECK(routes.one_pass_then_parsed > 500);
    CHECK(routes.parsed > 500);
  }
}
