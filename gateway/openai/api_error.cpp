#include "gateway/openai/api_error.hpp"

#include "gateway/log/json_line.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {

using boost::beast::http::status;

std::string ApiError::to_json() const {
  // The message may quote what the client sent (a path, a model name), which need not be UTF-8.
  boost::json::object error{{"message", well_formed_utf8(message)}, {"type", type}};
  error["param"] = param.empty() ? boost::json::value(nullptr) : boost::json::value(well_formed_utf8(param));
  error["code"] = code.empty() ? boost::json::value(nullptr) : boost::json::value(code);
  return boost::json::serialize(boost::json::object{{"error", std::move(error)}});
}

namespace api_errors {

ApiError invalid_request(std::string message, std::string param) {
  return {status::bad_request, "invalid_request_error", "invalid_request", std::move(message), std::move(param)};
}
ApiError context_length_exceeded(std::string message, std::string param) {
  return {status::bad_request, "invalid_request_error", "context_length_exceeded", std::move(message), std::move(param)};
}
ApiError invalid_json(std::string message) {
  return {status::bad_request, "invalid_request_error", "invalid_json", std::move(message), {}};
}
ApiError missing_api_key() {
  return {status::unauthorized, "authentication_error", "invalid_api_key",
          "No API key provided. Send it as 'Authorization: Bearer YOUR_KEY'.", {}};
}
ApiError invalid_api_key() {
  return {status::unauthorized, "authentication_error", "invalid_api_key", "The API key is not valid.", {}};
}
ApiError malformed_authorization(const std::string& why) {
  return {status::unauthorized, "authentication_error", "invalid_api_key",
          why + " Send the key as one 'Authorization: Bearer YOUR_KEY' header.", {}};
}
ApiError model_not_found(const std::string& model) {
  return {status::not_found, "invalid_request_error", "model_not_found",
          "The model '" + model + "' does not exist on this gateway.", "model"};
}
ApiError model_not_permitted(const std::string& model, const std::string& tenant) {
  return {status::forbidden, "permission_error", "model_not_permitted",
          "Tenant '" + tenant + "' is not permitted to use model '" + model + "'.", "model"};
}
ApiError denied_by_policy(std::string message, const std::string& rule) {
  return {status::forbidden, "permission_error", "denied_by_policy",
          std::move(message) + (rule.empty() ? "" : " (rule '" + rule + "')"), {}};
}
ApiError not_found(const std::string& target) {
  return {status::not_found, "invalid_request_error", "unknown_url", "Unknown request URL: " + target + ".", {}};
}
ApiError method_not_allowed(const std::string& method, const std::string& target, std::string allow) {
  return {status::method_not_allowed, "invalid_request_error", "method_not_allowed",
          "Method " + method + " is not allowed for " + target + " (it takes " + allow + ").", {}, std::move(allow)};
}
ApiError request_too_large(std::size_t limit) {
  return {status::payload_too_large, "invalid_request_error", "request_too_large",
          "The request body is larger than the gateway's limit of " + std::to_string(limit) + " bytes.", {}};
}
ApiError unsupported_media_type(std::string message) {
  return {status::unsupported_media_type, "invalid_request_error", "unsupported_media_type", std::move(message), {}};
}
ApiError header_too_large(std::size_t limit) {
  return {status::payload_too_large, "invalid_request_error", "request_too_large",
          "The request headers are larger than the gateway's limit of " + std::to_string(limit) + " bytes.", {}};
}
ApiError request_timeout() {
  return {status::request_timeout, "invalid_request_error", "request_timeout",
          "The request was not received in time.", {}};
}
ApiError rate_limited(const std::string& tenant, const std::string& what) {
  return {status::too_many_requests, "rate_limit_error", "rate_limit_exceeded",
          "Rate limit reached for tenant '" + tenant + "' (" + what + "). Retry after the time in Retry-After.", {}};
}
ApiError no_backend_available(const std::string& model, const std::string& why) {
  return {status::service_unavailable, "service_unavailable_error", "no_backend_available",
          "No backend is available for model '" + model + "': " + why + ".", {}};
}
ApiError egress_refused(const std::string& model, const std::string& why) {
  return {status::service_unavailable, "service_unavailable_error", "egress_refused",
          "No backend for model '" + model + "' may be reached: " + why + ".", {}};
}
ApiError backend_unresolved(const std::string& model, const std::string& why) {
  return {status::service_unavailable, "service_unavailable_error", "backend_unresolved",
          "No backend for model '" + model + "' can be reached now: " + why + ".", {}};
}
ApiError upstream_error(const std::string& why) {
  return {status::bad_gateway, "upstream_error", "upstream_error", "The backend failed: " + why + ".", {}};
}
ApiError model_numerical_fault(const std::string& model, const std::string& why) {
  return {status::bad_gateway, "upstream_error", "model_numerical_fault",
          "The built-in engine stopped generating for model '" + model + "' on a numerical fault: " + why + ".", {}};
}
ApiError upstream_timeout(const std::string& backend) {
  return {status::gateway_timeout, "upstream_error", "upstream_timeout",
          "The backend '" + backend + "' did not answer in time.", {}};
}
ApiError upstream_refusal(unsigned status, const std::string& backend, const std::string& message,
                          const std::string& content_type, std::size_t body_bytes) {
  std::string what = "The backend '" + backend + "' refused the request with status " + std::to_string(status);
  if (!message.empty()) what += message;
  else if (body_bytes == 0) what += " and an empty body";
  else
    what += " and a body that is no OpenAI error (" + std::to_string(body_bytes) + " bytes of " +
            (content_type.empty() ? std::string("no stated type") : content_type) + ")";
  return {static_cast<boost::beast::http::status>(status), status == 429 ? "rate_limit_error" : "invalid_request_error",
          "upstream_refused", what + ".", {}};
}
ApiError audit_unavailable(const std::string& why) {
  return {status::service_unavailable, "service_unavailable_error", "audit_unavailable",
          "The audit log cannot be written, so nothing is forwarded: " + why + ".", {}};
}
ApiError internal_error(const std::string& why) {
  return {status::internal_server_error, "server_error", "internal_error",
          "The gateway failed to handle the request, and forwarded nothing: " + why + ".", {}};
}
ApiError tokenization_unavailable(const std::string& why) {
  return {status::service_unavailable, "service_unavailable_error", "tokenization_unavailable",
          "The policy asks to tokenize values that cannot be tokenized, so nothing is forwarded: " + why + ".", {}};
}
ApiError capture_unavailable(std::string_view part, const std::string& why) {
  const bool request = part == "request";
  return {status::service_unavailable, "service_unavailable_error", "capture_unavailable",
          std::string("The policy asks for a sealed copy of this ") + (request ? "request" : "answer") +
              " for the auditors, and it could not be written, so " +
              (request ? "nothing is forwarded: " : "the answer is withheld: ") + why + ".",
          {}};
}
ApiError shutting_down() {
  return {status::service_unavailable, "service_unavailable_error", "shutting_down",
          "The gateway is shutting down; retry on another instance.", {}};
}

ApiError too_many_connections(std::size_t limit) {
  return {status::service_unavailable, "service_unavailable_error", "too_many_connections",
          "The gateway already holds its limit of " + std::to_string(limit) +
              " client connections (limits.max_connections); retry after the time in Retry-After.", {}};
}

}  // namespace api_errors
}  // namespace sovereign::gateway
