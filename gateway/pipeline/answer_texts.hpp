#pragma once
// The texts of an answer, whole or one streamed event of it, that the response rewriter's filters
// read, in the order they read them: first every string of the answer that is no choice's text
// (each scanned on its own), in the order the answer writes them; then each choice's texts, choice
// by choice (its content, reasoning_content, reasoning, refusal, each tool call's arguments, the
// function_call's arguments; a completion's text). A whole chat answer's texts are its message's,
// a streamed event's its delta's.
//
// read_answer_texts and read_event_texts find them in one pass of the JSON parser, building
// nothing, for an ordinary answer or event; the rewriter then parses one only where a filter changed
// a text it cannot write in place. They vouch only for what the rewriter's reading of the parsed
// answer or event accepts, and find exactly the texts that reading finds; anything else they leave
// to that reading, so that every refusal is that reading's.
#include <array>
#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/container/small_vector.hpp>
#include <boost/json/kind.hpp>

#include "gateway/openai/request_body.hpp"

namespace sovereign::gateway {

struct AnswerText {
  std::string_view text;  // unescaped
  // The stream the text belongs to within its choice ("content", "tool_calls.2.arguments"...);
  // empty for a string that is no choice's text.
  std::string field;
  std::int64_t choice = 0;  // the choice's index, for a choice's text
  // The text is the answer's own bytes between the string's quotes (it had no escapes): `text`
  // points at them, and a changed text can be written in their place.
  bool in_place = false;
};

// A choice of a streamed event: its texts (AnswerTexts::texts[first_text, end_text)), and whether
// it ends with this event (its finish_reason names a reason).
struct EventChoice {
  std::int64_t index = 0;
  std::uint32_t first_text = 0;
  std::uint32_t end_text = 0;
  bool finishes = false;
};

// A member of a streamed event's envelope (envelope_members) that holds a string, a number or a
// boolean, as written; the rewriter repeats the latest in the events it writes itself.
struct EnvelopeValue {
  std::uint8_t member = 0;  // its place in envelope_members
  boost::json::kind kind = boost::json::kind::null;
  std::string_view string;  // unescaped; a string's
  std::int64_t int64 = 0;
  std::uint64_t uint64 = 0;
  double real = 0;
  bool boolean = false;
};

// The members every chunk of OpenAI's carries besides its choices (a legacy completion's too). Only
// these: `usage` or a provider's extra members belong to the event that carried them.
inline constexpr std::array<std::string_view, 6> envelope_members = {"id", "object", "created", "model",
                                                                     "system_fingerprint", "service_tier"};

struct AnswerTexts {
  boost::container::small_vector<AnswerText, 4> texts;
  // Why the answer cannot be checked beyond these texts (a choice that is no object, or whose text
  // is in a shape no filter reads): the filters read the texts before it, then the answer is
  // refused. Empty when every choice was read.
  std::string refusal;
  // The texts the answer's bytes do not hold as they are read (those with escapes): the views of
  // `texts` point here or into the answer.
  std::forward_list<std::string> unescaped;
  // A streamed event's (read_event_texts): its choices in the order written, and its envelope.
  boost::container::small_vector<EventChoice, 1> choices;
  boost::container::small_vector<EnvelopeValue, envelope_members.size()> envelope;
};

// The texts of `answer`, an answer of `endpoint` whose `logprobs` (and `completion_probabilities`)
// the rewriter replaces by null when `withhold_logprobs`: nullopt for an answer this pass cannot
// vouch for (not JSON, a repeated key, no list of choices, a choice or text in an unusual shape, log
// probabilities to withhold). The views point into `answer`, which must outlive the result.
[[nodiscard]] std::optional<AnswerTexts> read_answer_texts(std::string_view answer, Endpoint endpoint,
                                                           bool withhold_logprobs);

// The same for the data of one streamed event (a chunk of a streamed answer), read as the rewriter
// reads a parsed event: texts from each choice's `delta` (chat), `choices` may be absent, a choice's
// index and a tool call's are integers, a choice's finish_reason a string or null; an envelope
// member that is no string, number, boolean or null, or a string `created`, is left to the parsed
// reading too. The texts go into `out`, which must be empty: false where the pass does not vouch for
// the event (`out` then holds what it read before it gave up).
[[nodiscard]] bool read_event_texts(std::string_view event, Endpoint endpoint, bool withhold_logprobs,
                                    AnswerTexts& out);

}  // namespace sovereign::gateway
