#include "crypto/token_restorer.hpp"

#include <algorithm>

namespace sovereign::crypto {

namespace {

constexpr std::string_view escaped_open = "\\u27e6";
constexpr std::string_view escaped_close = "\\u27e7";

bool is_token_body_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '_';
}

// A bracket at the start of text: its raw bytes or, in JSON text, its \u escape (hex digits in either
// case). Returns the length matched; 0 with `partial` set when text ends inside a possible one.
std::size_t bracket_at(std::string_view text, std::string_view raw, std::string_view escaped, TokenText form,
                       bool& partial) {
  partial = false;
  auto matches = [&](std::string_view bracket, bool fold_case) {
    const std::size_t n = std::min(text.size(), bracket.size());
    for (std::size_t i = 0; i < n; ++i) {
      char c = text[i];
      if (fold_case && c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      if (c != bracket[i]) return std::size_t{0};
    }
    if (n < bracket.size()) {
      partial = true;
      return std::size_t{0};
    }
    return bracket.size();
  };
  if (std::size_t n = matches(raw, false); n > 0 || partial) return n;
  return form == TokenText::json ? matches(escaped, true) : 0;
}

// A token at the start of text, written with raw or (JSON text) escaped brackets: `length` is the
// bytes it takes there, `canonical` the token as the vault issued it.
TokenMatch match_written_token(std::string_view text, TokenText form, std::size_t& length, std::string& canonical) {
  bool partial = false;
  const std::size_t open = bracket_at(text, token_open, escaped_open, form, partial);
  if (partial) return TokenMatch::incomplete;
  if (open == 0) return TokenMatch::not_token;
  std::size_t i = open;
  constexpr std::size_t max_body = max_token_bytes - token_open.size() - token_close.size();
  while (i < text.size() && i - open <= max_body && is_token_body_char(text[i])) ++i;
  if (i - open > max_body) return TokenMatch::not_token;
  if (i == text.size()) return TokenMatch::incomplete;
  const std::size_t close = bracket_at(text.substr(i), token_close, escaped_close, form, partial);
  if (partial) return TokenMatch::incomplete;
  if (close == 0) return TokenMatch::not_token;
  canonical.assign(token_open).append(text.substr(open, i - open)).append(token_close);
  std::size_t canonical_length = 0;
  if (match_token(canonical, canonical_length) != TokenMatch::complete) return TokenMatch::not_token;
  length = i + close;
  return TokenMatch::complete;
}

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
    : vault_(vault), tenant_(std::move(tenant)), scope_(std::move(scope)), text_(text) {}

std::string TokenRestorer::feed(std::string_view chunk) {
  held_.append(chunk);
  return drain(false);
}

std::string TokenRestorer::finish() { return drain(true); }

std::string TokenRestorer::drain(bool at_end) {
  std::string out;
  std::size_t position = 0;
  const std::string_view text(held_);
  // The first byte of ⟦ (0xE2) starts every candidate, and in JSON text a backslash (an escaped
  // bracket, or an escape to step over whole: "\\u27e6" is a backslash and text, not a bracket).
  const std::string_view starts = text_ == TokenText::json ? std::string_view("\xE2\\") : token_open.substr(0, 1);
  std::string canonical;
  while (position < text.size()) {
    const std::size_t candidate = text.find_first_of(starts, position);
    if (candidate == std::string_view::npos) {
      out.append(text.substr(position));
      position = text.size();
      break;
    }
    out.append(text.substr(position, candidate - position));
    std::size_t length = 0;
    const TokenMatch match = match_written_token(text.substr(candidate), text_, length, canonical);
    if (match == TokenMatch::complete) {
      if (std::optional<std::string> value = vault_.restore(tenant_, scope_, canonical)) {
        if (text_ == TokenText::json) append_json_escaped(out, *value);
        else out.append(*value);
        ++restored_;
      } else {
        out.append(text.substr(candidate, length));
      }
      position = candidate + length;
    } else if (match == TokenMatch::incomplete && !at_end) {
      position = candidate;  // hold back the possible token until more text arrives
      break;
    } else if (text[candidate] == '\\') {
      if (candidate + 1 == text.size() && !at_end) {
        position = candidate;  // the escaped character comes with the next chunk
        break;
      }
      const std::size_t escape = std::min<std::size_t>(2, text.size() - candidate);
      out.append(text.substr(candidate, escape));
      position = candidate + escape;
    } else {
      out.push_back(text[candidate]);
      position = candidate + 1;
    }
  }
  held_.erase(0, position);
  return out;
}

}  // namespace sovereign::crypto
