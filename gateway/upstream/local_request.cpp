#include "gateway/upstream/local_request.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// "2", "0.5", "1000000": the shortest text that reads back as `number`.
std::string format_number(double number) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(number);
}

bool present(const json::value* value) { return value != nullptr && !value->is_null(); }

std::optional<ApiError> read_number(const json::object& body, const char* key, double min, double max, double& out) {
  const auto* value = body.if_contains(key);
  if (!present(value)) return std::nullopt;
  if (!value->is_number()) return api_errors::invalid_request(std::string("'") + key + "' must be a number", key);
  const double number = value->to_number<double>();
  if (number < min || number > max)
    return api_errors::invalid_request(std::string("'") + key + "' must be between " + format_number(min) + " and " +
                                           format_number(max) + ", not " + format_number(number),
                                       key);
  out = number;
  return std::nullopt;
}

// A JSON integer in the signed 64-bit range, written without a fraction or an exponent: 2.0 and 2e0
// are not integers here, as the gateway's decoder refuses "max_tokens": 2.0, so that every integer
// parameter reads the same way (OpenAI's schema types them "integer").
std::optional<std::int64_t> integer_of(const json::value& value) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64() && value.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(value.get_uint64());
  return std::nullopt;
}

// OpenAI's seed is a signed 64-bit integer; the engine's generator takes its two's-complement bits.
std::optional<ApiError> read_seed(const json::object& body, std::optional<std::uint64_t>& out) {
  const auto* value = body.if_contains("seed");
  if (!present(value)) return std::nullopt;
  const auto seed = integer_of(*value);
  if (!seed)
    return api_errors::invalid_request("'seed' must be an integer from -9223372036854775808 to 9223372036854775807",
                                       "seed");
  out = static_cast<std::uint64_t>(*seed);
  return std::nullopt;
}

constexpr std::int64_t kMaxTopK = 1'000'000;

std::optional<ApiError> read_top_k(const json::object& body, int& out) {
  const auto* value = body.if_contains("top_k");
  if (!present(value)) return std::nullopt;
  const auto top_k = integer_of(*value);
  if (!top_k || *top_k < 0 || *top_k > kMaxTopK)
    return api_errors::invalid_request("'top_k' must be an integer from 0 (off) to " + std::to_string(kMaxTopK),
                                       "top_k");
  out = static_cast<int>(*top_k);
  return std::nullopt;
}

std::optional<ApiError> read_stop(const json::object& body, std::vector<std::string>& out) {
  const auto* stop = body.if_contains("stop");
  if (!present(stop)) return std::nullopt;
  const auto too_long = [](const std::string& param, std::size_t bytes) {
    return api_errors::invalid_request("'" + param + "' is " + std::to_string(bytes) +
                                           " bytes; a stop string is at most " + std::to_string(accel::kMaxStopBytes),
                                       param);
  };
  if (stop->is_string()) {
    if (stop->get_string().size() > accel::kMaxStopBytes) return too_long("stop", stop->get_string().size());
    out.emplace_back(stop->get_string());
    return std::nullopt;
  }
  if (!stop->is_array()) return api_errors::invalid_request("'stop' must be a string or a list of strings", "stop");
  const auto& items = stop->get_array();
  if (items.size() > accel::kMaxStopStrings)
    return api_errors::invalid_request("'stop' has " + std::to_string(items.size()) + " strings; at most " +
                                           std::to_string(accel::kMaxStopStrings),
                                       "stop");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string param = "stop[" + std::to_string(i) + "]";
    if (!items[i].is_string()) return api_errors::invalid_request("'" + param + "' must be a string", param);
    if (items[i].get_string().size() > accel::kMaxStopBytes) return too_long(param, items[i].get_string().size());
    out.emplace_back(items[i].get_string());
  }
  return std::nullopt;
}

// A parameter the engine does not implement, accepted only at the value that asks for nothing.
struct UnsupportedParameter {
  const char* key;
  bool (*is_default)(const json::value&);
  const char* why;  // what the engine does not do
};

