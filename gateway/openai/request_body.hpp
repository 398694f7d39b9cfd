#pragma once
// Decoding of OpenAI request bodies: which model, whether to stream, and every piece of user
// text (with its JSON path) so that policy can scan it and transforms can rewrite it in place.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "gateway/openai/api_error.hpp"

namespace sovereign::gateway {

enum class Endpoint { chat_completions, completions, embeddings };
const char* endpoint_name(Endpoint);  // "chat.completions", "completions", "embeddings"

// One piece of user-supplied text and where it sits in the body.
struct TextField {
  std::string json_path;   // e.g. messages[2].content or messages[0].content[1].text
  std::string text;
};

struct DecodedRequest {
  Endpoint endpoint;
  std::string model;
  bool stream = false;
  std::uint32_t max_tokens = 0;   // 0 when the client did not say
  std::vector<TextField> texts;
  boost::json::value body;        // the parsed body, rewritten by transforms before forwarding
};

// `storage` holds the parsed body (e.g. a per-request monotonic arena); it must outlive the result.
[[nodiscard]] std::variant<DecodedRequest, ApiError> decode_request(Endpoint endpoint, std::string_view body,
                                                                    boost::json::storage_ptr storage = {});

// Replaces the text at each field's json_path in `body` (paths as produced by decode_request).
void write_back_texts(boost::json::value& body, const std::vector<TextField>& texts);

}  // namespace sovereign::gateway
