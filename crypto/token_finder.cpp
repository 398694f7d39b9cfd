#include "crypto/token_finder.hpp"

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

// The first byte of `starts` (one or two bytes) at or after `from` in text; npos if none.
// std::string_view::find_first_of calls memchr over the set at every byte of the text.
std::size_t find_start(std::string_view text, std::string_view starts, std::size_t from) {
  if (starts.size() == 1) return text.find(starts[0], from);
  for (std::size_t i = from; i < text.size(); ++i)
    if (text[i] == starts[0] || text[i] == starts[1]) return i;
  return std::string_view::npos;
}

}  // namespace

void TokenFinder::feed(std::string_view chunk, const Output& out) {
  held_.append(chunk);
  drain(false, out);
}

void TokenFinder::finish(const Output& out) { drain(true, out); }

void TokenFinder::drain(bool at_end, const Output& out) {
  std::size_t position = 0;
  std::size_t plain_from = 0;  // plain text is handed on in runs, not byte by byte
  const std::string_view text(held_);
  // The first byte of ⟦ (0xE2) starts every candidate, and in JSON text a backslash.
  const std::string_view starts = text_ == TokenText::json ? std::string_view("\xE2\\") : token_open.substr(0, 1);
  std::string canonical;
  auto flush_plain = [&](std::size_t end) {
    if (end > plain_from) out.plain(text.substr(plain_from, end - plain_from));
  };
  while (position < text.size()) {
    const std::size_t candidate = find_start(text, starts, position);
    if (candidate == std::string_view::npos) {
      position = text.size();
      break;
    }
    std::size_t length = 0;
    const TokenMatch match = match_written_token(text.substr(candidate), text_, length, canonical);
    if (match == TokenMatch::complete) {
      flush_plain(candidate);
      out.token(text.substr(candidate, length), canonical);
      position = plain_from = candidate + length;
    } else if (match == TokenMatch::incomplete && !at_end) {
      position = candidate;  // hold back the possible token until more text arrives
      break;
    } else if (text[candidate] == '\\') {
      if (candidate + 1 == text.size() && !at_end) {
        position = candidate;  // the escaped character comes with the next chunk
        break;
      }
      position = candidate + std::min<std::size_t>(2, text.size() - candidate);
    } else {
      position = candidate + 1;
    }
  }
  flush_plain(position);
  held_.erase(0, position);
}

}  // namespace sovereign::crypto
