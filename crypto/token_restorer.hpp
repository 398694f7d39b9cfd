#pragma once
// TokenRestorer: re-identifies vault tokens in a streamed response. Tokens may be split across
// chunks; feed() returns the text that is safe to emit now, holding back only a possible token
// prefix (at most max_token_bytes, escaped brackets included). Tokens of another tenant or scope
// are left as they are.

#include <cstddef>
#include <string>
#include <string_view>

#include "crypto/token_vault.hpp"

namespace sovereign::crypto {

// How the text a restorer reads is written.
enum class TokenText {
  plain,  // text as a model writes it (a message's content)
  // JSON text (a tool call's arguments): a token stands in a string literal, its brackets perhaps
  // written as the escapes \u27e6 and \u27e7 (an encoder that writes ASCII only); its value goes
  // back escaped for that literal, so that a quote or backslash in it cannot break the JSON.
  json,
};

class TokenRestorer {
 public:
  TokenRestorer(const TokenVault& vault, std::string tenant, std::string scope, TokenText text = TokenText::plain);
  std::string feed(std::string_view chunk);
  std::string finish();  // the held-back rest, once the stream has ended
  std::size_t restored_count() const { return restored_; }

 private:
  std::string drain(bool at_end);

  const TokenVault& vault_;
  std::string tenant_;
  std::string scope_;
  TokenText text_;
  std::string held_;
  std::size_t restored_ = 0;
};

}  // namespace sovereign::crypto
