#include "gateway/http/request_target.hpp"

#include <algorithm>
#include <cctype>

#include <boost/beast/core/string.hpp>

namespace sovereign::gateway {
namespace {

constexpr std::size_t max_quoted_bytes = 100;  // of the target, in an error message

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

std::string quoted(std::string_view target) {
  if (target.size() <= max_quoted_bytes) return "'" + std::string(target) + "'";
  return "'" + std::string(target.substr(0, max_quoted_bytes)) + "...'";
}

constexpr std::string_view what_to_send =
    "send the path (such as /v1/chat/completions) or an http:// or https:// URI with a host";

// What is wrong with an absolute target's authority (host and port), or nothing.
std::string_view authority_problem(std::string_view authority) {
  if (authority.find('@') != std::string_view::npos)
    return "it carries user information (user@host), which a request target may not";
  if (authority.empty() || authority.front() == ':') return "it names no host";
  std::size_t host_end = std::min(authority.find(':'), authority.size());
  if (authority.front() == '[') {
    host_end = authority.find(']');
    if (host_end == std::string_view::npos) return "its IPv6 host has no closing ']'";
    ++host_end;
  }
  const std::string_view after = authority.substr(host_end);
  if (after.empty()) return {};
  if (after.front() != ':') return "its host is followed by something other than ':' and a port";
  for (char c : after.substr(1))  // RFC 3986 3.2.3: port = *DIGIT
    if (!std::isdigit(static_cast<unsigned char>(c))) return "its port is not a number";
  return {};
}

}  // namespace

bool is_absolute_form(std::string_view target) {
  if (target.empty() || !std::isalpha(static_cast<unsigned char>(target[0]))) return false;
  for (char c : target) {
    if (c == ':') return true;
    if (!scheme_char(c)) return false;
  }
  return false;
}

std::optional<std::string> origin_form(std::string_view target, std::string& error) {
  const std::size_t colon = target.find(':');
  const std::string_view scheme = target.substr(0, colon);
  if (!boost::beast::iequals(scheme, "http") && !boost::beast::iequals(scheme, "https")) {
    error = "The request target " + quoted(target) + " is a URI with the scheme '" + std::string(scheme) +
            "', which the gateway does not serve: " + std::string(what_to_send) + ".";
    return std::nullopt;
  }
  std::string_view rest = target.substr(colon + 1);
  if (!rest.starts_with("//")) {
    error = "The request target " + quoted(target) + " is not a valid absolute URI ('" + std::string(scheme) +
            ":' must be followed by '//' and a host): " + std::string(what_to_send) + ".";
    return std::nullopt;
  }
  rest.remove_prefix(2);
  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path_and_query = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  std::string_view problem = authority_problem(authority);
  if (problem.empty() && path_and_query.find('#') != std::string_view::npos)
    problem = "it carries a fragment (#...), which a request target may not";
  if (!problem.empty()) {
    error = "The request target " + quoted(target) + " is refused: " + std::string(problem) + "; " +
            std::string(what_to_send) + ".";
    return std::nullopt;
  }
  if (path_and_query.empty() || path_and_query.front() == '?') return "/" + std::string(path_and_query);
  return std::string(path_and_query);
}

}  // namespace sovereign::gateway
