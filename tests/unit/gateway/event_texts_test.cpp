// The one-pass reading of streamed events against the parsed reading it stands in for: for every
// stream, the same texts given to the same filters in the same order, the same failure, and events
// that a client reads alike (byte for byte where no filter changed them; the same JSON where one did,
// whether the changed texts were written in their places or the event parsed and written again);
// and the one-pass routes taken for ordinary events.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "gateway/pipeline/answer_texts.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "json_generator.hpp"
#include "recording_filter.hpp"
#include "sse_alike.hpp"

using namespace sovereign::gateway;
using namespace sovereign::gateway::testing;

namespace {

struct StreamOutcome {
  std::string out;
  bool failed = false;
  std::vector<Seen> seen;
  EventRoutes routes;
};

// A stream through a rewriter of recording chains, given in chunks whose lengths `cuts` seeds (0:
// all at once).
StreamOutcome rewrite_stream(Endpoint endpoint, bool withhold_logprobs, Behaviour behaviour, AnswerReading reading,
                             std::string_view body, std::uint32_t cuts) {
  StreamOutcome outcome;
  std::size_t chains = 0;
  ResponseRewriter rewriter(endpoint, withhold_logprobs, recording_chains(outcome.seen, chains, behaviour), reading);
  std::mt19937 random(cuts);
  for (std::size_t at = 0; at < body.size() && !rewriter.failed() && !rewriter.ended();) {
    const std::size_t n = cuts == 0 ? body.size() : 1 + random() % 64;
    outcome.out += rewriter.on_data(body.substr(at, n));
    at += n;
  }
  outcome.out += rewriter.finish();
  outcome.failed = rewriter.failed();
  outcome.routes = rewriter.event_routes();
  return outcome;
}

// Rewrites `body` both ways and checks that they agree; returns how the one pass read its events.
EventRoutes compare(Endpoint endpoint, bool withhold_logprobs, Behaviour behaviour, std::string_view body,
                    std::uint32_t cuts = 0) {
  const StreamOutcome parsed = rewrite_stream(endpoint, withhold_logprobs, behaviour, AnswerReading::parsed, body, cuts);
  const StreamOutcome read = rewrite_stream(endpoint, withhold_logprobs, behaviour, AnswerReading::one_pass_first, body, cuts);
  INFO("endpoint ", endpoint == Endpoint::completions ? "completions" : "chat", " withhold ", withhold_logprobs,
       " change ", behaviour.change, " fail ", behaviour.fail_on_marker, " hold ", behaviour.hold_digits, " note ",
       behaviour.note_at_end, " cuts ", cuts,
       "\nstream:\n", body, "\none pass:\n", read.out, "\nparsed:\n", parsed.out);
  CHECK(parsed.routes.one_pass + parsed.routes.spliced + parsed.routes.one_pass_then_parsed == 0);
  CHECK(read_alike(read.out, parsed.out));
  CHECK(read.failed == parsed.failed);
  CHECK_MESSAGE(read.seen == parsed.seen, "one pass:", describe(read.seen), "\nparsed:", describe(parsed.seen));
  // Events no filter changed go out byte for byte both ways.
  if (read.routes.spliced + read.routes.one_pass_then_parsed == 0 && parsed.out.find("data: ") == std::string::npos)
    CHECK(read.out == parsed.out);
  return read.routes;
}

struct Routes {
  std::size_t one_pass = 0, spliced = 0, one_pass_then_parsed = 0, parsed = 0;
  void add(const EventRoutes& routes) {
    one_pass += routes.one_pass;
    spliced += routes.spliced;
    one_pass_then_parsed += routes.one_pass_then_parsed;
    parsed += routes.parsed;
  }
};

Routes compare_every_way(Endpoint endpoint, std::string_view body) {
  Routes routes;
  for (const bool withhold : {false, true})
    for (const Behaviour behaviour : {Behaviour{}, Behaviour{true, false, false}, Behaviour{true, true, true},
                                      Behaviour{false, false, true}, Behaviour{false, false, false, true}})
      for (const std::uint32_t cuts : {0U, 7U}) routes.add(compare(endpoint, withhold, behaviour, body, cuts));
  return routes;
}

void read_in_one_pass(Endpoint endpoint, std::string_view body) {
  INFO("expected to be read in one pass: ", body);
  CHECK(compare_every_way(endpoint, body).parsed == 0);
}

// Streams whose every event with data the one pass leaves to the parsed reading.
void read_parsed(Endpoint endpoint, std::string_view body, bool withhold = false) {
  INFO("expected to be read parsed: ", body);
  for (const Behaviour behaviour : {Behaviour{}, Behaviour{true, true, true}}) {
    const EventRoutes routes = compare(endpoint, withhold, behaviour, body);
    CHECK(routes.one_pass + routes.spliced + routes.one_pass_then_parsed == 0);
    CHECK(routes.parsed > 0);
  }
}

std::string sse_event(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }

std::string chunk(std::string_view delta, std::string_view finish = "null", std::string_view more = "") {
  return sse_event(R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":)" +
              std::string(delta) + R"(,"logprobs":null,"finish_reason":)" + std::string(finish) + "}]" + std::string(more) + "}");
}

// The stream the gateway benchmark's upstream sends (tests/bench/gateway_bench.sh --stream): the
// bench answer's text an event a word, between an event with the role and the end events. The test
// runs from the source root.
std::string bench_stream() {
  std::ifstream file("tests/bench/gateway/chat_response.json", std::ios::binary);
  REQUIRE_MESSAGE(file.good(), "tests/bench/gateway/chat_response.json, read from the source root");
  std::stringstream text;
  text << file.rdbuf();
  const boost::json::value answer = boost::json::parse(text.str());
  const std::string content(answer.at("choices").at(0).at("message").at("content").as_string());
  std::string stream = chunk(R"({"role":"assistant","content":""})");
  for (std::size_t at = 0; at < content.size();) {
    const std::size_t space = content.find(' ', at + 1);
    const std::size_t end = space == std::string::npos ? content.size() : space;
    stream += chunk(boost::json::serialize(boost::json::object{{"content", content.substr(at, end - at)}}));
    at = end;
  }
  return stream + chunk("{}", R"("stop")") + "data: [DONE]\n\n";
}

// Streams from events that are right, wrong or unusual, in any order and spacing.
class StreamGenerator : JsonGenerator {
 public:
  explicit StreamGenerator(std::uint32_t seed) : JsonGenerator(seed, {"", "", "", "", " ", "\t"}, 4) {}

