#include "gateway/openai/json_text.hpp"

#include <charconv>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::gateway {
namespace {

// The value of the four hex digits at text[at], or -1.
long hex4(std::string_view text, std::size_t at) {
  if (at + 4 > text.size()) return -1;
  unsigned value = 0;
  const char* first = text.data() + at;
  auto [end, ec] = std::from_chars(first, first + 4, value, 16);
  return ec == std::errc() && end == first + 4 ? static_cast<long>(value) : -1;
}

// The escape at text[at] (a backslash): appends what it stands for and returns its length; 0 when
// the backslash starts no escape.
std::size_t resolve_escape(std::string_view text, std::size_t at, std::string& out) {
  if (at + 1 >= text.size()) return 0;
  switch (text[at + 1]) {
    case '"': out.push_back('"'); return 2;
    case '\\': out.push_back('\\'); return 2;
    case '/': out.push_back('/'); return 2;
    case 'b': out.push_back('\b'); return 2;
    case 'f': out.push_back('\f'); return 2;
    case 'n': out.push_back('\n'); return 2;
    case 'r': out.push_back('\r'); return 2;
    case 't': out.push_back('\t'); return 2;
    case 'u': break;
    default: return 0;
  }
  const long code = hex4(text, at + 2);
  if (code < 0) return 0;
  if (code >= 0xD800 && code < 0xDC00 && at + 12 <= text.size() && text[at + 6] == '\\' && text[at + 7] == 'u') {
    const long low = hex4(text, at + 8);
    if (low >= 0xDC00 && low < 0xE000) {
      accel::utf8::append(out, static_cast<char32_t>(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)));
      return 12;
    }
  }
  // A surrogate without its other half is no character: it reads as the replacement character.
  accel::utf8::append(out, code >= 0xD800 && code < 0xE000 ? 0xFFFD : static_cast<char32_t>(code));
  return 6;
}

}  // namespace

ReadableJsonText readable_json_text(std::string_view json_text) {
  ReadableJsonText out;
  out.text.reserve(json_text.size());
  out.source.reserve(json_text.size() + 1);
  std::size_t at = 0;
  while (at < json_text.size()) {
    const std::size_t next = json_text.find('\\', at);
    const std::size_t plain_end = next == std::string_view::npos ? json_text.size() : next;
    out.text.append(json_text.substr(at, plain_end - at));
    for (std::size_t i = at; i < plain_end; ++i) out.source.push_back(i);
    at = plain_end;
    if (at == json_text.size()) break;
    const std::size_t written = out.text.size();
    std::size_t length = resolve_escape(json_text, at, out.text);
    if (length == 0) {
      out.text.push_back('\\');
      length = 1;
    }
    out.source.insert(out.source.end(), out.text.size() - written, at);
    at += length;
  }
  out.source.push_back(json_text.size());
  return out;
}

std::pair<std::size_t, std::size_t> ReadableJsonText::original_range(std::size_t begin, std::size_t end) const {
  // An end inside the bytes one escape or character gave moves to that one's end.
  while (end > 0 && end < text.size() && source[end] == source[end - 1]) ++end;
  return {source[begin], source[end]};
}

}  // namespace sovereign::gateway
