#pragma once
// The plain path's reading of an OpenAI request body (no policy configured): the model, stream,
// token limits and the prompt texts' size, taken in one pass of the JSON parser without building
// the body; under a policy, every text the policy scans as well. Only an ordinary body that decode_request accepts is summarised; any other is left to
// decode_request, whose answer (an error included) stays the one the client gets.
#include <optional>
#include <string_view>

#include "gateway/openai/request_body.hpp"

namespace sovereign::gateway {

// What decode_request(endpoint, body, {}, TextScope::prompts) returns for `body`, when this pass
// can vouch that it accepts it: model, stream, include_usage, max_tokens, logprobs_asked_by and
// prompt_bytes, with `body` null and `texts` empty. nullopt for any body it cannot vouch for: one
// that is not JSON or that decode_request refuses, one that repeats a key anywhere, a content part
// that is not text (unreadable_parts), token ids, a number too large for a double, more texts than
// a policy would read.
// With `collect_texts`, what decode_request(endpoint, body, {}, TextScope::every_string) returns,
// but with `body` null and the texts held by the request (TextScope::policy_scan), for the same
// bodies. The texts are kept in `storage` where it is an arena that frees nothing until it goes
// (which must then outlive the result, as decode_request's storage must), else in an arena the
// request holds.
[[nodiscard]] std::optional<DecodedRequest> summarize_request(Endpoint endpoint, std::string_view body,
                                                              bool collect_texts = false,
                                                              boost::json::storage_ptr storage = {});

}  // namespace sovereign::gateway
