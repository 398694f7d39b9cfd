#pragma once
// Rewrites the text of OpenAI responses on their way back to the client, choice by choice:
// server-sent events are parsed as they stream (an event split across upstream chunks is
// reassembled first), each text of each choice (content, reasoning, refusal, every tool call's
// arguments, a deprecated function_call's arguments; a completion's text) goes through its own chain of filters (output scanning, then
// token restore), and the event is re-serialised. Filters may hold text back (a token or a
// detector match that is not complete yet); it is released with the choice's finish_reason (a
// reason: the "" some servers write in every event ends nothing), and text of the choice after that
// ends the stream (it could not be checked with what came before). An event's data is read as a
// client reads it, its data lines joined with LF: an event no filter changes goes out with the
// lines it came with, a changed one as one data line.
// A stream ends at the event of its `data: [DONE]` line, as StreamEnd finds it for every stream:
// events a backend sends after it are not relayed, and the forwarder reads no more
// (ResponseTransform::ended). A body that ends before that line, or in the middle of
// an event, is cut short: the unfinished event is dropped, and the forwarder reports the break. A
// backend that cuts a character between the bytes of two events has it joined before the filters
// see it; text that is not UTF-8 otherwise ends the stream (fail closed).
// A whole (not streamed) answer has each of its texts filtered once, as complete output. Answers and
// events are read in one pass of the parser (answer_texts.hpp), and parsed into a document only where
// that pass cannot vouch for them (an unusual shape, a refusal) or where a filter changed a text that
// cannot be written in its place: an event's changed texts without escapes are written where they
// stood, the rest of its bytes as the backend wrote them.
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/openai/request_body.hpp"
#include "gateway/openai/stream_end.hpp"
#include "gateway/openai/sse_lines.hpp"
#include "gateway/pipeline/answer_texts.hpp"
#include "gateway/upstream/forwarder.hpp"

namespace sovereign::gateway {

// One stage of a choice's text pipeline.
class TextFilter {
 public:
  virtual ~TextFilter() = default;
  virtual std::string feed(std::string_view text) = 0;
  virtual std::string finish() = 0;
  // A whole, non-streamed text: by default feed then finish; a filter may do it in one pass.
  virtual std::string complete(std::string_view text) {
    std::string out = feed(text);
    return out + finish();
  }
  // As complete(), but nothing where the text goes out as it came: a filter that knows it changed
  // nothing need not copy the text.
  virtual std::optional<std::string> complete_changed(std::string_view text) {
    std::string out = complete(text);
    if (out == text) return std::nullopt;
    return out;
  }
  // A filter that failed (e.g. a scan error) ends the response: fail closed.
  virtual bool failed() const { return false; }
  virtual std::string failure() const { return {}; }
};

// How a text of a choice is written: prose (content, reasoning, refusal, a completion's text), or
// JSON text inside the JSON string (a tool call's or function_call's arguments), where values are escaped.
enum class TextForm { prose, json };

using FilterChain = std::vector<std::unique_ptr<TextFilter>>;
using FilterChainFactory = std::function<FilterChain(TextForm form)>;

// How whole() reads an answer and on_data() a streamed event: in one pass of the parser where that
// pass can vouch for it, or always parsed, the reading the one pass is held to (tests compare the two).
enum class AnswerReading { one_pass_first, parsed };

// The way whole() read the last answer.
enum class WholeRoute {
  none,                // no answer yet
  one_pass,            // read in one pass; no filter changed a text (or the answer was refused)
  one_pass_then_parsed,  // read in one pass, then parsed to put the texts a filter changed in place
  parsed,              // an answer the one pass could not vouch for: parsed, and read as parsed
};

// How the streamed events with data were read, so far.
struct EventRoutes {
  std::size_t one_pass = 0;              // read in one pass; no filter changed a text: gone out as they came
  std::size_t spliced = 0;               // read in one pass; the changed texts written in their places
  std::size_t one_pass_then_parsed = 0;  // read in one pass, then parsed to put the changes in
  std::size_t parsed = 0;                // events the one pass could not vouch for
};

class ResponseRewriter : public ResponseTransform {
 public:
  // withhold_logprobs: the answer's text again, token by token, out of the filters' reach (a choice's
  // `logprobs`, llama.cpp's `completion_probabilities`, wherever they stand) is replaced by null.
  ResponseRewriter(Endpoint endpoint, bool withhold_logprobs, FilterChainFactory make_chain,
                   AnswerReading reading = AnswerReading::one_pass_first);

