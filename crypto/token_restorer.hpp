#pragma once
// TokenRestorer: re-identifies vault tokens in a streamed response. Tokens may be split across
// chunks; feed() returns the text that is safe to emit now, holding back only a possible token
// prefix (at most max_token_bytes). Tokens of another tenant or scope are left as they are.

#include <cstddef>
#include <string>
#include <string_view>

#include "crypto/token_vault.hpp"

namespace sovereign::crypto {

class TokenRestorer {
 public:
  TokenRestorer(const TokenVault& vault, std::string tenant, std::string scope);
  std::string feed(std::string_view chunk);
  std::string finish();  // the held-back rest, once the stream has ended
  std::size_t restored_count() const { return restored_; }

 private:
  std::string drain(bool at_end);

  const TokenVault& vault_;
  std::string tenant_;
  std::string scope_;
  std::string held_;
  std::size_t restored_ = 0;
};

}  // namespace sovereign::crypto
