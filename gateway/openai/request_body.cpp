#include "gateway/openai/request_body.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <span>

#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>

#include "gateway/openai/json_members.hpp"
#include "gateway/openai/request_summary.hpp"
#include "gateway/openai/request_words.hpp"
#include "gateway/openai/text_search.hpp"
#include "policy/unscanned_parts.hpp"

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

constexpr std::size_t max_json_depth = 64;
constexpr std::size_t max_text_fields = 4096;


// Whether text[0, end) ends with an escape \uD800-\uDBFF, the first half of a UTF-16 surrogate pair
// (an odd run of backslashes before the u: "\\ud800" is a backslash and plain text).
bool ends_with_high_surrogate_escape(std::string_view text, std::size_t end) {
  if (end < 6) return false;
  const std::string_view escape = text.substr(end - 6, 6);
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  if (escape[1] != 'u' || (escape[2] != 'd' && escape[2] != 'D') ||
      std::string_view("89abAB").find(escape[3]) == std::string_view::npos || !hex(escape[4]) || !hex(escape[5]))
    return false;
  std::size_t backslashes = 0;
  while (backslashes < end - 5 && text[end - 6 - backslashes] == '\\') ++backslashes;
  return backslashes % 2 == 1;
}

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
  if (at == 0 && text.starts_with("\xEF\xBB\xBF"))
    where += ", where the body starts with a byte order mark (U+FEFF), which JSON does not allow: send the body without it";
  else if (at < text.size() && static_cast<unsigned char>(text[at]) >= 0x80)
    where += ", where the text is not valid UTF-8";
  else if (ends_with_high_surrogate_escape(text, at))
    where += ", after the escape " + std::string(text.substr(at - 6, 6)) +
             ", the first half of a UTF-16 surrogate pair, without its second half (\\uDC00-\\uDFFF)";
  return where;
}

std::string element_path(const char* array, std::size_t index) {
  return std::string(array) + "[" + std::to_string(index) + "]";
}

// Whether a member named `key` holds a URL: "url" (image_url.url, video_url.url) or "..._url" (an
// image_url given as a string, as some clients send it).
bool url_key(std::string_view key) { return key == "url" || key.ends_with("_url"); }

// The path of the first URL under `value` (at `path`) that is not a data: URL: what a backend would
// fetch from wherever it points. Empty when there is none.
std::string remote_url_path(const json::value& value, const std::string& path, bool under_url_key) {
  if (const auto* string = value.if_string())
    return under_url_key && !policy::inline_data_url(*string) ? path : std::string();
  if (const auto* array = value.if_array()) {
    for (std::size_t i = 0; i < array->size(); ++i)
      if (auto found = remote_url_path((*array)[i], element_path(path.c_str(), i), under_url_key); !found.empty())
        return found;
  } else if (const auto* object = value.if_object()) {
    for (const auto& [key, item] : *object)
      if (auto found = remote_url_path(item, path + "." + std::string(key), url_key(key)); !found.empty()) return found;
  }
  return {};
}

// A chat message's content: a string, null, or an array of parts of which the text parts count.
// The parts that are not text (any other type: image_url, input_audio, file, video_url...: bytes, or
// a URL or file id the backend opens) are noted in `unreadable`.
std::optional<ApiError> collect_content(json::value& content, std::int32_t message, std::vector<TextField>& out,
                                        std::vector<UnreadablePart>& unreadable) {
  auto path = [message](std::int32_t part = -1) { return TextPath{"messages", message, part}.to_string(); };
  if (content.is_string()) {
    out.push_back({{"messages", message, -1}, {}, content.get_string(), &content.get_string()});
    return std::nullopt;
  }
  if (content.is_null()) return std::nullopt;  // assistant turns with tool calls carry no content
  if (!content.is_array())
    return api_errors::invalid_request("'" + path() + "' must be a string or an array of content parts", path());
  auto& parts = content.get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto part = static_cast<std::int32_t>(i);
    if (!parts[i].is_object()) {
      std::string part_path = element_path(path().c_str(), i);
      return api_errors::invalid_request("'" + part_path + "' must be an object", part_path);
    }
    auto& object = parts[i].get_object();
    auto* text = object.if_contains("text");
    if (text != nullptr) {
      if (!text->is_string())
        return api_errors::invalid_request("'" + path(part) + "' must be a string", path(part));
      out.push_back({{"messages", message, part}, {}, text->get_string(), &text->get_string()});
    }
    // Servers read a part by its type; one without a type only as the text it holds.
    const auto* type = object.if_contains("type");
    const bool readable =
        type != nullptr ? type->is_string() && policy::text_part_type(type->get_string()) : text != nullptr;
    if (!readable) {
      std::string part_path = element_path(path().c_str(), i);
      std::string remote = remote_url_path(parts[i], part_path, false);
      unreadable.push_back({std::move(part_path),
                            type != nullptr && type->is_string() ? std::string(type->get_string()) : std::string(),
                            std::move(remote)});
    }
  }
  return std::nullopt;
}

