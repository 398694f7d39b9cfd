// UTF-8 decoding that never fails: an invalid byte becomes a one-byte "character" so no input is lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sovereign::accel::utf8 {

inline constexpr char32_t kInvalid = 0xFFFFFFFF;  // code point reported for a byte that starts no valid sequence

// Decodes the character starting at text[pos]; sets `length` to its byte count (1 for an invalid byte).
char32_t decode(std::string_view text, std::size_t pos, std::size_t& length) noexcept;

void append(std::string& out, char32_t cp);

// Text from an untrusted file made safe to print: C0 controls, DEL, C1 controls (U+0080..U+009F) and
// bytes that are not UTF-8 become \xNN escapes, so a terminal never acts on them; all else is kept.
std::string printable(std::string_view text);

// printable(text) in single quotes, as messages quote a file's names and values.
std::string quoted(std::string_view text);

}  // namespace sovereign::accel::utf8