bool is_zero(const json::value& v) { return v.is_number() && v.to_number<double>() == 0.0; }
bool is_one(const json::value& v) { return v.is_number() && v.to_number<double>() == 1.0; }
bool is_integer_one(const json::value& v) { return integer_of(v) == 1; }
bool is_none_or_auto(const json::value& v) {
  return v.is_string() && (v.get_string() == "none" || v.get_string() == "auto");
}
bool never(const json::value&) { return false; }
bool is_false(const json::value& v) { return v.is_bool() && !v.get_bool(); }
bool is_empty(const json::value& v) {
  return (v.is_array() && v.get_array().empty()) || (v.is_object() && v.get_object().empty()) ||
         (v.is_string() && v.get_string().empty());
}
bool is_text_format(const json::value& v) {
  const auto* type = v.is_object() ? v.get_object().if_contains("type") : nullptr;
  return type != nullptr && type->is_string() && type->get_string() == "text";
}
bool is_text_modality(const json::value& v) {
  return v.is_array() && v.get_array().size() == 1 && v.get_array()[0].is_string() &&
         v.get_array()[0].get_string() == "text";
}

constexpr UnsupportedParameter kUnsupported[] = {
    {"response_format", is_text_format, "does not constrain its output to JSON or a schema"},
    {"tools", is_empty, "does not call tools"},
    {"tool_choice", is_none_or_auto, "does not call tools"},
    {"functions", is_empty, "does not call functions"},
    {"function_call", is_none_or_auto, "does not call functions"},
    {"logit_bias", is_empty, "does not apply logit biases"},
    {"presence_penalty", is_zero, "does not apply presence penalties"},
    {"frequency_penalty", is_zero, "does not apply frequency penalties"},
    {"repetition_penalty", is_one, "does not apply repetition penalties"},
    {"echo", is_false, "does not echo the prompt"},
    {"suffix", is_empty, "does not insert text before a suffix"},
    {"best_of", is_integer_one, "generates one candidate per request"},
    {"modalities", is_text_modality, "generates text only"},
    {"audio", never, "generates text only"},
    {"prediction", never, "does not use predicted outputs"},
    {"reasoning_effort", never, "does not reason and has no reasoning effort to set"},
    {"min_p", is_zero, "does not apply min-p sampling"},
};

// The other keys a request for the engine may carry: those it reads, and those that ask nothing of
// the answer's text (who sent it, what to store it under, how to bill or cache it).
constexpr std::string_view kReadKeys[] = {
    "model",  "stream", "stream_options", "max_tokens", "max_completion_tokens", "n",    "logprobs",
    "top_logprobs", "temperature", "top_p", "top_k", "seed", "stop", "user", "metadata", "store",
    "service_tier", "parallel_tool_calls", "safety_identifier", "prompt_cache_key"};

// Any other key, a misspelt "temprature" or a parameter of another server such as "guided_json" or
// "min_tokens", is refused by name as OpenAI refuses it: ignored, it would give an answer made
// without what the client asked for. `prompt_key` is the endpoint's own ("messages" or "prompt").
std::optional<ApiError> refuse_unknown_keys(const DecodedRequest& request, const json::object& body,
                                            std::string_view prompt_key) {
  auto known = [prompt_key](std::string_view key) {
    if (key == prompt_key) return true;
    for (const auto& parameter : kUnsupported)
      if (key == parameter.key) return true;
    return std::find(std::begin(kReadKeys), std::end(kReadKeys), key) != std::end(kReadKeys);
  };
  for (const auto& member : body) {
    if (known(member.key())) continue;
    const std::string key(member.key());
    return api_errors::invalid_request("the built-in engine serving '" + request.model + "' does not know the parameter '" +
                                           key + "' of " + endpoint_name(request.endpoint) +
                                           ": leave it out, or check its spelling",
                                       key);
  }
  return std::nullopt;
}

