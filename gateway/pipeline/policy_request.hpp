#pragma once
// What the decide phase hands the policy engine, built in one place so that `sovereign policy explain`
// decides a request file exactly as the gateway decides the same body.
#include <optional>
#include <string>
#include <string_view>

#include "gateway/openai/api_error.hpp"
#include "gateway/openai/request_body.hpp"
#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::gateway {

// A request the policy cannot check is refused before it is evaluated: token ids, content parts that
// are not text (images, audio, files: no detector can read them) unless the tenant lets their type
// through unscanned with their data inline (policy/unscanned_parts.hpp), and log probabilities where
// the tenant's answers are redacted (they would carry the answer's text, token by token, past the
// redaction). nullopt: the policy may decide it.
std::optional<ApiError> refused_before_policy(const DecodedRequest& decoded, const policy::Policy& policy,
                                              std::string_view tenant);

// A decision the gateway cannot carry out is refused after it: the policy redacts or tokenizes a value
// found in an object key, and keys are not rewritten; or it tokenizes a value longer than the token
// vault keeps. nullopt: it can.
std::optional<ApiError> refused_after_policy(const DecodedRequest& decoded, const policy::Decision& decision);

// The engine's input: tenant, model, endpoint, the class declared in X-Data-Class (may be empty) and
// every string of the body with its JSON path (decode_request with TextScope::every_string).
policy::Request policy_request(const DecodedRequest& decoded, std::string tenant, std::string declared_class);
// The same into `request`, replacing what it held: a request reused from one decision to the next
// keeps the capacity of its strings and lists, so that the gateway copies the texts without
// allocating (gateway/pipeline/exchange.cpp).
void fill_policy_request(policy::Request& request, const DecodedRequest& decoded, std::string_view tenant,
                         std::string_view declared_class);

}  // namespace sovereign::gateway