  Endpoint endpoint() { return chance(25) ? Endpoint::completions : Endpoint::chat_completions; }

  std::string stream(Endpoint endpoint) {
    std::string out;
    const std::size_t events = 1 + pick(8);
    for (std::size_t i = 0; i < events; ++i) out += event_lines(event(endpoint, i + 1 == events));
    if (chance(80)) out += "data: [DONE]\n\n";
    if (chance(10)) out += event_lines(event(endpoint, false));  // after the end: never read
    return out;
  }

 private:
  std::string event(Endpoint endpoint, bool last) {
    std::vector<std::pair<std::string, std::string>> members;
    auto maybe = [&](const char* key, std::initializer_list<const char*> values, int percent) {
      if (chance(percent)) members.emplace_back(key, one_of(values));
    };
    // Mostly what servers write; now and then a value of another kind.
    const bool odd = chance(10);
    maybe("id", odd ? std::initializer_list<const char*>{R"("chatcmpl-\u0039")", R"("report 42")", "7", "null", "{}"}
                    : std::initializer_list<const char*>{R"("chatcmpl-9")", R"("chatcmpl-10")"}, 85);
    maybe("object", {R"("chat.completion.chunk")", R"("text_completion")", odd ? "true" : "null"}, 80);
    maybe("created", odd ? std::initializer_list<const char*>{"1.5", "18446744073709551615", R"("1700000000")", "null", "true"}
                         : std::initializer_list<const char*>{"1700000000", "1700000001"}, 75);
    maybe("model", {R"("m")", R"("report-model")", odd ? R"({"name":"report"})" : R"("n")"}, 75);
    maybe("system_fingerprint", {R"("fp_1")", "null"}, 30);
    maybe("service_tier", {R"("default")", "null"}, 15);
    maybe("usage", {"null", R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})", R"({"note":"report 7"})"},
          last ? 50 : 10);
    maybe("x_extra", {R"("a report of 12")", R"({"nested":["report",1,{"type":"report"},""]})", "3.25", "false"}, 8);
    maybe("logprobs", {"null", R"({"content":[{"token":"x 1"}]})"}, 4);
    if (chance(96)) members.emplace_back("choices", choices(endpoint, last));
    if (!members.empty() && chance(1)) members.push_back(members[pick(members.size())]);  // a repeated key
    return object(members);
  }