  std::string on_data(std::string_view chunk) override;
  std::string finish() override;
  std::string abandon() override;
  std::string whole(std::string body) override;
  std::string error_body(std::string body) override;
  bool failed() const override { return failed_; }
  std::string failure() const override { return failure_; }
  bool ended() const override { return ended_; }
  WholeRoute whole_route() const { return whole_route_; }
  const EventRoutes& event_routes() const { return event_routes_; }

  static constexpr std::size_t max_event_bytes = 4 * 1024 * 1024;
  // An error is a few lines; one larger than this is withheld rather than scanned.
  static constexpr std::size_t max_error_body_bytes = 64 * 1024;
  // Each text of each choice has its own filters: a backend inventing choice or tool-call indexes
  // without end must not grow them without bound (OpenAI allows n up to 128).
  static constexpr std::size_t max_texts = 1024;

 private:
  // One text stream of one choice (its content, its reasoning, one tool call's arguments...).
  struct Stream {
    FilterChain chain;
    bool finished = false;
    std::string cut_character;  // the first bytes of a character the next event completes
  };
  // Bytes with their line ends as LF: cut after the event of the stream's end line (end_), then read.
  std::string read_events(std::string normalized);
  std::string take_events(std::string_view cut);  // bytes end_ has cut
  // `ends`: the event holds the stream's end line (StreamEnd's decision, not the event's own).
  void rewrite_event(std::string_view event, bool ends, std::string& out);  // appended to `out`
  // `one_line`: the payload is one data line's (no line end in it).
  std::optional<std::string> rewrite_data(std::string_view payload, bool one_line);
  std::optional<std::string> rewrite_parsed_event(std::string_view payload);
  // The texts of a whole answer or event a filter changed: their place in AnswerTexts::texts, and what they became.
  using TextChanges = boost::container::small_vector<std::pair<std::size_t, std::string>, 2>;
  std::optional<std::string> rewrite_read_event(std::string_view payload, const AnswerTexts& read, bool one_line);
  void remember_envelope(const AnswerTexts& read);
  std::string end_stream();  // what ends the client's stream: held text released, then [DONE]
  std::string flush_choices();
  std::string run(Stream& stream, std::string_view text);
  std::string close(Stream& stream);
  std::optional<std::string> run_whole(Stream& stream, std::string_view text);  // nothing: unchanged
  std::optional<std::string> run_once(std::string_view text);  // a string that is no choice's text
  Stream* stream(std::int64_t choice, const std::string& field);  // null: max_texts reached
  std::string too_many_texts() const;
  std::string fail(const std::string& why);
  std::string fail_whole(const std::string& why);
  // Each text through its filters, once; false: the answer is refused (fail_whole).
  bool filter_whole(const AnswerTexts& texts, TextChanges& changes);
  std::string whole_parsed(std::string body);  // an answer the one-pass reader cannot vouch for
  // The answer parsed, with the texts the filters changed in place: `read`, found in one pass.
  std::string rewrite_read_answer(std::string_view body, const AnswerTexts& read, const TextChanges& changes);
  bool withhold_logprobs(boost::json::value& answer) const;  // true: one was replaced
  bool scan_other_strings(boost::json::value& answer);  // true: one was changed
  // Every string in `node` but server fields and those in `skip`, each whole; true: one was changed.
  bool scan_strings(boost::json::value& node, std::span<const boost::json::value* const> skip);
  void remember_envelope(const boost::json::object& event);

  Endpoint endpoint_;
  bool withhold_logprobs_;
  FilterChainFactory make_chain_;
  std::map<std::pair<std::int64_t, std::string>, Stream> streams_;  // by choice index and field
  std::string pending_;  // bytes of an event not complete yet
  // The id, object, created, model... of the backend's latest event: the events the gateway writes
  // itself (text released at the end of a stream) carry them too, as OpenAI's chunks all do.
  // By their place in envelope_members; null: not given yet.
  std::array<boost::json::value, envelope_members.size()> envelope_;
  SseLineEnds line_ends_;
  // Where the stream ends: read as the forwarder and the outcome gate read a stream relayed
  // untouched, so that one definition of the end line holds for every stream.
  StreamEnd end_;
  bool ended_ = false;   // the event of the end line was read: what follows is dropped
  bool not_utf8_ = false;  // the stream failed on a text that is not UTF-8
  bool failed_ = false;
  bool whole_answer_ = false;  // whole(): texts are read from `message`, not `delta`
  AnswerReading reading_;
  WholeRoute whole_route_ = WholeRoute::none;
  EventRoutes event_routes_;
  std::string failure_;  // why a whole answer could not be checked
};

}  // namespace sovereign::gateway