std::optional<ApiError> collect_string_or_list(json::object& body, const char* key, DecodedRequest& request,
                                               bool required) {
  auto* value = body.if_contains(key);
  if (value == nullptr) {
    if (required) return api_errors::invalid_request(std::string("'") + key + "' is required", key);
    return std::nullopt;
  }
  if (value->is_string()) {
    request.texts.push_back({{key, -1, -1}, {}, value->get_string(), &value->get_string()});
    return std::nullopt;
  }
  if (value->is_array()) {
    auto& items = value->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].is_string()) {
        request.texts.push_back({{key, static_cast<std::int32_t>(i), -1}, {}, items[i].get_string(), &items[i].get_string()});
      } else if (items[i].is_int64() || items[i].is_uint64() || items[i].is_array()) {
        // Token ids (or lists of them); strings nested in such lists are collected with the others.
        request.token_ids = true;
      } else {
        return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
      }
    }
    return std::nullopt;
  }
  return api_errors::invalid_request(std::string("'") + key + "' must be a string or a list of strings", key);
}

// Named by its path (messages[0].content), cut short where a client made it long.
ApiError repeated_key(std::string_view body_text, const json::parse_options& options) {
  constexpr std::size_t max_shown = 200;
  std::string path = repeated_key_path(body_text, options);
  if (path.size() > max_shown) path = path.substr(0, max_shown) + "...";
  return api_errors::invalid_json("The request body repeats a key inside an object ('" + path +
                                  "' is named twice); JSON leaves open which one counts, and backends differ, so send "
                                  "each key once.");
}

// The top-level members decode_request reads, found in one pass over the body's members: looked up
// one by one, each of the nine would search them all again. The parsed object holds each key once
// (the last of a repeated one), so each is what a lookup by name would find.
struct TopLevel {
  const json::value* model = nullptr;
  const json::value* stream = nullptr;
  const json::value* stream_options = nullptr;
  const json::value* max_tokens = nullptr;
  const json::value* max_completion_tokens = nullptr;
  const json::value* logprobs = nullptr;
  const json::value* top_logprobs = nullptr;
  const json::value* n_probs = nullptr;
  json::value* messages = nullptr;
};

TopLevel top_level(json::object& body) {
  TopLevel found;
  for (auto& member : body) {
    const std::string_view key = member.key();
    json::value* value = &member.value();
    switch (key.size()) {  // the names' lengths tell them apart but for two pairs
      case 5: if (key == "model") found.model = value; break;
      case 6: if (key == "stream") found.stream = value; break;
      case 7: if (key == "n_probs") found.n_probs = value; break;
      case 8:
        if (key == "messages") found.messages = value;
        else if (key == "logprobs") found.logprobs = value;
        break;
      case 10: if (key == "max_tokens") found.max_tokens = value; break;
      case 12: if (key == "top_logprobs") found.top_logprobs = value; break;
      case 14: if (key == "stream_options") found.stream_options = value; break;
      case 21: if (key == "max_completion_tokens") found.max_completion_tokens = value; break;
      default: break;
    }
  }
  return found;
}

// Log probabilities come back as the answer's text cut into tokens: chat's `logprobs: true` (or
// `top_logprobs` above 0), a completion's `logprobs` count (0 included: the sampled tokens alone),
// and on either endpoint llama.cpp's `n_probs` above 0 (its `completion_probabilities`). Returns the
// member that asks, or nothing.
std::string_view logprobs_asked_by(Endpoint endpoint, const TopLevel& body) {
  auto given = [](const json::value* value) {
    return value != nullptr && !value->is_null() && !(value->is_bool() && !value->get_bool());
  };
  auto positive = [](const json::value* value) {
    if (value == nullptr) return false;
    return (value->is_int64() && value->get_int64() > 0) || (value->is_uint64() && value->get_uint64() > 0) ||
           (value->is_double() && value->get_double() > 0);
  };
  if (endpoint == Endpoint::embeddings) return {};
  if (given(body.logprobs)) return "logprobs";
  if (endpoint == Endpoint::chat_completions && positive(body.top_logprobs)) return "top_logprobs";
  if (positive(body.n_probs)) return "n_probs";
  return {};
}