  std::string choices(Endpoint endpoint, bool last) {
    if (chance(1)) return one_of({"null", "{}", R"("report")", "1"});
    if (chance(6)) return "[]";
    std::string list = "[";
    const std::size_t count = chance(80) ? 1 : 1 + pick(3);
    for (std::size_t i = 0; i < count; ++i) list += (i > 0 ? "," + space() : "") + choice(endpoint, i, last);
    return list + "]";
  }

  std::string choice(Endpoint endpoint, std::size_t position, bool last) {
    if (chance(1)) return one_of({"null", R"("report")", "[]", "2"});
    std::vector<std::pair<std::string, std::string>> members;
    if (chance(95))
      members.emplace_back("index", chance(97) ? std::to_string(chance(90) ? position : pick(3))
                                               : one_of({R"("1")", "1.0", "null", "-1", "18446744073709551615", "{}"}));
    const bool completions = endpoint == Endpoint::completions;
    if (completions ? chance(90) : chance(1)) members.emplace_back("text", text_value());
    if (completions ? chance(1) : chance(92)) members.emplace_back("delta", delta());
    if (chance(1)) members.emplace_back("message", one_of({"null", "{}", R"({"content":"report"})", R"("")"}));
    if (chance(85))
      members.emplace_back("finish_reason", last ? one_of({R"("stop")", R"("length")", R"("tool_calls")", "null", R"("")", "1"})
                                                 : one_of({"null", "null", "null", "null", "null", R"("")", R"("stop")", "true"}));
    if (chance(60)) members.emplace_back("logprobs", chance(95) ? "null" : R"({"content":[{"token":"report","logprob":-0.1}]})");
    if (chance(4)) members.emplace_back("extra", one_of({R"("report 9")", R"({"a":"b 1"})", "[1,2]"}));
    if (!members.empty() && chance(1)) members.push_back(members[pick(members.size())]);
    return object(members);
  }

  std::string delta() {
    if (chance(1)) return one_of({"null", R"("report")", "[]", "{}"});
    std::vector<std::pair<std::string, std::string>> members;
    if (chance(20)) members.emplace_back("role", one_of({R"("assistant")", "null", "1"}));
    if (chance(80)) members.emplace_back("content", text_value());
    if (chance(12)) members.emplace_back("reasoning_content", text_value());
    if (chance(5)) members.emplace_back("reasoning", text_value());
    if (chance(8)) members.emplace_back("refusal", text_value());
    if (chance(15)) members.emplace_back("tool_calls", tool_calls());
    if (chance(5))
      members.emplace_back("function_call", one_of({R"({"name":"f","arguments":"{\"n\":"})", R"({"arguments":"12}"})", "null",
                                                    R"({"name":"f"})", R"({"arguments":{}})", R"("f")"}));
    if (chance(4)) members.emplace_back("audio", one_of({"null", R"({"id":"a","transcript":"report 3"})"}));
    if (!members.empty() && chance(1)) members.push_back(members[pick(members.size())]);
    return object(members);
  }

  std::string tool_calls() {
    if (chance(6)) return one_of({"null", "{}", R"("call")", "[null]", R"([1])"});
    std::string list = "[";
    const std::size_t count = 1 + pick(2);
    for (std::size_t i = 0; i < count; ++i) {
      std::vector<std::pair<std::string, std::string>> members;
      if (chance(85)) members.emplace_back("index", chance(95) ? one_of({"0", "0", "1", "2"}) : one_of({R"("1")", "null", "1.5"}));
      if (chance(30)) members.emplace_back("id", one_of({R"("call_1")", R"("call_2")"}));
      if (chance(30)) members.emplace_back("type", R"("function")");
      if (chance(95)) {
        std::string function = chance(40) ? R"({"name":"get_report")" : "{";
        if (chance(90))
          function += std::string(function.size() > 1 ? "," : "") + R"("arguments":)" +
                      one_of({R"("{\"id\":4")", R"("2}")", R"("")", "null", R"({"id":1})", text_value().c_str()});
        members.emplace_back("function", chance(96) ? function + "}" : one_of({"null", R"("f")"}));
      }
      list += (i > 0 ? "," : "") + object(members);
    }
    return list + "]";
  }

  // A JSON value where a text belongs: mostly a string (plain, with digits, escaped, unicode, a
  // character cut between events, with the markers the filters react to); sometimes null or no
  // string at all.
  std::string text_value() {
    switch (pick(16)) {
      case 0: return "null";
      case 1:
        if (chance(50)) return R"("report 1")";
        return one_of({"1", "{}", "[]", R"([{"type":"text","text":"report"}])", "true"});
      case 2: return R"("caf\u00e9 \"quoted\" report\\slash\nline 12")";
      case 3: return "\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 report\"";
      case 4: return R"("\ud83d\ude00 and \u0000 nul 3")";
      case 5: return one_of({"\"cut \xC3\"", "\"\xA9 joined\"", "\"\xE6\x97\"", "\"\xA5 end\""});
      case 6: return R"("a report that should FAIL")";
      case 7: return R"("")";
      case 8: return R"("the report")";
      case 9: return R"("account 12")";
      case 10: return R"("345 678")";
      case 11: return "\"" + std::to_string(pick(1000)) + "\"";
      default: return "\" " + std::string(1 + pick(12), 'w') + "\"";
    }
  }

  // An event's data as lines: mostly one data line, sometimes several, a comment, other fields, CRLF.
  std::string event_lines(const std::string& json) {
    const std::string end = chance(8) ? "\r\n" : "\n";
    std::string out;
    if (chance(5)) out += ": keep-alive" + end;
    if (chance(4)) out += "event: chunk" + end;
    if (chance(6)) {
      const std::size_t cut = json.find(',');
      if (cut != std::string::npos) return out + "data: " + json.substr(0, cut + 1) + end + "data:" + json.substr(cut + 1) + end + end;
    }
    return out + (chance(90) ? "data: " : "data:") + json + end + end;
  }
};

}  // namespace

