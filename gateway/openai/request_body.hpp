#pragma once
// Decoding of OpenAI request bodies: which model, whether to stream, and every piece of user
// text (with its JSON path) so that policy can scan it and transforms can rewrite it in place.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "gateway/openai/api_error.hpp"

namespace sovereign::gateway {

enum class Endpoint { chat_completions, completions, embeddings };
const char* endpoint_name(Endpoint);  // "chat.completions", "completions", "embeddings"

// Where a piece of user text sits in the body: body[key] itself, body[key][index], or for chat
// messages body.messages[index].content and body.messages[index].content[part].text.
struct TextPath {
  const char* key = "";       // "messages", "prompt" or "input"
  std::int32_t index = -1;    // element of key's array; -1 when key holds the text itself
  std::int32_t part = -1;     // chat messages: the content part; -1 when the content is a string
  std::string to_string() const;  // e.g. messages[2].content or messages[0].content[1].text
};

// One piece of user-supplied text. The view points into the parsed body, which outlives it;
// replace_text rewrites both.
struct TextField {
  TextPath path;
  std::string_view text;
};

struct DecodedRequest {
  Endpoint endpoint;
  std::string model;
  bool stream = false;
  std::uint32_t max_tokens = 0;   // 0 when the client did not say
  std::vector<TextField> texts;
  boost::json::value body;        // the parsed body, rewritten by transforms before forwarding
  bool include_usage = false;     // stream_options.include_usage: a stream ends with a usage chunk
};

// `storage` holds the parsed body (e.g. a per-request monotonic arena); it must outlive the result.
[[nodiscard]] std::variant<DecodedRequest, ApiError> decode_request(Endpoint endpoint, std::string_view body,
                                                                    boost::json::storage_ptr storage = {});

// Replaces the field's text in `body` (which decode_request produced) and points the field at it.
void replace_text(boost::json::value& body, TextField& field, std::string_view text);

}  // namespace sovereign::gateway
