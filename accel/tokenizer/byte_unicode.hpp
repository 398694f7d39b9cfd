// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE vocabularies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sovereign::accel::byte_unicode {

// The character (as UTF-8) that stands for `byte` in the vocabulary: printable Latin-1 maps to itself, the
// rest to U+0100 onwards in byte order.
const std::string& encode_byte(unsigned char byte);

// Maps every byte of `bytes` to its character.
std::string encode(std::string_view bytes);

// Undoes encode(); nullopt if `text` contains a character that stands for no byte.
std::optional<std::string> decode(std::string_view text);

}  // namespace sovereign::accel::byte_unicode
