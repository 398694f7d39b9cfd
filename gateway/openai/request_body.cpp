#include "gateway/openai/request_body.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

constexpr std::size_t max_json_depth = 64;
constexpr std::size_t max_text_fields = 4096;

// Where a JSON body stops being valid: parsed again, only after a failure, to find the byte the
// parser stopped at, and said as a byte offset with its line and column (bodies may be pretty-printed).
std::string json_error_position(std::string_view text, const json::parse_options& options) {
  json::parser parser({}, options);
  boost::system::error_code ec;
  // Where the value ended when text follows it ("extra data"), else where the error was found.
  const std::size_t at = parser.write_some(text.data(), text.size(), ec);
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  std::string where = "at byte " + std::to_string(at) + " (line " + std::to_string(line) + ", column " +
                      std::to_string(column) + ")";
  if (at < text.size() && static_cast<unsigned char>(text[at]) >= 0x80) where += ", where the text is not valid UTF-8";
  return where;
}

std::string element_path(const char* array, std::size_t index) {
  return std::string(array) + "[" + std::to_string(index) + "]";
}

// A chat message's content: a string, null, or an array of parts of which the text parts count.
std::optional<ApiError> collect_content(const json::value& content, std::int32_t message, std::vector<TextField>& out) {
  auto path = [message](std::int32_t part = -1) { return TextPath{"messages", message, part}.to_string(); };
  if (content.is_string()) {
    out.push_back({{"messages", message, -1}, content.get_string()});
    return std::nullopt;
  }
  if (content.is_null()) return std::nullopt;  // assistant turns with tool calls carry no content
  if (!content.is_array())
    return api_errors::invalid_request("'" + path() + "' must be a string or an array of content parts", path());
  const auto& parts = content.get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto part = static_cast<std::int32_t>(i);
    if (!parts[i].is_object()) {
      std::string part_path = element_path(path().c_str(), i);
      return api_errors::invalid_request("'" + part_path + "' must be an object", part_path);
    }
    if (const auto* text = parts[i].get_object().if_contains("text")) {
      if (!text->is_string())
        return api_errors::invalid_request("'" + path(part) + "' must be a string", path(part));
      out.push_back({{"messages", message, part}, text->get_string()});
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
    out.push_back({{key, -1, -1}, value->get_string()});
    return std::nullopt;
  }
  if (value->is_array()) {
    const auto& items = value->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      // Token-id inputs (arrays of integers) carry no text to scan; they are passed through.
      if (items[i].is_string()) out.push_back({{key, static_cast<std::int32_t>(i), -1}, items[i].get_string()});
      else if (!items[i].is_array() && !items[i].is_int64() && !items[i].is_uint64())
        return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
    }
    return std::nullopt;
  }
  return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
}

json::string* find_text(json::value& body, const TextPath& path) {
  auto* value = body.is_object() ? body.get_object().if_contains(path.key) : nullptr;
  if (value != nullptr && path.index >= 0) {
    auto* array = value->if_array();
    value = array && static_cast<std::size_t>(path.index) < array->size() ? &(*array)[path.index] : nullptr;
    if (value != nullptr && path.part >= 0) {
      auto* content = value->is_object() ? value->get_object().if_contains("content") : nullptr;
      auto* parts = content ? content->if_array() : nullptr;
      auto* part = parts && static_cast<std::size_t>(path.part) < parts->size() ? &(*parts)[path.part] : nullptr;
      value = part && part->is_object() ? part->get_object().if_contains("text") : nullptr;
    } else if (value != nullptr && std::string_view(path.key) == "messages") {
      value = value->is_object() ? value->get_object().if_contains("content") : nullptr;
    }
  }
  return value ? value->if_string() : nullptr;
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
    return api_errors::invalid_json("The request body is not valid JSON: " + ec.message() + " " +
                                    json_error_position(body_text, options) +
                                    ". Send a JSON object with Content-Type: application/json.");
  }
  if (!body.is_object()) return api_errors::invalid_json("The request body must be a JSON object.");
  // Moved in at construction so that the body keeps its storage: assigning a value into one with
  // another storage would copy every node.
  DecodedRequest request{endpoint, {}, false, 0, {}, std::move(body)};
  const auto& object = request.body.get_object();
  const auto* model = object.if_contains("model");
  if (model == nullptr) return api_errors::invalid_request("'model' is required", "model");
  if (!model->is_string() || model->get_string().empty())
    return api_errors::invalid_request("'model' must be a non-empty string", "model");
  request.model = std::string(model->get_string());

  if (const auto* stream = object.if_contains("stream"); stream != nullptr && !stream->is_null()) {
    if (!stream->is_bool()) return api_errors::invalid_request("'stream' must be true or false", "stream");
    request.stream = stream->get_bool();
  }
  if (const auto* options = object.if_contains("stream_options"); options != nullptr && !options->is_null()) {
    if (!options->is_object()) return api_errors::invalid_request("'stream_options' must be an object", "stream_options");
    if (const auto* usage = options->get_object().if_contains("include_usage"); usage != nullptr && !usage->is_null()) {
      if (!usage->is_bool())
        return api_errors::invalid_request("'stream_options.include_usage' must be true or false", "stream_options");
      request.include_usage = usage->get_bool();
    }
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
      request.texts.reserve(std::min<std::size_t>(list.size(), max_text_fields));
      for (std::size_t i = 0; i < list.size() && !error; ++i) {
        auto path = [i] { return element_path("messages", i); };  // built only for an error message
        if (!list[i].is_object()) return api_errors::invalid_request("'" + path() + "' must be an object", path());
        const auto& message = list[i].get_object();
        const auto* role = message.if_contains("role");
        if (role == nullptr || !role->is_string())
          return api_errors::invalid_request("'" + path() + ".role' must be a string", path() + ".role");
        if (const auto* content = message.if_contains("content"))
          error = collect_content(*content, static_cast<std::int32_t>(i), request.texts);
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
  return request;
}

// Built into one string without temporaries: the policy path names every text of every request.
std::string TextPath::to_string() const {
  std::string path;
  path.reserve(48);
  path += key;
  auto append_index = [&path](std::int32_t i) {
    char digits[12];
    path += '[';
    path.append(digits, std::to_chars(digits, digits + sizeof digits, i).ptr);
    path += ']';
  };
  if (index < 0) return path;
  append_index(index);
  if (std::string_view(key) != "messages") return path;
  path += ".content";
  if (part >= 0) {
    append_index(part);
    path += ".text";
  }
  return path;
}

void replace_text(json::value& body, TextField& field, std::string_view text) {
  json::string* target = find_text(body, field.path);
  if (target == nullptr) return;  // the path came from decode_request on this body: cannot happen
  *target = text;
  field.text = *target;
}

}  // namespace sovereign::gateway
