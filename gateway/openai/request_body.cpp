#include "gateway/openai/request_body.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

constexpr std::size_t max_json_depth = 64;
constexpr std::size_t max_text_fields = 4096;

// Where a text lives, so write_back_texts can find it again without re-deriving paths.
std::string path_of(const char* array, std::size_t index, const char* field = nullptr) {
  std::string path = std::string(array) + "[" + std::to_string(index) + "]";
  if (field != nullptr) path += std::string(".") + field;
  return path;
}

std::optional<ApiError> collect_content(const json::value& content, const std::string& path,
                                        std::vector<TextField>& out) {
  if (content.is_string()) {
    out.push_back({path, std::string(content.get_string())});
    return std::nullopt;
  }
  if (content.is_null()) return std::nullopt;  // assistant turns with tool calls carry no content
  if (!content.is_array())
    return api_errors::invalid_request("'" + path + "' must be a string or an array of content parts", path);
  const auto& parts = content.get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string part_path = path + "[" + std::to_string(i) + "]";
    if (!parts[i].is_object()) return api_errors::invalid_request("'" + part_path + "' must be an object", part_path);
    const auto& part = parts[i].get_object();
    if (const auto* text = part.if_contains("text")) {
      if (!text->is_string())
        return api_errors::invalid_request("'" + part_path + ".text' must be a string", part_path + ".text");
      out.push_back({part_path + ".text", std::string(text->get_string())});
    }
  }
  return std::nullopt;
}

std::optional<ApiError> collect_string_or_list(const json::object& body, const char* key, std::vector<TextField>& out,
                                               bool required) {
  const auto* value = body.if_contains(key);
  if (value == nullptr) {
    if (required) return api_errors::invalid_request(std::string("'") + key + "' is required", key);
    return std::nullopt;
  }
  if (value->is_string()) {
    out.push_back({key, std::string(value->get_string())});
    return std::nullopt;
  }
  if (value->is_array()) {
    const auto& items = value->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      // Token-id inputs (arrays of integers) carry no text to scan; they are passed through.
      if (items[i].is_string()) out.push_back({path_of(key, i), std::string(items[i].get_string())});
      else if (!items[i].is_array() && !items[i].is_int64() && !items[i].is_uint64())
        return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
    }
    return std::nullopt;
  }
  return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
}

json::value* find_path(json::value& root, std::string_view path) {
  json::value* current = &root;
  while (!path.empty()) {
    if (path.front() == '.') path.remove_prefix(1);
    if (path.front() == '[') {
      auto close = path.find(']');
      std::size_t index = std::stoul(std::string(path.substr(1, close - 1)));
      if (!current->is_array() || index >= current->get_array().size()) return nullptr;
      current = &current->get_array()[index];
      path.remove_prefix(close + 1);
      continue;
    }
    auto end = path.find_first_of(".[");
    auto key = path.substr(0, end);
    if (!current->is_object()) return nullptr;
    current = current->get_object().if_contains(key);
    if (current == nullptr) return nullptr;
    path.remove_prefix(end == std::string_view::npos ? path.size() : end);
  }
  return current;
}

}  // namespace

const char* endpoint_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions: return "chat.completions";
    case Endpoint::completions: return "completions";
    case Endpoint::embeddings: return "embeddings";
  }
  return "unknown";
}

std::variant<DecodedRequest, ApiError> decode_request(Endpoint endpoint, std::string_view body_text,
                                                     json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  boost::system::error_code ec;
  json::value body = json::parse(body_text, ec, std::move(storage), options);
  if (ec) {
    return api_errors::invalid_json("The request body is not valid JSON: " + ec.message() + ". Send a JSON object "
                                    "with Content-Type: application/json.");
  }
  if (!body.is_object()) return api_errors::invalid_json("The request body must be a JSON object.");
  const auto& object = body.get_object();

  DecodedRequest request{endpoint, {}, false, 0, {}, {}};
  const auto* model = object.if_contains("model");
  if (model == nullptr) return api_errors::invalid_request("'model' is required", "model");
  if (!model->is_string() || model->get_string().empty())
    return api_errors::invalid_request("'model' must be a non-empty string", "model");
  request.model = std::string(model->get_string());

  if (const auto* stream = object.if_contains("stream"); stream != nullptr && !stream->is_null()) {
    if (!stream->is_bool()) return api_errors::invalid_request("'stream' must be true or false", "stream");
    request.stream = stream->get_bool();
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    const auto* value = object.if_contains(key);
    if (value == nullptr || value->is_null()) continue;
    if (!value->is_int64() || value->get_int64() < 0 || value->get_int64() > 100'000'000)
      return api_errors::invalid_request(std::string("'") + key + "' must be a positive integer", key);
    request.max_tokens = static_cast<std::uint32_t>(value->get_int64());
  }

  std::optional<ApiError> error;
  switch (endpoint) {
    case Endpoint::chat_completions: {
      const auto* messages = object.if_contains("messages");
      if (messages == nullptr) return api_errors::invalid_request("'messages' is required", "messages");
      if (!messages->is_array() || messages->get_array().empty())
        return api_errors::invalid_request("'messages' must be a non-empty array", "messages");
      const auto& list = messages->get_array();
      for (std::size_t i = 0; i < list.size() && !error; ++i) {
        std::string path = path_of("messages", i);
        if (!list[i].is_object()) return api_errors::invalid_request("'" + path + "' must be an object", path);
        const auto& message = list[i].get_object();
        const auto* role = message.if_contains("role");
        if (role == nullptr || !role->is_string())
          return api_errors::invalid_request("'" + path + ".role' must be a string", path + ".role");
        if (const auto* content = message.if_contains("content"))
          error = collect_content(*content, path + ".content", request.texts);
      }
      break;
    }
    case Endpoint::completions:
      error = collect_string_or_list(object, "prompt", request.texts, true);
      break;
    case Endpoint::embeddings:
      error = collect_string_or_list(object, "input", request.texts, true);
      break;
  }
  if (error) return *error;
  if (request.texts.size() > max_text_fields)
    return api_errors::invalid_request("the request has more than " + std::to_string(max_text_fields) +
                                       " text fields");
  request.body = std::move(body);
  return request;
}

void write_back_texts(json::value& body, const std::vector<TextField>& texts) {
  for (const auto& field : texts)
    if (json::value* target = find_path(body, field.json_path)) *target = json::string(field.text);
}

}  // namespace sovereign::gateway
