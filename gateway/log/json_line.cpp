#include "gateway/log/json_line.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/serializer.hpp>

namespace sovereign::gateway {
namespace {

// What RFC 8259 requires to be escaped inside a string.
bool needs_escape(char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; }

}  // namespace

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
