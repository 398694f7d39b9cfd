#include "gateway/log/json_line.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/serializer.hpp>

#include "policy/utf8.hpp"

namespace sovereign::gateway {
namespace {

// What RFC 8259 requires to be escaped inside a string, and bytes of characters beyond ASCII, which
// must be checked.
bool needs_escape(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return c == '"' || c == '\\' || byte < 0x20 || byte >= 0x80;
}

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

using policy::utf8_character_length;

}  // namespace

bool is_well_formed_utf8(std::string_view text) { return !policy::first_ill_formed_utf8(text); }

std::string well_formed_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = utf8_character_length(text, at);
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
