#include "crypto/token_restorer.hpp"

namespace sovereign::crypto {

namespace {

// A value as the content of a JSON string literal, escaped as JSON.stringify escapes it. Vault
// values are text as the client meant it, never text as some escaping wrote it (a value taken from
// JSON is unescaped before it is tokenized): escaped once here, it reads as the client wrote it.
void append_json_escaped(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out.append("\\\""); continue;
      case '\\': out.append("\\\\"); continue;
      case '\b': out.append("\\b"); continue;
      case '\f': out.append("\\f"); continue;
      case '\n': out.append("\\n"); continue;
      case '\r': out.append("\\r"); continue;
      case '\t': out.append("\\t"); continue;
      default: break;
    }
    if (byte < 0x20) {
      out.append("\\u00").push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xF]);
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

TokenRestorer::TokenRestorer(const TokenVault& vault, std::string tenant, std::string scope, TokenText text)
    : vault_(vault), tenant_(std::move(tenant)), scope_(std::move(scope)), text_(text), finder_(text) {}

std::optional<std::string> TokenRestorer::value_of(std::string_view token) {
  std::optional<std::string> value = vault_.restore(tenant_, scope_, token);
  if (!value) return std::nullopt;
  ++restored_;
  if (text_ != TokenText::json) return value;
  std::string escaped;
  append_json_escaped(escaped, *value);
  return escaped;
}

TokenFinder::Output TokenRestorer::into(std::string& out) {
  return {[&out](std::string_view plain) { out.append(plain); },
          [this, &out](std::string_view written, std::string_view token) {
            const std::optional<std::string> value = value_of(token);
            out.append(value ? *value : written);
          }};
}

std::string TokenRestorer::feed(std::string_view chunk) {
  std::string out;
  finder_.feed(chunk, into(out));
  return out;
}

std::string TokenRestorer::finish() {
  std::string out;
  finder_.finish(into(out));
  return out;
}

}  // namespace sovereign::crypto
