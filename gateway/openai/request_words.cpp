#include "gateway/openai/request_words.hpp"

#include <charconv>
#include <cmath>

#include "gateway/openai/word_set.hpp"

namespace sovereign::gateway {
namespace json = boost::json;

// Keys of OpenAI's request schema (and of the JSON Schema that tools and response formats carry):
// structure, not data, so they are not scanned. Any other key (a metadata key, a property name, a
// logit_bias token) is.
bool schema_key(std::string_view key) {
  static constexpr std::string_view keys[] = {
      "$defs", "$ref", "$schema", "additionalProperties", "allOf", "anyOf", "arguments", "audio", "best_of",
      "content", "data", "default", "definitions", "description", "detail", "dimensions", "echo",
      "encoding_format", "enum", "file", "file_data", "file_id", "filename", "format", "frequency_penalty",
      "function", "function_call", "functions", "id", "image_url", "include_usage", "input", "input_audio", "items",
      "json_schema", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "maximum", "messages",
      "metadata", "min_p", "minimum", "modalities", "model", "n", "name", "oneOf", "parallel_tool_calls",
      "parameters", "pattern", "prediction", "presence_penalty", "prompt", "properties", "reasoning_effort",
      "refusal", "repetition_penalty", "required", "response_format", "role", "schema", "seed", "service_tier",
      "stop", "store", "stream", "stream_options", "strict", "suffix", "temperature", "text", "title",
      "tool_call_id", "tool_calls", "tool_choice", "tools", "top_k", "top_logprobs", "top_p", "type", "url", "user",
      "voice"};
  // Looked up for every key of every request under a policy (gateway/openai/word_set.hpp).
  static const WordSet set(keys);
  return set.contains(key);
}

// Values that are words of the API's vocabulary (roles, part and format types, choices) carry no
// data; skipping them keeps the scan to one pass per piece of text.
bool vocabulary_word(std::string_view value) {
  static constexpr std::string_view words[] = {
      "array",      "assistant", "auto",   "base64",  "boolean", "developer", "file",   "float",
      "function",   "high",      "image_url", "input_audio", "integer", "json_object", "json_schema", "low",
      "medium",     "none",      "null",   "number",  "object",  "required",  "string", "system",
      "text",       "tool",      "user"};
  static const WordSet set(words);
  return set.contains(value);
}

// Whether the string at `path` is JSON text: messages[M].tool_calls[C].function.arguments or
// messages[M].function_call.arguments, as assistant turns carry them back.
bool holds_json_text(std::string_view path) {
  auto index = [&path](std::string_view prefix) {
    if (!path.starts_with(prefix)) return false;
    path.remove_prefix(prefix.size());
    std::size_t digits = 0;
    while (digits < path.size() && path[digits] >= '0' && path[digits] <= '9') ++digits;
    if (digits == 0 || digits == path.size() || path[digits] != ']') return false;
    path.remove_prefix(digits + 1);
    return true;
  };
  if (!index("messages[")) return false;
  if (path == ".function_call.arguments") return true;
  return index(".tool_calls[") && path == ".function.arguments";
}

// The digits of a whole number (4111111111111111, and 4.111111111111111e15 or 4111111111111111.0,
// which write the same number); nullopt for a fraction or a number beyond 64 bits.
std::optional<std::string> whole_number_digits(const json::value& value) {
  char digits[24];
  auto written = [&digits](auto number) {
    return std::string(digits, std::to_chars(digits, digits + sizeof digits, number).ptr);
  };
  if (value.is_int64()) return written(value.get_int64());
  if (value.is_uint64()) return written(value.get_uint64());
  if (!value.is_double()) return std::nullopt;
  const double number = value.get_double();
  if (number != std::trunc(number)) return std::nullopt;
  if (number >= 0 && number < 18446744073709551616.0) return written(static_cast<std::uint64_t>(number));
  if (number < 0 && number >= -9223372036854775808.0) return written(static_cast<std::int64_t>(number));
  return std::nullopt;
}

}  // namespace sovereign::gateway
