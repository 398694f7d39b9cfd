// Fuzz target: request bodies as applications send them. Byte 0 picks the endpoint; the rest is
// the body. decode_request must accept it or refuse it with an OpenAI-shaped error, never crash or
// hang; an accepted body has every text rewritten in place (as redaction does) and re-serialised.
// Without a policy the plain path's one-pass summary must answer as the full decode: the same error,
// or the same fields, and a summary only of a body the full decode accepts. Under a policy the
// one-pass reading (policy_scan) must answer as every_string: the same error, or the same fields
// and the same texts in the same order with the same paths.
#include <cstdlib>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>

#include "fuzz_support.hpp"
#include "gateway/openai/request_body.hpp"
#include "gateway/openai/request_summary.hpp"

using namespace sovereign;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 256 * 1024) return 0;
  static constexpr gateway::Endpoint endpoints[] = {gateway::Endpoint::chat_completions, gateway::Endpoint::completions,
                                                    gateway::Endpoint::embeddings};
  const gateway::Endpoint endpoint = endpoints[data[0] % 3];
  const std::string_view body = fuzz::as_text(data + 1, size - 1);
  const auto scope = (data[0] & 0x80) != 0 ? gateway::TextScope::prompts : gateway::TextScope::every_string;
  auto storage = boost::json::make_shared_resource<boost::json::monotonic_resource>();
  auto decoded = gateway::decode_request(endpoint, body, storage, scope);
  if (scope == gateway::TextScope::prompts) {
    const auto summary = gateway::summarize_request(endpoint, body);
    const auto answer = gateway::decode_request(endpoint, body, {}, gateway::TextScope::summary);
    if (const auto* full = std::get_if<gateway::DecodedRequest>(&decoded)) {
      const auto* same = std::get_if<gateway::DecodedRequest>(&answer);
      if (same == nullptr || same->model != full->model || same->stream != full->stream ||
          same->include_usage != full->include_usage || same->max_tokens != full->max_tokens ||
          same->logprobs_asked_by != full->logprobs_asked_by || same->token_ids != full->token_ids ||
          same->prompt_bytes != full->prompt_bytes || same->body.is_null() != summary.has_value())
        std::abort();
      if (summary && (!full->unreadable_parts.empty() || full->token_ids)) std::abort();
    } else {
      const auto* same = std::get_if<gateway::ApiError>(&answer);
      if (summary || same == nullptr || same->to_json() != std::get<gateway::ApiError>(decoded).to_json()) std::abort();
    }
  }
  if (scope == gateway::TextScope::every_string) {
    const auto read = gateway::decode_request(endpoint, body, {}, gateway::TextScope::policy_scan);
    if (const auto* full = std::get_if<gateway::DecodedRequest>(&decoded)) {
      const auto* same = std::get_if<gateway::DecodedRequest>(&read);
      if (same == nullptr || same->model != full->model || same->stream != full->stream ||
          same->include_usage != full->include_usage || same->max_tokens != full->max_tokens ||
          same->logprobs_asked_by != full->logprobs_asked_by || same->token_ids != full->token_ids ||
          same->prompt_bytes != full->prompt_bytes || same->texts.size() != full->texts.size() ||
          same->unreadable_parts.size() != full->unreadable_parts.size())
        std::abort();
      for (std::size_t i = 0; i < full->texts.size(); ++i) {
        const auto& a = same->texts[i];
        const auto& b = full->texts[i];
        if (a.path_string() != b.path_string() || a.text != b.text || a.is_key != b.is_key || a.json_text != b.json_text)
          std::abort();
      }
    } else {
      const auto* same = std::get_if<gateway::ApiError>(&read);
      if (same == nullptr || same->to_json() != std::get<gateway::ApiError>(decoded).to_json()) std::abort();
    }
  }
  if (auto* request = std::get_if<gateway::DecodedRequest>(&decoded)) {
    for (auto& field : request->texts) {
      (void)field.path_string();
      if (!field.is_key) gateway::replace_text(field, "[REDACTED:fuzz]");
    }
    (void)boost::json::serialize(request->body);
  } else {
    (void)std::get<gateway::ApiError>(decoded);
  }
  return 0;
}
