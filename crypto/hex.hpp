#pragma once
// Hex decoding and base64 text encodings for hashes, keys and signatures in files and proofs.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/digest.hpp"

namespace sovereign::crypto {

// to_hex() comes from crypto/digest.hpp.
// Lower- or upper-case hex of even length; nullopt on any other character or an odd length.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);
// Decodes exactly out.size() bytes of hex into out; false if the text is not that.
[[nodiscard]] bool from_hex_into(std::string_view text, std::span<std::uint8_t> out);

std::string to_base64(std::span<const std::uint8_t> bytes);
[[nodiscard]] std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text);

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace sovereign::crypto
