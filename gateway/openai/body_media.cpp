#include "gateway/openai/body_media.hpp"

#include <string>

#include <boost/beast/core/string.hpp>

namespace sovereign::gateway {
namespace {

// Codings, media types and charset names are compared case-insensitively (RFC 9110 8.4.1, 8.3.1),
// with Beast's iequals. Optional whitespace around list elements and parameters (RFC 9110 5.6.3).
std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The first coding of a Content-Encoding value that is not identity; empty when there is none.
std::string_view coding_other_than_identity(std::string_view value) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view coding = trimmed(value.substr(0, comma));
    if (!coding.empty() && !boost::beast::iequals(coding, "identity")) return coding;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return {};
}

// The charset parameter of a Content-Type value, unquoted; empty when it has none.
std::string_view charset_of(std::string_view content_type) {
  std::size_t semicolon = content_type.find(';');
  while (semicolon != std::string_view::npos) {
    content_type.remove_prefix(semicolon + 1);
    semicolon = content_type.find(';');
    const std::string_view parameter = trimmed(content_type.substr(0, semicolon));
    const std::size_t equals = parameter.find('=');
    if (equals == std::string_view::npos || !boost::beast::iequals(trimmed(parameter.substr(0, equals)), "charset")) continue;
    std::string_view value = trimmed(parameter.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

}  // namespace

std::optional<ApiError> refused_body_media(std::span<const std::string_view> content_encodings,
                                           std::string_view content_type) {
  for (const std::string_view value : content_encodings) {
    const std::string_view coding = coding_other_than_identity(value);
    if (coding.empty()) continue;
    return api_errors::unsupported_media_type("The request body is sent with 'Content-Encoding: " + std::string(trimmed(value)) +
                             "'; this gateway reads request bodies as they are sent, without a content coding: "
                             "send the JSON uncompressed and leave out Content-Encoding.");
  }
  const std::string_view charset = charset_of(content_type);
  if (!charset.empty() && !boost::beast::iequals(charset, "utf-8") && !boost::beast::iequals(charset, "utf8"))
    return api_errors::unsupported_media_type("The request body is declared 'charset=" + std::string(charset) +
                             "' (Content-Type); JSON is read as UTF-8 (RFC 8259): send the body in UTF-8, "
                             "with charset=utf-8 or no charset.");
  return std::nullopt;
}

}  // namespace sovereign::gateway
