#pragma once
// Well-formed UTF-8 (RFC 3629; table 3-7 of the Unicode standard): no overlong forms, no surrogates,
// nothing above U+10FFFF. Used where text users wrote must be UTF-8 (YAML files) and where text
// is repaired before it goes into JSON (log lines, audit records, error bodies).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sovereign::policy {

// The length of the well-formed character at text[at], or 0 where none begins there.
inline std::size_t utf8_character_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u; };
  const unsigned lead = byte(at);
  if (lead < 0x80) return 1;
  const auto continuation = [&](std::size_t i, unsigned low = 0x80, unsigned high = 0xBF) {
    return byte(i) >= low && byte(i) <= high;
  };
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(at + 1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned low = lead == 0xE0 ? 0xA0 : 0x80;   // no overlong forms
    const unsigned high = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
    return continuation(at + 1, low, high) && continuation(at + 2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned low = lead == 0xF0 ? 0x90 : 0x80;   // no overlong forms
    const unsigned high = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    return continuation(at + 1, low, high) && continuation(at + 2) && continuation(at + 3) ? 4 : 0;
  }
  return 0;
}

// The offset of the first byte that does not begin a well-formed character, if any.
inline std::optional<std::size_t> first_ill_formed_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    // ASCII eight bytes at a time: most text is, and a streamed answer asks this of every chunk.
    if (std::uint64_t word; at + 8 <= text.size() && (std::memcpy(&word, text.data() + at, 8), (word & 0x8080808080808080ULL) == 0)) {
      at += 8;
      continue;
    }
    const std::size_t length = utf8_character_length(text, at);
    if (length == 0) return at;
    at += length;
  }
  return std::nullopt;
}

// Each byte that begins no well-formed character replaced by U+001A (SUB), one byte for one, so that
// positions stay where they were. Text decoded from escapes or base64 may hold such bytes, and what
// vectorscan's UTF-8 patterns (keywords, custom patterns) find in bytes that are not UTF-8 is undefined.
// Only the bytes before `end` are looked at: a character cut there is left as it is.
inline void replace_ill_formed_utf8(std::string& text, std::size_t end = std::string::npos) {
  end = end < text.size() ? end : text.size();
  for (std::size_t at = 0; at < end;) {
    if (static_cast<unsigned char>(text[at]) < 0x80) {
      ++at;
      continue;
    }
    const std::size_t length = utf8_character_length(text, at);
    if (length == 0) {
      text[at++] = '\x1A';
      continue;
    }
    at += length;
  }
}

// `text` as the scan reads it: itself when it is well-formed before `end`, else a copy in `storage`
// with replace_ill_formed_utf8 applied before `end` (answers: docs/POLICY.md, "Answers").
inline std::string_view with_ill_formed_replaced(std::string_view text, std::string& storage,
                                                 std::size_t end = std::string::npos) {
  end = end < text.size() ? end : text.size();
  if (!first_ill_formed_utf8(text.substr(0, end))) return text;
  storage.assign(text);
  replace_ill_formed_utf8(storage, end);
  return storage;
}

// The code point of the well-formed character at text[at]; `length` is its length, 0 where none begins.
inline std::uint32_t utf8_code_point(std::string_view text, std::size_t at, std::size_t& length) {
  length = utf8_character_length(text, at);
  if (length == 0) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  if (length == 1) return byte(0);
  std::uint32_t cp = byte(0) & (0x7Fu >> length);
  for (std::size_t i = 1; i < length; ++i) cp = (cp << 6) | (byte(i) & 0x3Fu);
  return cp;
}

// Writes code point `cp` (at most U+10FFFF, no surrogate) as UTF-8 into out; returns its length.
inline std::size_t write_utf8(std::uint32_t cp, char (&out)[4]) {
  const auto byte = [](std::uint32_t b) { return static_cast<char>(b); };
  if (cp < 0x80) {
    out[0] = byte(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = byte(0xC0 | (cp >> 6));
    out[1] = byte(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = byte(0xE0 | (cp >> 12));
    out[1] = byte(0x80 | ((cp >> 6) & 0x3F));
    out[2] = byte(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = byte(0xF0 | (cp >> 18));
  out[1] = byte(0x80 | ((cp >> 12) & 0x3F));
  out[2] = byte(0x80 | ((cp >> 6) & 0x3F));
  out[3] = byte(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace sovereign::policy
