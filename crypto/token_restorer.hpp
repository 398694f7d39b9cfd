#pragma once
// TokenRestorer: re-identifies vault tokens in a streamed response. Tokens may be split across
// chunks; feed() returns the text that is safe to emit now, holding back only a possible token
// prefix (crypto/token_finder.hpp). Tokens of another tenant or scope are left as they are.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/token_finder.hpp"
#include "crypto/token_vault.hpp"

namespace sovereign::crypto {

class TokenRestorer {
 public:
  // TokenText::json: values go back escaped for the JSON string literal their token stands in, so
  // that a quote or backslash in one cannot break the JSON.
  TokenRestorer(const TokenVault& vault, std::string tenant, std::string scope, TokenText text = TokenText::plain);
  std::string feed(std::string_view chunk);
  std::string finish();  // the held-back rest, once the stream has ended
  // The value behind one token as it goes in this text (escaped for JSON text); nothing for a token
  // that is not this tenant's and scope's (unknown, expired): such a token stays as written.
  std::optional<std::string> value_of(std::string_view token);
  std::size_t restored_count() const { return restored_; }

 private:
  TokenFinder::Output into(std::string& out);

  const TokenVault& vault_;
  std::string tenant_;
  std::string scope_;
  TokenText text_;
  TokenFinder finder_;
  std::size_t restored_ = 0;
};

}  // namespace sovereign::crypto
