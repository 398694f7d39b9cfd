#include "accel/tokenizer/byte_unicode.hpp"

#include <array>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel::byte_unicode {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_text;
  std::array<int, 512> codepoint_to_byte;  // every mapped code point is below U+0200; -1 where unmapped

  Tables() {
    codepoint_to_byte.fill(-1);
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      utf8::append(byte_to_text[b], cp);
      codepoint_to_byte[cp] = b;
    }
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

const std::string& encode_byte(unsigned char byte) { return tables().byte_to_text[byte]; }

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += encode_byte(static_cast<unsigned char>(c));
  return out;
}

std::optional<std::string> decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t length = 1;
    const char32_t cp = utf8::decode(text, pos, length);
    if (cp == utf8::kInvalid || cp >= 512 || tables().codepoint_to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(tables().codepoint_to_byte[cp]));
    pos += length;
  }
  return out;
}

}  // namespace sovereign::accel::byte_unicode
