#include "accel/tokenizer/pre_tokenizer.hpp"

#include <unicode/uchar.h>

#include <array>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel {
namespace {

// One decoded character of the input with its byte range.
struct Char {
  char32_t cp;
  std::size_t begin;
  std::size_t end;
};

std::vector<Char> decode_all(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t length = 1;
    const char32_t cp = utf8::decode(text, pos, length);
    chars.push_back({cp, pos, pos + length});
    pos += length;
  }
  return chars;
}

bool valid(char32_t cp) { return cp != utf8::kInvalid; }
bool is_letter(char32_t cp) { return valid(cp) && (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_L_MASK) != 0; }
bool is_number(char32_t cp) { return valid(cp) && (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_N_MASK) != 0; }
bool is_space(char32_t cp) { return valid(cp) && u_isUWhiteSpace(static_cast<UChar32>(cp)); }
bool is_newline(char32_t cp) { return cp == U'\r' || cp == U'\n'; }
bool is_other(char32_t cp) { return !is_space(cp) && !is_letter(cp) && !is_number(cp); }
char32_t lower(char32_t cp) { return valid(cp) ? static_cast<char32_t>(u_tolower(static_cast<UChar32>(cp))) : cp; }

// Finds the end of one word starting at chars[pos], following the family's regex alternatives in order.
class WordMatcher {
 public:
  WordMatcher(PreTokenizer kind, const std::vector<Char>& chars) : kind_(kind), chars_(chars) {}

  std::size_t match(std::size_t pos) const {
    if (std::size_t n = contraction(pos)) return pos + n;
    return kind_ == PreTokenizer::gpt2 ? match_gpt2(pos) : match_llama3(pos);
  }

 private:
  char32_t at(std::size_t i) const { return i < chars_.size() ? chars_[i].cp : utf8::kInvalid; }
  std::size_t size() const { return chars_.size(); }

  // 's 't 're 've 'm 'll 'd: case-sensitive for gpt2, case-insensitive for llama3/qwen2.
  std::size_t contraction(std::size_t pos) const {
    if (at(pos) != U'\'' || pos + 1 >= size()) return 0;
    const bool fold = kind_ != PreTokenizer::gpt2;
    const auto norm = [&](char32_t cp) { return fold ? lower(cp) : cp; };
    const char32_t c1 = norm(at(pos + 1));
    if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') return 2;
    if (pos + 2 >= size()) return 0;
    const char32_t c2 = norm(at(pos + 2));
    if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) return 3;
    return 0;
  }

  std::size_t run(std::size_t pos, bool (*pred)(char32_t), std::size_t max = SIZE_MAX) const {
    std::size_t end = pos;
    while (end < size() && end - pos < max && pred(at(end))) ++end;
    return end;
  }

  // \s*[\r\n]+ | \s+(?!\S) | \s+ over the whitespace run at pos (the caller knows at(pos) is whitespace).
  std::size_t whitespace(std::size_t pos, bool newline_rule) const {
    const std::size_t end = run(pos, is_space);
    if (newline_rule) {
      std::size_t last_newline = end;
      for (std::size_t i = pos; i < end; ++i) {
        if (is_newline(at(i))) last_newline = i;
      }
      if (last_newline != end) return last_newline + 1;
    }
    if (end == size() || end - pos == 1) return end;
    return end - 1;  // leave one space to prefix the next word
  }

  std::size_t match_gpt2(std::size_t pos) const {
    const char32_t c = at(pos);
    const std::size_t after_space = (c == U' ' && pos + 1 < size()) ? pos + 1 : pos;
    const char32_t d = at(after_space);
    if (is_letter(d)) return run(after_space, is_letter);
    if (is_number(d)) return run(after_space, is_number);
    if (is_other(d)) return run(after_space, is_other);
    return whitespace(pos, false);
  }

  std::size_t match_llama3(std::size_t pos) const {
    const char32_t c = at(pos);
    if (is_letter(c)) return run(pos, is_letter);
    if (!is_newline(c) && !is_letter(c) && !is_number(c) && is_letter(at(pos + 1))) return run(pos + 1, is_letter);
    if (is_number(c)) return run(pos, is_number, kind_ == PreTokenizer::qwen2 ? 1 : 3);
    const std::size_t after_space = (c == U' ' && pos + 1 < size()) ? pos + 1 : pos;
    if (is_other(at(after_space))) return run(run(after_space, is_other), is_newline);
    return whitespace(pos, true);
  }

  PreTokenizer kind_;
  const std::vector<Char>& chars_;
};

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  struct Alias {
    std::string_view name;
    PreTokenizer kind;
  };
  static constexpr std::array<Alias, 8> kAliases{{
      {"default", PreTokenizer::gpt2},
      {"gpt-2", PreTokenizer::gpt2},
      {"gpt2", PreTokenizer::gpt2},
      {"smollm", PreTokenizer::gpt2},
      {"llama-bpe", PreTokenizer::llama3},
      {"llama3", PreTokenizer::llama3},
      {"qwen2", PreTokenizer::qwen2},
      {"deepseek-r1-qwen", PreTokenizer::qwen2},
  }};
  for (const auto& alias : kAliases) {
    if (alias.name == name) return alias.kind;
  }
  return std::nullopt;
}

std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text) {
  const std::vector<Char> chars = decode_all(text);
  const WordMatcher matcher(kind, chars);
  std::vector<std::string_view> words;
  for (std::size_t pos = 0; pos < chars.size();) {
    std::size_t end = matcher.match(pos);
    if (end <= pos) end = pos + 1;  // every character belongs to some word
    words.push_back(text.substr(chars[pos].begin, chars[end - 1].end - chars[pos].begin));
    pos = end;
  }
  return words;
}

}  // namespace sovereign::accel