// The members of stream_options, checked as the request's own keys are: include_usage is served
// (the decoder reads it), include_obfuscation asks for nothing when false (true asks for padding
// events the engine does not send), and any other, vLLM's continuous_usage_stats or a misspelt
// include_usge, would otherwise be ignored without a word.
std::optional<ApiError> refuse_unserved_stream_options(const DecodedRequest& request, const json::object& body) {
  const auto* options = body.if_contains("stream_options");
  if (!present(options) || !options->is_object()) return std::nullopt;
  const std::string engine = "the built-in engine serving '" + request.model + "' ";
  for (const auto& member : options->get_object()) {
    const std::string param = "stream_options." + std::string(member.key());
    if (member.key() == "include_usage") continue;
    if (member.key() == "include_obfuscation") {
      if (!present(&member.value()) || is_false(member.value())) continue;
      return api_errors::invalid_request(engine + "does not pad its stream events: leave out '" + param + "'", param);
    }
    return api_errors::invalid_request(engine + "does not know the stream option '" + param +
                                           "': leave it out, or check its spelling",
                                       param);
  }
  return std::nullopt;
}

// Integer parameters the engine checks only for the value that asks for nothing (n, best_of): a fraction,
// 1.0 included, is refused as such rather than as a request for several choices.
std::optional<ApiError> refuse_non_integers(const json::object& body) {
  for (const char* key : {"n", "best_of"}) {
    const auto* value = body.if_contains(key);
    if (present(value) && !integer_of(*value))
      return api_errors::invalid_request(std::string("'") + key + "' must be an integer", key);
  }
  return std::nullopt;
}

std::optional<ApiError> refuse_unsupported(const DecodedRequest& request, const json::object& body) {
  for (const auto& parameter : kUnsupported) {
    const auto* value = body.if_contains(parameter.key);
    if (!present(value) || parameter.is_default(*value)) continue;
    return api_errors::invalid_request("the built-in engine serving '" + request.model + "' " + parameter.why +
                                           ": leave out '" + parameter.key + "'",
                                       parameter.key);
  }
  return std::nullopt;
}

// OpenAI's roles: anything else would be written into the prompt as a turn the model never saw in training.
bool known_role(std::string_view role) {
  for (const std::string_view known : {"system", "developer", "user", "assistant", "tool", "function"})
    if (role == known) return true;
  return false;
}

// A message's text; a part that is not text (an image, audio, a file) is refused, not dropped. As
// OpenAI answers, every message needs content (an assistant's may be left out only beside tool_calls,
// which the engine refuses before this): without it the prompt would hold an empty turn.
std::optional<ApiError> message_text(const DecodedRequest& request, const json::object& message, std::size_t index,
                                     std::string& out) {
  const auto* content = message.if_contains("content");
  const std::string param = "messages[" + std::to_string(index) + "].content";
  if (!present(content))
    return api_errors::invalid_request("'" + param + "' is required", param);
  if (content->is_string()) {
    out = std::string(content->get_string());
    return std::nullopt;
  }
  if (!content->is_array() || content->get_array().empty())
    return api_errors::invalid_request("'" + param + "' must be a string or a non-empty array of content parts", param);
  const auto& parts = content->get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i].get_object();
    const auto* type = part.if_contains("type");
    const auto* text = part.if_contains("text");
    const bool is_text = text != nullptr && text->is_string() &&
                         (type == nullptr || (type->is_string() && type->get_string() == "text"));
    if (!is_text) {
      const std::string part_param = param + "[" + std::to_string(i) + "]";
      const bool other_type = type != nullptr && type->is_string() && type->get_string() != "text";
      const std::string kind =
          other_type ? "of type '" + std::string(type->get_string()) + "'" : "without a 'text' string";
      return api_errors::invalid_request("the built-in engine serving '" + request.model + "' reads text only; '" +
                                             part_param + "' is " + kind,
                                         part_param);
    }
    out += std::string(text->get_string());
  }
  return std::nullopt;
}