// Where collect_other_strings stands in the body, step by step. Its JSON path is written out only
// for what it collects or refuses: most members it passes are schema keys, numbers OpenAI defines
// and prompt texts, for which no path is needed. The parse's depth limit bounds the steps.
class JsonPathSteps {
 public:
  void push_key(std::string_view key) { steps_[depth_++] = {key, 0, false}; }
  void push_index(std::size_t index) { steps_[depth_++] = {{}, index, true}; }
  void pop() { --depth_; }
  bool full() const { return depth_ == steps_.size(); }
  // The path as it reads: messages[2].name, metadata.card ("" at the top).
  std::string str() const {
    std::string path;
    for (std::size_t i = 0; i < depth_; ++i) {
      const Step& step = steps_[i];
      if (step.is_index) {
        char digits[24];
        path.append("[").append(digits, std::to_chars(digits, digits + sizeof digits, step.index).ptr).append("]");
      } else {
        if (!path.empty()) path.append(".");
        path.append(step.key);
      }
    }
    return path;
  }
  // Whether the path is a key of OpenAI's schema (a top-level parameter such as "max_tokens").
  bool is_schema_key() const {
    if (depth_ == 1 && !steps_[0].is_index) return schema_key(steps_[0].key);
    return schema_key(str());
  }

 private:
  struct Step {
    std::string_view key;
    std::size_t index = 0;
    bool is_index = false;
  };
  std::array<Step, max_json_depth + 8> steps_;
  std::size_t depth_ = 0;
};

// Every string of the body the prompt collectors did not take (`known`, sorted): values anywhere
// and keys outside the schema; and, where `numbers` is given, every whole number but OpenAI's
// top-level parameters, as its digits (kept in `numbers`). `path` holds the steps to `value`, taken
// and undone in place. Numbers too large for a double (1e999) are refused on the way: parsed as
// infinity, they could not be written back as JSON when a transform re-serialises the body.
std::optional<ApiError> collect_other_strings(json::value& value, JsonPathSteps& path,
                                              std::span<const json::string* const> known, std::vector<TextField>& out,
                                              std::list<std::string>* numbers) {
  if (out.size() > max_text_fields) return std::nullopt;  // refused by the caller
  if (value.is_double() && !std::isfinite(value.get_double())) {
    const std::string where = path.str();
    return api_errors::invalid_request("'" + where + "' is a number too large for JSON to carry", where);
  }
  if (numbers != nullptr && value.is_number()) {
    // OpenAI's own parameters ("max_tokens": 50 at the top of the body) are settings, not data.
    if (path.is_schema_key()) return std::nullopt;
    if (auto digits = whole_number_digits(value)) {
      numbers->push_back(std::move(*digits));
      out.push_back({{}, path.str(), numbers->back()});
      out.back().number = &value;
    }
    return std::nullopt;
  }
  if (auto* string = value.if_string()) {
    if (vocabulary_word(*string) || std::binary_search(known.begin(), known.end(), string)) return std::nullopt;
    out.push_back({{}, path.str(), *string, string});
    out.back().json_text = holds_json_text(out.back().other_path);
    return std::nullopt;
  }
  // Deeper than the parse lets a body nest: never reached, but a string left unscanned would pass
  // unchecked, so it is refused rather than skipped.
  if (path.full())
    return api_errors::invalid_json("The request body nests arrays and objects deeper than " +
                                    std::to_string(max_json_depth) + " levels.");
  if (auto* array = value.if_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      path.push_index(i);
      auto error = collect_other_strings((*array)[i], path, known, out, numbers);
      path.pop();
      if (error) return error;
    }
  } else if (auto* object = value.if_object()) {
    for (auto& [key, item] : *object) {
      path.push_key(key);
      if (!schema_key(key)) out.push_back({{}, path.str() + " (key)", key, nullptr, true});
      auto error = collect_other_strings(item, path, known, out, numbers);
      path.pop();
      if (error) return error;
    }
  }
  return std::nullopt;
}

// The texts' unescaped size: DecodedRequest::prompt_bytes.
std::size_t text_bytes(const std::vector<TextField>& texts) {
  std::size_t bytes = 0;
  for (const auto& field : texts) bytes += field.text.size();
  return bytes;
}

}  // namespace

bool valid_model_name(std::string_view name) {
  if (name.empty() || name.size() > max_model_name_bytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("._:/@+-").find(c) != std::string_view::npos;
  });
}

