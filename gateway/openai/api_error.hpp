#pragma once
// Errors in OpenAI's JSON shape: {"error":{"message","type","param","code"}}, with their HTTP status.
#include <cstddef>
#include <ostream>  // Boost 1.81's string_view, which beast/http/status.hpp uses, needs it and does not include it
#include <string>
#include <string_view>

#include <boost/beast/http/status.hpp>

namespace sovereign::gateway {

struct ApiError {
  boost::beast::http::status status;
  std::string type;     // invalid_request_error, authentication_error, permission_error, ...
  std::string code;     // machine-readable: invalid_api_key, model_not_found, ...
  std::string message;  // for people: what is wrong and what would fix it
  std::string param;    // the request field at fault, if any
  std::string allow{};  // 405: the methods the resource takes, for the Allow header (RFC 9110 15.5.6)

  std::string to_json() const;
};

// The catalogue: one constructor per failure mode, so status, type and code stay consistent.
namespace api_errors {
ApiError invalid_request(std::string message, std::string param = {});
ApiError context_length_exceeded(std::string message, std::string param);
ApiError invalid_json(std::string message);
ApiError missing_api_key();
ApiError invalid_api_key();
ApiError malformed_authorization(const std::string& why);
ApiError model_not_found(const std::string& model);
ApiError model_not_permitted(const std::string& model, const std::string& tenant);
ApiError denied_by_policy(std::string message, const std::string& rule);
ApiError not_found(const std::string& target);
ApiError method_not_allowed(const std::string& method, const std::string& target, std::string allow);
ApiError request_too_large(std::size_t limit);
// 415: the body is compressed or in a charset other than UTF-8 (gateway/openai/body_media.hpp).
ApiError unsupported_media_type(std::string message);
ApiError header_too_large(std::size_t limit);
ApiError request_timeout();
ApiError rate_limited(const std::string& tenant, const std::string& what);
ApiError no_backend_available(const std::string& model, const std::string& why);
ApiError egress_refused(const std::string& model, const std::string& why);
// The only replicas a request could go to have host names that do not resolve (yet): a DNS failure.
ApiError backend_unresolved(const std::string& model, const std::string& why);
ApiError upstream_error(const std::string& why);
ApiError model_numerical_fault(const std::string& model, const std::string& why);
ApiError upstream_timeout(const std::string& backend);
// A 4xx of a backend that concerns the client's request, whose body was not an OpenAI error: its
// status kept, its message (": text", from upstream_message) or else what it sent named.
ApiError upstream_refusal(unsigned status, const std::string& backend, const std::string& message,
                          const std::string& content_type, std::size_t body_bytes);
ApiError audit_unavailable(const std::string& why);
ApiError tokenization_unavailable(const std::string& why);
// 500: a fault of the gateway's own (an invariant broken); fail closed, forwarding nothing.
ApiError internal_error(const std::string& why);
// The policy asks for a sealed capture of the exchange and it could not be written: `part` is
// "request" (nothing was forwarded) or "response" (the answer is withheld).
ApiError capture_unavailable(std::string_view part, const std::string& why);
ApiError shutting_down();
ApiError too_many_connections(std::size_t limit);
}  // namespace api_errors

}  // namespace sovereign::gateway
