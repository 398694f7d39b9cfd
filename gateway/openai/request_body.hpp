#pragma once
// Decoding of OpenAI request bodies: which model, whether to stream, and every piece of user
// text (with its JSON path) so that policy can scan it and transforms can rewrite it in place.
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "gateway/openai/api_error.hpp"

namespace sovereign::gateway {

enum class Endpoint { chat_completions, completions, embeddings };

// Model names as backends publish them (gpt-4o, meta-llama/Llama-3.1-8B-Instruct, llama3:8b,
// ft:gpt-4o:org::id): 1 to max_model_name_bytes letters, digits and . _ : / @ + -. Requests naming
// anything else are refused before the name reaches a log, a metric or a record.
inline constexpr std::size_t max_model_name_bytes = 256;
bool valid_model_name(std::string_view name);
const char* endpoint_name(Endpoint);  // "chat.completions", "completions", "embeddings"

// Where a piece of user text sits in the body: body[key] itself, body[key][index], or for chat
// messages body.messages[index].content and body.messages[index].content[part].text.
struct TextPath {
  const char* key = "";       // "messages", "prompt" or "input"
  std::int32_t index = -1;    // element of key's array; -1 when key holds the text itself
  std::int32_t part = -1;     // chat messages: the content part; -1 when the content is a string
  std::string to_string() const;  // e.g. messages[2].content or messages[0].content[1].text
  void write_to(std::string& out) const;  // the same into `out`, replacing what it held (its capacity kept)
};

// One string of the request that the policy scans. Prompt texts (messages' content, prompt, input)
// carry a TextPath; every other string of the body (a message's name, tool-call arguments, tool
// descriptions, `user`, metadata, a JSON schema...) carries its path in `other_path`, and keys that
// are not part of OpenAI's request schema (metadata keys, property names) are scanned as well.
// The view points into the parsed body, which outlives it; replace_text rewrites both.
struct TextField {
  TextPath path;
  std::string other_path;                  // set for strings outside the prompt texts
  std::string_view text;
  boost::json::string* node = nullptr;     // the string value, rewritten in place
  bool is_key = false;                     // the text is an object key (scanned, never rewritten)
  // The string holds JSON text: a chat message's tool-call (or function_call) arguments. The policy
  // reads it with its escapes resolved (gateway/openai/json_text.hpp).
  bool json_text = false;
  // A whole number of the body (`"card": 4111111111111111` in metadata or an extension's arguments),
  // scanned as its digits, since a backend may write it into the prompt like any text; replace_text
  // makes it a string. `node` is null until then.
  boost::json::value* number = nullptr;
  std::string path_string() const { return other_path.empty() ? path.to_string() : other_path; }
  // The same into `out`, replacing what it held: a reused string keeps its capacity.
  void write_path_to(std::string& out) const {
    if (other_path.empty()) path.write_to(out);
    else out.assign(other_path);
  }
};

// A chat message's content part that holds no text: where it is and what it says it is.
struct UnreadablePart {
  std::string path;  // messages[1].content[0]
  std::string type;  // its "type" (image_url, input_audio, file...), empty when it has none
  // The first URL in it that is not a data: URL (a backend would fetch it): its path, e.g.
  // messages[1].content[0].image_url.url; empty when there is none.
  std::string remote_url_path;
};

// What decode_request finds in a body. Summarised (TextScope::summary, an ordinary body without a
// policy) it holds only model, stream, include_usage, max_tokens, logprobs_asked_by and
// prompt_bytes: `body` is null (how to tell), `texts`, `unreadable_parts` and `number_digits`
// empty, `token_ids` false. Read any of those only from a request decoded with another scope.
// Read for a policy in one pass (TextScope::policy_scan, an ordinary body) it holds every field as
// every_string gives them, but `body` is null and its texts are copies (in `held_storage`): none of
// them can be rewritten (decode it again with every_string to rewrite).
struct DecodedRequest {
  Endpoint endpoint;
  std::string model;
  bool stream = false;
  std::uint32_t max_tokens = 0;   // at least 1 when given; 0 when the client did not say
  std::vector<TextField> texts;
  boost::json::value body;        // the parsed body, rewritten by transforms before forwarding
  bool include_usage = false;     // stream_options.include_usage: a stream ends with a usage chunk
  bool token_ids = false;         // prompt/input holds token ids, which no detector can read
  // The member that asks for log probabilities (the answer's text again, token by token):
  // "logprobs", "top_logprobs" or llama.cpp's "n_probs"; empty when none does.
  std::string_view logprobs_asked_by{};
  // The content parts whose data no detector can read (an image, audio, a file, any part that is not
  // text), in body order: a policy refuses them unless the tenant lets their type through unscanned.
  std::vector<UnreadablePart> unreadable_parts{};
  // The digits of the numbers in `texts`. A list: moving the request keeps their addresses, and an
  // empty one allocates nothing (a deque allocates its map when made and again when moved from,
  // four allocations a request measured with callgrind, numbers or not).
  std::list<std::string> number_digits{};
  // Where the texts of a body read without being built (policy_scan) are kept: the storage
  // decode_request was given where it is an arena (whose owner keeps it), else an arena of the
  // request's own.
  boost::json::storage_ptr held_storage{};
  // The bytes of the texts as decoded (the prompt texts; under every_string every string collected),
  // unescaped: what the tokens-per-minute budget estimates the prompt from.
  std::size_t prompt_bytes = 0;
};

// Which strings decode_request collects: the prompt texts only (enough to estimate tokens), or
// every string of the body, for a policy to scan. `summary` asks for what the plain path reads and
// no more: an ordinary body is summarised in one pass without being built (request_summary.hpp),
// any other decoded as with `prompts`, so that the answer to it (an error included) is the same.
// `policy_scan` asks for what every_string collects, in the same order with the same paths, read in
// one pass without building the body where the body is ordinary (request_summary.hpp): a policy
// that decides to rewrite the request has it decoded again with every_string. Any other body is
// decoded as with every_string.
enum class TextScope { prompts, every_string, summary, policy_scan };

// `storage` holds the parsed body (e.g. a per-request monotonic arena); it must outlive the result.
[[nodiscard]] std::variant<DecodedRequest, ApiError> decode_request(Endpoint endpoint, std::string_view body,
                                                                    boost::json::storage_ptr storage = {},
                                                                    TextScope scope = TextScope::every_string);

// Whether two decodings of one body found the same texts, in the same order, at the same places
// (policy_scan's against every_string's, before a rewrite counts on it).
bool same_texts(const std::vector<TextField>& one, const std::vector<TextField>& other);

// Replaces the field's text in the body decode_request produced and points the field at it
// (a value field, a number becoming a string; keys are never rewritten).
void replace_text(TextField& field, std::string_view text);

}  // namespace sovereign::gateway
