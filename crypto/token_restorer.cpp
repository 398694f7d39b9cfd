#include "crypto/token_restorer.hpp"

namespace sovereign::crypto {

namespace {

// A value as the content of a JSON string literal.
void append_json_escaped(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
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

TokenFinder::Output TokenRestorer::into(std::string& out) {
  return {[&out](std::string_view plain) { out.append(plain); },
          [this, &out](std::string_view written, std::string_view token) {
            std::optional<std::string> value = vault_.restore(tenant_, scope_, token);
            if (!value) return void(out.append(written));
            if (text_ == TokenText::json) append_json_escaped(out, *value);
            else out.append(*value);
            ++restored_;
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