const char* endpoint_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions: return "chat.completions";
    case Endpoint::completions: return "completions";
    case Endpoint::embeddings: return "embeddings";
  }
  return "unknown";
}

std::variant<DecodedRequest, ApiError> decode_request(Endpoint endpoint, std::string_view body_text,
                                                     json::storage_ptr storage, TextScope scope) {
  if (scope == TextScope::summary || scope == TextScope::policy_scan) {
    const bool every_string = scope == TextScope::policy_scan;
    if (auto summary = summarize_request(endpoint, body_text, every_string, storage)) return std::move(*summary);
    scope = every_string ? TextScope::every_string : TextScope::prompts;
  }
  json::parse_options options;
  options.max_depth = max_json_depth;
  boost::system::error_code ec;
  std::size_t written_members = 0;  // for repeats_a_key, counted by the one parse
  json::value body = parse_counting_members(body_text, ec, std::move(storage), options, written_members);
  if (ec) {
    if (body_text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return api_errors::invalid_json("The request body is empty; send a JSON object with Content-Type: application/json.");
    // Boost.JSON's message for its depth limit ("too deep") does not say the limit.
    const std::string what = ec == json::error::too_deep
                                 ? "it nests arrays and objects deeper than " + std::to_string(max_json_depth) + " levels"
                                 : ec.message();
    return api_errors::invalid_json("The request body is not valid JSON: " + what + " " +
                                    json_error_position(body_text, options) +
                                    ". Send a JSON object with Content-Type: application/json.");
  }
  if (!body.is_object()) return api_errors::invalid_json("The request body must be a JSON object.");
  // Moved in at construction so that the body keeps its storage: assigning a value into one with
  // another storage would copy every node.
  DecodedRequest request{endpoint, {}, false, 0, {}, std::move(body)};
  auto& object = request.body.get_object();
  const TopLevel top = top_level(object);
  const auto* model = top.model;
  if (model == nullptr) return api_errors::invalid_request("'model' is required", "model");
  if (!model->is_string() || model->get_string().empty())
    return api_errors::invalid_request("'model' must be a non-empty string", "model");
  if (!valid_model_name(model->get_string()))
    return api_errors::invalid_request("'model' must be at most " + std::to_string(max_model_name_bytes) +
                                           " letters, digits and . _ : / @ + - (a model this gateway serves)",
                                       "model");
  request.model = std::string(model->get_string());

  if (const auto* stream = top.stream; stream != nullptr && !stream->is_null()) {
    if (!stream->is_bool()) return api_errors::invalid_request("'stream' must be true or false", "stream");
    request.stream = stream->get_bool();
  }
  if (const auto* options = top.stream_options; options != nullptr && !options->is_null()) {
    if (!options->is_object()) return api_errors::invalid_request("'stream_options' must be an object", "stream_options");
    // As OpenAI answers: options of a stream on a request that asks for none is a mistake, not a no-op.
    if (!request.stream)
      return api_errors::invalid_request("'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (const auto* usage = options->get_object().if_contains("include_usage"); usage != nullptr && !usage->is_null()) {
      if (!usage->is_bool())
        return api_errors::invalid_request("'stream_options.include_usage' must be true or false",
                                           "stream_options.include_usage");
      request.include_usage = usage->get_bool();
    }
  }
  for (const auto& [key, value] : {std::pair{"max_tokens", top.max_tokens},
                                    std::pair{"max_completion_tokens", top.max_completion_tokens}}) {
    if (value == nullptr || value->is_null()) continue;
    // 0 is refused as OpenAI refuses it ("integer below minimum value"): an answer of no tokens.
    if (!value->is_int64() || value->get_int64() < 1 || value->get_int64() > 100'000'000)
      return api_errors::invalid_request(std::string("'") + key + "' must be a positive integer (1 to 100000000)", key);
    request.max_tokens = static_cast<std::uint32_t>(value->get_int64());
  }

  request.logprobs_asked_by = logprobs_asked_by(endpoint, top);

  std::optional<ApiError> error;
  switch (endpoint) {
    case Endpoint::chat_completions: {
      auto* messages = top.messages;
      if (messages == nullptr) return api_errors::invalid_request("'messages' is required", "messages");
      if (!messages->is_array() || messages->get_array().empty())
        return api_errors::invalid_request("'messages' must be a non-empty array", "messages");
      auto& list = messages->get_array();
      // Under a policy the body's other strings follow the messages' (a `user`, a name, tool-call
      // arguments): room for a few of them too.
      request.texts.reserve(std::min<std::size_t>(list.size() + (scope == TextScope::every_string ? 4 : 0), max_text_fields));
      for (std::size_t i = 0; i < list.size() && !error; ++i) {
        auto path = [i] { return element_path("messages", i); };  // built only for an error message
        if (!list[i].is_object()) return api_errors::invalid_request("'" + path() + "' must be an object", path());
        auto& message = list[i].get_object();
        const auto* role = message.if_contains("role");
        if (role == nullptr || !role->is_string())
          return api_errors::invalid_request("'" + path() + ".role' must be a string", path() + ".role");
        if (auto* content = message.if_contains("content"))
          error = collect_content(*content, static_cast<std::int32_t>(i), request.texts, request.unreadable_parts);
      }
      break;
    }
    case Endpoint::completions:
      error = collect_string_or_list(object, "prompt", request, true);
      break;
    case Endpoint::embeddings:
      error = collect_string_or_list(object, "input", request, true);
      break;
  }
  if (error) return *error;
  if (scope == TextScope::prompts) {
    // Without a policy only "model" decides anything (which backend, and whether the tenant may):
    // a body that repeats a key is refused where it may name "model" twice. A second "model" can
    // hide behind escapes ("mod\u0065l"), so any \u00 escape counts. The body is searched only
    // when a key is repeated, which the parse has already counted.
    const auto may_repeat_model = [body_text] {
      const auto first = find_text(body_text, "\"model\"");
      return (first != std::string_view::npos &&
              find_text(body_text.substr(first + 1), "\"model\"") != std::string_view::npos) ||
             find_text(body_text, "\\u00") != std::string_view::npos;
    };
    if (repeats_a_key(written_members, request.body) && may_repeat_model()) return repeated_key(body_text, options);
    request.prompt_bytes = text_bytes(request.texts);
    return request;
  }
  // Then every other string of the body but the model's name (which must be one the gateway serves).
  // On the stack for a usual number of prompt texts.
  boost::container::small_vector<const json::string*, 16> known;
  known.reserve(request.texts.size() + 1);
  for (const auto& field : request.texts) known.push_back(field.node);
  known.push_back(&model->get_string());
  std::sort(known.begin(), known.end());
  JsonPathSteps path;
  // Token ids are numbers no detector can read as text: such a prompt is refused under a policy
  // (policy_request.hpp), and its ids are not collected one by one.
  auto* numbers = request.token_ids ? nullptr : &request.number_digits;
  if (auto error = collect_other_strings(request.body, path, known, request.texts, numbers)) return *error;
  // A repeated key: the policy decides on the last one, but the original bytes are forwarded, and a
  // backend that reads the first would see what was not checked. JSON leaves it open: refused.
  if (repeats_a_key(written_members, request.body)) return repeated_key(body_text, options);
  if (request.texts.size() > max_text_fields)
    return api_errors::invalid_request("the request has more than " + std::to_string(max_text_fields) +
                                       " text fields");
  request.prompt_bytes = text_bytes(request.texts);
  return request;
}

// Built into one string without temporaries: the policy path names every text of every request.
std::string TextPath::to_string() const {
  std::string path;
  path.reserve(48);
  write_to(path);
  return path;
}

void TextPath::write_to(std::string& path) const {
  path.assign(key);
  auto append_index = [&path](std::int32_t i) {
    char digits[12];
    path += '[';
    path.append(digits, std::to_chars(digits, digits + sizeof digits, i).ptr);
    path += ']';
  };
  if (index < 0) return;
  append_index(index);
  if (std::string_view(key) != "messages") return;
  path += ".content";
  if (part >= 0) {
    append_index(part);
    path += ".text";
  }
}

bool same_texts(const std::vector<TextField>& one, const std::vector<TextField>& other) {
  return std::equal(one.begin(), one.end(), other.begin(), other.end(), [](const TextField& a, const TextField& b) {
    return a.text == b.text && std::string_view(a.path.key) == b.path.key && a.path.index == b.path.index &&
           a.path.part == b.path.part && a.other_path == b.other_path && a.is_key == b.is_key &&
           a.json_text == b.json_text;
  });
}

void replace_text(TextField& field, std::string_view text) {
  if (field.number != nullptr) {
    // A number the policy rewrites becomes a string holding the marker or the token.
    *field.number = text;
    field.node = &field.number->get_string();
    field.number = nullptr;
  }
  if (field.node == nullptr) return;  // a key: the transform phase refuses to rewrite those
  *field.node = text;
  field.text = *field.node;
}

}  // namespace sovereign::gateway
