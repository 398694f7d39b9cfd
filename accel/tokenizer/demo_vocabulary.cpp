#include "accel/tokenizer/demo_vocabulary.hpp"

#include <set>
#include <string>
#include <vector>

#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

constexpr std::string_view kWords[] = {
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
    "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
    "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
    "how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some",
    "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see",
    "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
    "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "hello", "world",
    "data", "model", "answer", "question", "help", "please", "thank", "thanks", "yes", "sure", "here", "I",
    "The", "It", "This", "What", "How", "Hello", "gateway", "policy", "audit", "request", "site", "local",
};

// ChatML, the format of the demo model's template.
constexpr std::string_view kChatTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

}  // namespace

std::size_t write_demo_vocabulary(gguf::Writer& writer) {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"};
  std::vector<std::int32_t> types{static_cast<std::int32_t>(TokenKind::unknown), static_cast<std::int32_t>(TokenKind::control),
                                  static_cast<std::int32_t>(TokenKind::control), static_cast<std::int32_t>(TokenKind::control),
                                  static_cast<std::int32_t>(TokenKind::control)};
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    types.push_back(static_cast<std::int32_t>(TokenKind::byte));
  }
  std::set<std::string> seen;
  std::vector<std::string> pieces;
  const auto add_piece = [&](std::string piece) {
    if (seen.insert(piece).second) pieces.push_back(std::move(piece));
  };
  add_piece(std::string(kSpaceMark));
  for (char c = 0x21; c < 0x7F; ++c) add_piece(std::string(1, c));
  for (const auto word : kWords) {
    for (std::size_t length = 1; length <= word.size(); ++length) {
      add_piece(std::string(kSpaceMark) + std::string(word.substr(0, length)));
    }
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    tokens.push_back(pieces[i]);
    types.push_back(static_cast<std::int32_t>(TokenKind::normal));
    scores.push_back(-static_cast<float>(i));
  }
  writer.set("tokenizer.ggml.model", std::string("llama"));
  writer.set("tokenizer.ggml.tokens", tokens);
  writer.set("tokenizer.ggml.scores", scores);
  writer.set("tokenizer.ggml.token_type", types);
  writer.set("tokenizer.ggml.unknown_token_id", std::uint32_t{0});
  writer.set("tokenizer.ggml.bos_token_id", std::uint32_t{1});
  writer.set("tokenizer.ggml.eos_token_id", std::uint32_t{2});
  writer.set("tokenizer.ggml.eot_token_id", std::uint32_t{4});
  writer.set("tokenizer.ggml.add_bos_token", true);
  writer.set("tokenizer.ggml.add_space_prefix", true);
  writer.set("tokenizer.chat_template", std::string(kChatTemplate));
  return tokens.size();
}

}  // namespace sovereign::accel
