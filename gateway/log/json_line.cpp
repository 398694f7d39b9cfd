#include "gateway/log/json_line.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/serializer.hpp>

namespace sovereign::gateway {
namespace {

// What RFC 8259 requires to be escaped inside a string, and bytes of characters beyond ASCII, which
// must be checked.
bool needs_escape(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return c == '"' || c == '\\' || byte < 0x20 || byte >= 0x80;
}

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 character at text[at], or 0 (RFC 3629, table 3-7 of Unicode).
std::size_t character_length(std::string_view text, std::size_t at) {
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

}  // namespace

bool is_well_formed_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = character_length(text, at);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

std::string well_formed_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = character_length(text, at);
    if (length == 0) {
      out += replacement;
      ++at;
      continue;
    }
    out.append(text, at, length);
    at += length;
  }
  return out;
}

JsonLine::JsonLine(std::size_t expected_bytes) {
  out_.reserve(expected_bytes);
  out_ += '{';
}

void JsonLine::open_field(std::string_view key) {
  if (out_.size() > 1) out_ += ',';
  out_ += '"';
  out_ += key;
  out_ += "\":";
}

void JsonLine::append_string(std::string_view text) {
  if (std::none_of(text.begin(), text.end(), needs_escape)) {
    out_ += '"';
    out_ += text;
    out_ += '"';
    return;
  }
  std::string repaired;
  if (!is_well_formed_utf8(text)) text = repaired = well_formed_utf8(text);
  boost::json::serializer serializer;
  serializer.reset(boost::json::string_view(text.data(), text.size()));
  char buffer[512];
  while (!serializer.done()) {
    auto piece = serializer.read(buffer);
    out_.append(piece.data(), piece.size());
  }
}

JsonLine& JsonLine::add(std::string_view key, std::string_view value) {
  open_field(key);
  append_string(value);
  return *this;
}

JsonLine& JsonLine::add(std::string_view key, bool value) {
  open_field(key);
  out_ += value ? "true" : "false";
  return *this;
}

void JsonLine::append_number(std::int64_t value) {
  char digits[24];
  out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void JsonLine::append_number(std::uint64_t value) {
  char digits[24];
  out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

JsonLine& JsonLine::add_counts(std::string_view key, const std::map<std::string, int>& counts) {
  open_field(key);
  out_ += '{';
  bool first = true;
  for (const auto& [name, count] : counts) {
    if (!first) out_ += ',';
    first = false;
    append_string(name);
    out_ += ':';
    append_number(static_cast<std::int64_t>(count));
  }
  out_ += '}';
  return *this;
}

std::string JsonLine::finish() {
  out_ += '}';
  return std::move(out_);
}

}  // namespace sovereign::gateway