TEST_SUITE("event texts") {
  TEST_CASE("the benchmark's stream is read in one pass; texts a filter changes are written in their places") {
    const std::string stream = bench_stream();
    const auto count = [&](std::string_view what) {
      std::size_t n = 0;
      for (const std::string_view event : split(stream, "\n\n")) n += event.find(what) != std::string_view::npos ? 1 : 0;
      return n;
    };
    const std::size_t events = count("data: {");
    const EventRoutes plain = compare(Endpoint::chat_completions, true, Behaviour{}, stream);
    CHECK(plain.one_pass == events);
    CHECK(plain.spliced + plain.one_pass_then_parsed + plain.parsed == 0);
    // The events whose text holds "report" change, each in its place.
    const EventRoutes changed = compare(Endpoint::chat_completions, true, Behaviour{true, false, false}, stream);
    CHECK(changed.spliced == count("report"));
    CHECK(changed.spliced > 0);
    CHECK(changed.one_pass == events - changed.spliced);
    // Each event's digits held back until the next: every event with one changes, in its place.
    std::string digits = chunk(R"({"role":"assistant","content":""})");
    for (int i = 0; i < 20; ++i) digits += chunk(R"({"content":"word )" + std::to_string(i) + R"("})");
    digits += chunk(R"({"content":""})", R"("stop")") + "data: [DONE]\n\n";
    const EventRoutes held = compare(Endpoint::chat_completions, false, Behaviour{false, false, true}, digits);
    CHECK(held.spliced == 21);  // the 20 texts, and the last event's "" that gets the held "19"
    CHECK(held.one_pass == 1);
    CHECK(held.one_pass_then_parsed + held.parsed == 0);
  }

  TEST_CASE("a changed text is written in its place as a JSON string: the rest of the event as the backend wrote it") {
    std::vector<Seen> seen;
    std::size_t chains = 0;
    ResponseRewriter rewriter(Endpoint::chat_completions, false, recording_chains(seen, chains, Behaviour{true, false, false}));
    const std::string event = R"(data: {"choices" : [ {"index":0, "delta":{"content":"a report \"4\""},"finish_reason":null} ], "z":1.50})";
    // The escaped quotes leave the text out of place: parsed and written again.
    CHECK(rewriter.on_data(event + "\n\n") == R"(data: {"choices":[{"index":0,"delta":{"content":"a REPORT \"#\""},"finish_reason":null}],"z":1.5E0})" "\n\n");
    CHECK(rewriter.event_routes().one_pass_then_parsed == 1);
    const std::string plain = R"(data: {"choices" : [ {"index":0, "delta":{"content":"a report 4"},"finish_reason":null} ], "z":1.50})";
    CHECK(rewriter.on_data(plain + "\n\n") == R"(data: {"choices" : [ {"index":0, "delta":{"content":"a REPORT #"},"finish_reason":null} ], "z":1.50})" "\n\n");
    CHECK(rewriter.event_routes().spliced == 1);
    // A number beyond what a double holds goes out as the backend wrote it (a parsed event writes the
    // double it was read into).
    CHECK(rewriter.on_data(R"(data: {"id":77777777777777777777777,"choices":[{"index":0,"delta":{"content":"report"}}]})" "\n\n") ==
          R"(data: {"id":77777777777777777777777,"choices":[{"index":0,"delta":{"content":"REPORT"}}]})" "\n\n");
    // Text that needs escaping when written is escaped.
    ResponseRewriter quoting(Endpoint::chat_completions, false, [](TextForm) {
      FilterChain chain;
      class Quote : public TextFilter {
       public:
        std::string feed(std::string_view text) override { return "\"" + std::string(text) + "\"\n\\"; }
        std::string finish() override { return {}; }
      };
      chain.push_back(std::make_unique<Quote>());
      return chain;
    });
    CHECK(quoting.on_data(R"(data: {"choices":[{"index":0,"delta":{"content":"x"}}]})" "\n\n") ==
          R"(data: {"choices":[{"index":0,"delta":{"content":"\"x\"\n\\"}}]})" "\n\n");
    CHECK(quoting.event_routes().spliced == 1);
  }

  TEST_CASE("ordinary streams are read in one pass: chat, tool calls, completions, usage, several choices") {
    const Endpoint chat = Endpoint::chat_completions;
    read_in_one_pass(chat, chunk(R"({"role":"assistant","content":""})") + chunk(R"({"content":"the report 12"})") +
                               chunk(R"({"content":" 34"})") + chunk("{}", R"("stop")") + "data: [DONE]\n\n");
    read_in_one_pass(chat, chunk(R"({"reasoning_content":"think 1"})") + chunk(R"({"reasoning":"why 2","content":"a 3"})") +
                               chunk(R"({"refusal":"no 4"})", R"("stop")"));
    read_in_one_pass(chat, chunk(R"({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_report","arguments":""}}]})") +
                               chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"id\":4"}}]})") +
                               chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"2}"}},{"index":1,"function":{"name":"f 1","arguments":"7"}}]})") +
                               chunk("{}", R"("tool_calls")") + "data: [DONE]\n\n");
    read_in_one_pass(chat, chunk(R"({"function_call":{"name":"f","arguments":"{\"n\":1"}})") +
                               chunk(R"({"function_call":{"arguments":"2}"}})", R"("function_call")"));
    // Ollama's and SGLang's "" where OpenAI writes null; a usage event without choices or with none.
    read_in_one_pass(chat, chunk(R"({"content":"report 5"})", R"("")") + chunk(R"({"content":"6"})", R"("stop")") +
                               sse_event(R"({"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})") +
                               sse_event(R"({"usage":{"total_tokens":3}})") + "data: [DONE]\n\n");
    // Several choices, in one event and apart; a choice that finishes while another goes on.
    read_in_one_pass(chat, sse_event(R"({"choices":[{"index":0,"delta":{"content":"a 1"}},{"index":1,"delta":{"content":"b 2"}}]})") +
                               sse_event(R"({"choices":[{"index":1,"delta":{"content":"3"},"finish_reason":"stop"},{"index":0,"delta":{"content":"4"}}]})") +
                               sse_event(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})"));
    // Escapes, unicode, other strings a server adds, an envelope that changes.
    read_in_one_pass(chat, chunk(R"({"content":"caf\u00e9 \"q\" \\ \/ \n report 7"})", "null", R"(,"x_note":"report 8")") +
                               sse_event(R"({"id":"chatcmpl-2","created":1700000001,"model":"n","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"h\u00e9 9"},"finish_reason":"stop"}]})"));
    read_in_one_pass(chat, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\xC3\xA9llo \xE6\x97\xA5 1\"}}]}\n\n");
    // Data over several lines, comments, other fields and CRLF.
    read_in_one_pass(chat, ": hi\r\nevent: x\r\ndata: {\"choices\":[{\"index\":0,\r\ndata: \"delta\":{\"content\":\"report 1\"}}]}\r\n\r\n" +
                               chunk(R"({"content":"2"})", R"("stop")"));
    const Endpoint completions = Endpoint::completions;
    read_in_one_pass(completions, sse_event(R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":"the report 1","index":0,"logprobs":null,"finish_reason":null}]})") +
                                      sse_event(R"({"choices":[{"text":"2","index":0,"finish_reason":"length"}]})") + "data: [DONE]\n\n");
  }

  TEST_CASE("text held back at a choice's end goes to the field the event carries, or is placed in the parsed event") {
    const std::string carried = chunk(R"({"content":"a 1"})") + chunk(R"({"content":"2"})", R"("stop")");
    const EventRoutes routes = compare(Endpoint::chat_completions, false, Behaviour{false, false, true}, carried);
    CHECK(routes.spliced == 2);  // "a " (the 1 held), then "12"
    const std::string placed = chunk(R"({"content":"a 1","reasoning_content":"r 2"})") + chunk("{}", R"("stop")");
    const EventRoutes placing = compare(Endpoint::chat_completions, false, Behaviour{false, false, true}, placed);
    CHECK(placing.spliced == 1);
    CHECK(placing.one_pass_then_parsed == 1);
  }

  TEST_CASE("events the one pass does not vouch for are read parsed, and get its very answer") {
    const Endpoint chat = Endpoint::chat_completions;
    for (const char* json : {R"({"choices":null})", R"({"choices":{}})", R"({"choices":"report"})", R"({"choices":[1]})",
                             R"({"choices":[null]})", R"({"choices":[{"index":"1","delta":{"content":"a"}}]})",
                             R"({"choices":[{"index":1.0,"delta":{"content":"a"}}]})", R"({"choices":[{"index":null,"delta":{"content":"a"}}]})",
                             R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":null,"function":{"arguments":"1"}}]}}]})",
                             R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":"0","function":{"arguments":"1"}}]}}]})",
                             R"({"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":1}]})",
                             R"({"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":true}]})",
                             R"({"choices":[{"index":0,"delta":{"content":"a"},"message":{"content":"b"}}]})",
                             R"({"choices":[{"index":0,"delta":{"content":"a"},"text":"b"}]})",
                             R"({"choices":[{"index":0,"delta":{"content":["a"]}}]})", R"({"choices":[{"index":0,"delta":"a"}]})",
                             R"({"created":"1","choices":[]})", R"({"model":{"name":"m"},"choices":[]})", R"({"id":[],"choices":[]})",
                             R"({"choices":[],"choices":[]})", R"({"choices":[{"index":0,"delta":{"content":"a","c\u006fntent":"b"}}]})",
                             "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"cut \xC3\"}}]}", "[]", "1", "{", "x"})
      read_parsed(chat, sse_event(json));
    read_parsed(chat, sse_event(R"({"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a"}]}}]})"), true);
  }

  TEST_CASE("every single-byte change to the benchmark's stream gets the same answer both ways") {
    const std::string original = bench_stream().substr(0, 1200);  // the first events
    static constexpr char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'a', ' ', '\n', '\x80'};
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
        routes.add(compare(Endpoint::chat_completions, at % 2 == 0, Behaviour{false, false, at % 3 == 0}, body));
        routes.add(compare(Endpoint::chat_completions, at % 2 == 1, Behaviour{true, true, at % 3 == 1}, body));
      }
    }
    MESSAGE("one pass ", routes.one_pass, ", spliced ", routes.spliced, ", then parsed ", routes.one_pass_then_parsed,
            ", parsed ", routes.parsed);
    CHECK(routes.one_pass > 50'000);
    CHECK(routes.spliced > 10'000);
    CHECK(routes.parsed > 10'000);
  }

  TEST_CASE("generated streams, right and wrong, get the same answer both ways, however cut") {
    StreamGenerator generator(20261125);
    std::mt19937 random(11);
    Routes routes;
    for (int i = 0; i < 4'000; ++i) {
      const Endpoint endpoint = generator.endpoint();
      const std::string body = generator.stream(endpoint);
      const bool withhold = random() % 2 == 0;
      const Behaviour behaviour{random() % 3 != 0, random() % 2 == 0, random() % 2 == 0, random() % 4 == 0};
      routes.add(compare(endpoint, withhold, behaviour, body, random() % 3 == 0 ? 0 : random()));
    }
    MESSAGE("one pass ", routes.one_pass, ", spliced ", routes.spliced, ", then parsed ", routes.one_pass_then_parsed,
            ", parsed ", routes.parsed);
    CHECK(routes.one_pass > 1'000);
    CHECK(routes.spliced > 1'000);
    CHECK(routes.one_pass_then_parsed > 500);
    CHECK(routes.parsed > 1'000);
  }
}
