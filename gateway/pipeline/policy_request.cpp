#include "gateway/pipeline/policy_request.hpp"

#include <algorithm>

#include "crypto/token_vault.hpp"
#include "gateway/openai/json_text.hpp"
#include "policy/unscanned_parts.hpp"

namespace sovereign::gateway {
namespace {

// The request's unreadable parts as the policy engine names them, into `parts` (its memory reused).
void fill_unscanned_parts(const DecodedRequest& decoded, std::vector<policy::UnscannedPart>& parts) {
  parts.clear();
  parts.reserve(decoded.unreadable_parts.size());
  for (const auto& part : decoded.unreadable_parts) parts.push_back({part.path, part.type, part.remote_url_path});
}

std::vector<policy::UnscannedPart> unscanned_parts(const DecodedRequest& decoded) {
  std::vector<policy::UnscannedPart> parts;
  fill_unscanned_parts(decoded, parts);
  return parts;
}

}  // namespace

std::optional<ApiError> refused_before_policy(const DecodedRequest& decoded, const policy::Policy& policy,
                                              std::string_view tenant) {
  if (decoded.token_ids)
    return api_errors::invalid_request(
        "This gateway's policy checks every prompt, and token ids cannot be checked; send the prompt as text.",
        decoded.endpoint == Endpoint::embeddings ? "input" : "prompt");
  if (!decoded.unreadable_parts.empty())
    if (auto refusal = policy::refuse_unscanned(unscanned_parts(decoded), policy, tenant))
      return api_errors::invalid_request(std::move(refusal->message), std::move(refusal->path));
  if (!decoded.logprobs_asked_by.empty() && policy.redacts_answers(tenant))
    return api_errors::invalid_request(
        "This gateway's policy redacts values from answers, and log probabilities would carry the answer's "
        "text unredacted, token by token; send the request without '" + std::string(decoded.logprobs_asked_by) +
            "' ('logprobs', 'top_logprobs' and 'n_probs' all ask for them).",
        std::string(decoded.logprobs_asked_by));
  return std::nullopt;
}

policy::Request policy_request(const DecodedRequest& decoded, std::string tenant, std::string declared_class) {
  policy::Request request;
  fill_policy_request(request, decoded, tenant, declared_class);
  return request;
}

void fill_policy_request(policy::Request& request, const DecodedRequest& decoded, std::string_view tenant,
                         std::string_view declared_class) {
  request.tenant.assign(tenant);
  request.model.assign(decoded.model);
  request.endpoint.assign(endpoint_name(decoded.endpoint));
  request.declared_class.assign(declared_class);
  request.segments.resize(decoded.texts.size());
  // JSON text is read with its escapes resolved: a value in tool-call arguments as the client meant
  // it, which is what a detector matches and what the vault keeps (Exchange::transform).
  for (std::size_t i = 0; i < decoded.texts.size(); ++i) {
    const auto& field = decoded.texts[i];
    auto& segment = request.segments[i];
    field.write_path_to(segment.json_path);
    if (field.json_text) segment.text = readable_json_text(field.text).text;
    else segment.text.assign(field.text);
  }
  fill_unscanned_parts(decoded, request.unscanned_parts);
}

std::optional<ApiError> refused_after_policy(const DecodedRequest& decoded, const policy::Decision& decision) {
  for (std::size_t segment = 0; segment < decoded.texts.size(); ++segment) {
    const auto& field = decoded.texts[segment];
    if (field.is_key && std::any_of(decision.spans.begin(), decision.spans.end(),
                                    [&](const policy::Span& s) { return s.segment == segment; }))
      return api_errors::invalid_request("The policy redacts or tokenizes a value found in an object key (" +
                                             field.other_path +
                                             "), and keys are not rewritten; send the value as a string value instead.",
                                         field.other_path);
  }
  // A value longer than the vault keeps is this request's doing, not a vault that is full: it is
  // refused as the request's fault (400, naming where), and never counted as a vault refusal.
  for (const auto& span : decision.spans) {
    if (span.kind != policy::TransformKind::tokenize || span.segment >= decoded.texts.size()) continue;
    const std::size_t bytes = span.end > span.begin ? span.end - span.begin : 0;
    if (bytes <= crypto::max_tokenized_value_bytes) continue;
    const std::string where = decoded.texts[span.segment].path_string();
    return api_errors::invalid_request("The policy tokenizes the " + span.detector + " value at " + where +
                                           ", which has " + std::to_string(bytes) +
                                           " bytes; the token vault keeps values of at most " +
                                           std::to_string(crypto::max_tokenized_value_bytes) +
                                           " bytes. Send it in shorter parts.",
                                       where);
  }
  return std::nullopt;
}

}  // namespace sovereign::gateway