// Tool results and calls in the history: the engine calls no tools, and its chat formats would drop
// the call ids and arguments, so the model would answer a conversation the client never had.
std::optional<ApiError> refuse_tool_turns(const DecodedRequest& request, const json::object& message,
                                          std::string_view role, std::size_t index) {
  const std::string at = "messages[" + std::to_string(index) + "]";
  const std::string engine = "the built-in engine serving '" + request.model + "' ";
  if (role == "tool" || role == "function") {
    const char* what = role == "tool" ? "does not call tools" : "does not call functions";
    return api_errors::invalid_request(engine + what + ": '" + at + "' is a " + std::string(role) +
                                           " result; leave it out",
                                       at + ".role");
  }
  for (const auto& [key, what] : {std::pair{"tool_calls", "does not call tools"},
                                  std::pair{"function_call", "does not call functions"}}) {
    const auto* value = message.if_contains(key);
    if (!present(value) || is_empty(*value)) continue;
    const std::string param = at + "." + key;
    return api_errors::invalid_request(engine + what + ": leave out '" + param + "'", param);
  }
  return std::nullopt;
}

// Members of a message the chat formats cannot carry into the prompt: accepted only where they ask
// for nothing (null or empty, as OpenAI's SDKs write them into a history copied from an answer).
// None of chatml, llama3, llama2, mistral or zephyr (the published templates of Qwen2, Llama 3, Llama 2,
// Mistral and TinyLlama) has a place for a sender's name: rendered in a made-up way, the model would read a
// prompt unlike any it was trained on; dropped, the answer would be made without it.
struct UnrenderedMember {
  const char* key;
  const char* why;      // what the engine cannot do with it
  const char* instead;  // what the client can do instead, or ""
};

constexpr UnrenderedMember kUnrenderedMembers[] = {
    {"name",
     "cannot tell the model who wrote a message: its chat formats (chatml, llama3, llama2, mistral, zephyr) have no "
     "place for a name",
     "; write the name into the content if the model should read it"},
    {"refusal", "cannot show the model an earlier refusal: its chat formats have no place for one",
     "; write it into the content if the model should read it"},
    {"audio", "reads text only", ""},
};

// The members the engine reads (role, content), checks elsewhere (tool_calls, function_call) or that
// add nothing to what content says (annotations: the citations of a copied answer's own text).
constexpr std::string_view kMessageMembers[] = {"role", "content", "tool_calls", "function_call", "annotations"};

// Every other member of a message is refused by name, as an unknown parameter of the request is:
// ignored, it would give an answer made without what the client sent.
std::optional<ApiError> refuse_unrendered_members(const DecodedRequest& request, const json::object& message,
                                                  std::size_t index) {
  const std::string engine = "the built-in engine serving '" + request.model + "' ";
  for (const auto& member : message) {
    const std::string_view key = member.key();
    if (std::find(std::begin(kMessageMembers), std::end(kMessageMembers), key) != std::end(kMessageMembers)) continue;
    const std::string param = "messages[" + std::to_string(index) + "]." + std::string(key);
    const auto* unrendered = std::find_if(std::begin(kUnrenderedMembers), std::end(kUnrenderedMembers),
                                          [key](const UnrenderedMember& m) { return key == m.key; });
    if (unrendered == std::end(kUnrenderedMembers))
      return api_errors::invalid_request(engine + "does not know the member '" + std::string(key) +
                                             "' of a message: leave out '" + param + "', or check its spelling",
                                         param);
    if (!present(&member.value()) || is_empty(member.value())) continue;
    return api_errors::invalid_request(engine + unrendered->why + ": leave out '" + param + "'" + unrendered->instead,
                                       param);
  }
  return std::nullopt;
}

}  // namespace

