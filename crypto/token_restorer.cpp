#include "crypto/token_restorer.hpp"

namespace sovereign::crypto {

TokenRestorer::TokenRestorer(const TokenVault& vault, std::string tenant, std::string scope)
    : vault_(vault), tenant_(std::move(tenant)), scope_(std::move(scope)) {}

std::string TokenRestorer::feed(std::string_view chunk) {
  held_.append(chunk);
  return drain(false);
}

std::string TokenRestorer::finish() { return drain(true); }

std::string TokenRestorer::drain(bool at_end) {
  std::string out;
  std::size_t position = 0;
  const std::string_view text(held_);
  while (position < text.size()) {
    // The first byte of ⟦ (0xE2) starts every candidate; everything before it is plain text.
    const std::size_t candidate = text.find(token_open[0], position);
    if (candidate == std::string_view::npos) {
      out.append(text.substr(position));
      position = text.size();
      break;
    }
    out.append(text.substr(position, candidate - position));
    std::size_t length = 0;
    const TokenMatch match = match_token(text.substr(candidate), length);
    if (match == TokenMatch::complete) {
      const std::string_view token = text.substr(candidate, length);
      if (std::optional<std::string> value = vault_.restore(tenant_, scope_, token)) {
        out.append(*value);
        ++restored_;
      } else {
        out.append(token);
      }
      position = candidate + length;
    } else if (match == TokenMatch::incomplete && !at_end) {
      position = candidate;  // hold back the possible token until more text arrives
      break;
    } else {
      out.push_back(text[candidate]);
      position = candidate + 1;
    }
  }
  held_.erase(0, position);
  return out;
}

}  // namespace sovereign::crypto
