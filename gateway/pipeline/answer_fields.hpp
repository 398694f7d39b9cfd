#pragma once
// The members of an OpenAI answer that the response rewriter reads, named once for both of its
// readers: the parsed answer's (response_rewriter.cpp) and the one-pass reader of whole answers
// (answer_texts.cpp), which must find the very same texts.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sovereign::gateway {

// The texts a chat message (or delta) holds as strings, in the order their filters read them.
inline constexpr std::array<std::string_view, 4> message_text_members = {"content", "reasoning_content", "reasoning",
                                                                         "refusal"};

// A completion's text: the choice's member, and its stream's name.
inline constexpr std::string_view completion_text = "text";

// The stream names of the texts that are not a member of the message itself.
inline constexpr std::string_view function_call_arguments = "function_call.arguments";
// A tool call's arguments, keyed by the call's index: "tool_calls.2.arguments".
inline std::string tool_call_arguments(std::int64_t index) {
  return "tool_calls." + std::to_string(index) + ".arguments";
}

// The names of the members the rewriter reads or skips, each its own value, so that the one-pass
// reader tells them apart (and notes which of them an object has named) without comparing strings.
enum class AnswerMember : std::uint8_t {
  other,  // any name not below
  // Server fields (see server_field).
  id,
  object,
  model,
  system_fingerprint,
  service_tier,
  role,
  finish_reason,
  type,
  logprobs,
  completion_probabilities,
  choices,
  index,
  message,
  delta,
  text,
  // The message's texts, in the order of message_text_members.
  content,
  reasoning_content,
  reasoning,
  refusal,
  tool_calls,
  function_call,
  function,
  arguments,
  created,  // an envelope member (envelope_members), scanned where it is a string
};

// Whether `key` is `name`: a comparison of a length the compiler knows, which it makes a load or two
// (string_view's == called memcmp, the most of the time this lookup took).
template <std::size_t N>
constexpr bool is_named(std::string_view key, const char (&name)[N]) {
  return key.size() == N - 1 && std::char_traits<char>::compare(key.data(), name, N - 1) == 0;
}

// The member named `key`: told apart by length first, then by one comparison or a few.
constexpr AnswerMember answer_member(std::string_view key) {
  using M = AnswerMember;
  switch (key.size()) {
    case 2: return is_named(key, "id") ? M::id : M::other;
    case 4:
      if (is_named(key, "role")) return M::role;
      if (is_named(key, "type")) return M::type;
      return is_named(key, "text") ? M::text : M::other;
    case 5:
      if (is_named(key, "model")) return M::model;
      if (is_named(key, "index")) return M::index;
      return is_named(key, "delta") ? M::delta : M::other;
    case 6: return is_named(key, "object") ? M::object : M::other;
    case 7:
      if (is_named(key, "content")) return M::content;
      if (is_named(key, "created")) return M::created;
      if (is_named(key, "choices")) return M::choices;
      if (is_named(key, "message")) return M::message;
      return is_named(key, "refusal") ? M::refusal : M::other;
    case 8:
      if (is_named(key, "logprobs")) return M::logprobs;
      return is_named(key, "function") ? M::function : M::other;
    case 9:
      if (is_named(key, "reasoning")) return M::reasoning;
      return is_named(key, "arguments") ? M::arguments : M::other;
    case 10: return is_named(key, "tool_calls") ? M::tool_calls : M::other;
    case 12: return is_named(key, "service_tier") ? M::service_tier : M::other;
    case 13:
      if (is_named(key, "finish_reason")) return M::finish_reason;
      return is_named(key, "function_call") ? M::function_call : M::other;
    case 17: return is_named(key, "reasoning_content") ? M::reasoning_content : M::other;
    case 18: return is_named(key, "system_fingerprint") ? M::system_fingerprint : M::other;
    case 24: return is_named(key, "completion_probabilities") ? M::completion_probabilities : M::other;
    default: return M::other;
  }
}

// Members whose values OpenAI-compatible servers fill with their own identifiers and enums, never
// with what a model writes, and `logprobs` (the choice's text again, token by token: scanned as that
// text, and withheld where the policy redacts answers). Every other string of an answer is scanned.
constexpr bool server_field(AnswerMember member) {
  return member >= AnswerMember::id && member <= AnswerMember::logprobs;
}
inline bool server_field(std::string_view key) { return server_field(answer_member(key)); }

// Members that carry an answer's text a second time, token by token: OpenAI's `logprobs` and
// llama.cpp's `completion_probabilities`. Each token is a string of its own, and a value cut into
// tokens is in none of them whole, so no scan of them could find it.
constexpr bool carries_tokens(AnswerMember member) {
  return member == AnswerMember::logprobs || member == AnswerMember::completion_probabilities;
}
inline bool carries_tokens(std::string_view key) { return carries_tokens(answer_member(key)); }

// Each message text's member, in message_text_members' order.
constexpr AnswerMember message_text_member(std::size_t i) {
  return static_cast<AnswerMember>(static_cast<std::size_t>(AnswerMember::content) + i);
}
static_assert([] {
  for (std::size_t i = 0; i < message_text_members.size(); ++i)
    if (answer_member(message_text_members[i]) != message_text_member(i)) return false;
  return answer_member(completion_text) == AnswerMember::text;
}());

}  // namespace sovereign::gateway