std::variant<accel::GenerationRequest, ApiError> generation_request(const DecodedRequest& request) {
  accel::GenerationRequest out;
  const auto& body = request.body.get_object();
  if (request.endpoint == Endpoint::embeddings)
    return api_errors::invalid_request("the built-in engine serving '" + request.model +
                                       "' generates text; it does not compute embeddings");
  if (auto error = refuse_non_integers(body)) return *error;
  // Two limits for one answer: OpenAI refuses the pair ("invalid_parameter_combination") rather than
  // choose; the decoder keeps the last, so the engine would silently answer under only one of them.
  if (present(body.if_contains("max_tokens")) && present(body.if_contains("max_completion_tokens")))
    return api_errors::invalid_request("setting 'max_tokens' and 'max_completion_tokens' at the same time is not "
                                       "supported: send one of them",
                                       "max_tokens");
  // Refused rather than ignored: a client asking for several choices or log probabilities would
  // otherwise take an answer without them for one with them.
  if (const auto* n = body.if_contains("n"); present(n) && integer_of(*n) != 1)
    return api_errors::invalid_request("the built-in engine serving '" + request.model +
                                           "' generates one choice per request: 'n' must be 1 or left out",
                                       "n");
  if (!request.logprobs_asked_by.empty()) {
    const std::string key(request.logprobs_asked_by);
    return api_errors::invalid_request("the built-in engine serving '" + request.model +
                                           "' does not return log probabilities: leave out '" + key + "'",
                                       key);
  }
  if (auto error = refuse_unsupported(request, body)) return *error;
  if (auto error = refuse_unknown_keys(request, body, request.endpoint == Endpoint::completions ? "prompt" : "messages"))
    return *error;
  if (auto error = refuse_unserved_stream_options(request, body)) return *error;
  if (request.endpoint == Endpoint::completions) {
    const auto& prompt = body.at("prompt");
    if (!prompt.is_string())
      return api_errors::invalid_request("the built-in engine takes 'prompt' as one string", "prompt");
    out.prompt = std::string(prompt.get_string());
  } else {
    const auto& messages = body.at("messages").get_array();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& object = messages[i].get_object();
      accel::ChatMessage chat;
      chat.role = std::string(object.at("role").get_string());
      if (!known_role(chat.role)) {
        const std::string param = "messages[" + std::to_string(i) + "].role";
        return api_errors::invalid_request("'" + param + "' is '" + chat.role +
                                               "'; a role is one of system, developer, user, assistant, tool, function",
                                           param);
      }
      if (auto error = refuse_tool_turns(request, object, chat.role, i)) return *error;
      if (auto error = refuse_unrendered_members(request, object, i)) return *error;
      // OpenAI's newer name for system instructions; the chat formats of open models know only "system".
      if (chat.role == "developer") chat.role = "system";
      if (auto error = message_text(request, object, i, chat.content)) return *error;
      out.messages.push_back(std::move(chat));
    }
  }
  double temperature = 1.0, top_p = 1.0;
  if (auto e = read_number(body, "temperature", 0, 2, temperature)) return *e;
  if (auto e = read_number(body, "top_p", 0, 1, top_p)) return *e;
  // The engine samples in 32-bit floats: a top_p too small for one (below about 1.4e-45) would arrive as 0.
  if (static_cast<float>(top_p) == 0.0f)
    return api_errors::invalid_request("'top_p' must be greater than 0" +
                                           (top_p == 0 ? std::string() : ", and at least 1.4e-45 (a 32-bit float), not " +
                                                                             format_number(top_p)),
                                       "top_p");
  if (auto e = read_top_k(body, out.sampling.top_k)) return *e;
  if (auto e = read_seed(body, out.sampling.seed)) return *e;
  out.sampling.temperature = static_cast<float>(temperature);
  out.sampling.top_p = static_cast<float>(top_p);
  // Without max_tokens the answer runs to an end-of-text token, a stop string or the context's end.
  if (request.max_tokens > 0) out.sampling.max_tokens = static_cast<int>(std::min<std::uint32_t>(request.max_tokens, 1 << 20));
  if (auto e = read_stop(body, out.sampling.stop)) return *e;
  return out;
}

}  // namespace sovereign::gateway
