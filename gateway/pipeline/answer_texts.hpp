#pragma once
// The texts of a whole (not streamed) answer that the response rewriter's filters read, in the
// order they read them: first every string of the answer that is no choice's text (each scanned on
// its own), in the order the answer writes them; then each choice's texts, choice by choice (its
// content, reasoning_content, reasoning, refusal, each tool call's arguments, the function_call's
// arguments; a completion's text).
//
// read_answer_texts finds them in one pass of the JSON parser, building nothing, for an ordinary
// answer; the rewriter then parses an answer only where a filter changed one of its texts. It
// vouches only for answers the rewriter's reading of the parsed answer accepts, and finds exactly the
// texts that reading finds; any other answer it leaves to that reading, so that every refusal is
// that reading's.
#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/container/small_vector.hpp>

#include "gateway/openai/request_body.hpp"

namespace sovereign::gateway {

struct AnswerText {
  std::string_view text;  // unescaped
  // The stream the text belongs to within its choice ("content", "tool_calls.2.arguments"...);
  // empty for a string that is no choice's text.
  std::string field;
  std::int64_t choice = 0;  // the choice's index, for a choice's text
};

struct AnswerTexts {
  boost::container::small_vector<AnswerText, 4> texts;
  // Why the answer cannot be checked beyond these texts (a choice that is no object, or whose text
  // is in a shape no filter reads): the filters read the texts before it, then the answer is
  // refused. Empty when every choice was read.
  std::string refusal;
  // The texts the answer's bytes do not hold as they are read (those with escapes): the views of
  // `texts` point here or into the answer.
  std::forward_list<std::string> unescaped;
};

// The texts of `answer`, an answer of `endpoint` whose `logprobs` (and `completion_probabilities`)
// the rewriter replaces by null when `withhold_logprobs`: nullopt for an answer this pass cannot
// vouch for (not JSON, a repeated key, no list of choices, a choice or text in an unusual shape, log
// probabilities to withhold). The views point into `answer`, which must outlive the result.
[[nodiscard]] std::optional<AnswerTexts> read_answer_texts(std::string_view answer, Endpoint endpoint,
                                                           bool withhold_logprobs);

}  // namespace sovereign::gateway
