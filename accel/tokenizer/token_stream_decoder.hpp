// Turns generated token ids into valid UTF-8 text pieces as they arrive, for streaming responses.
#pragma once

#include <cstdint>
#include <string>

#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {

// Holds back the bytes of a character split across tokens until it is complete; bytes that can never form a
// character (a model can emit any byte token) become U+FFFD, so every piece is valid UTF-8 for JSON. Removes
// SentencePiece's leading space at the start of the stream. One per generated sequence; not thread-safe.
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Text that became complete with this token (often empty for control tokens or partial characters).
  std::string push(std::int32_t id);
  // Whatever is still held back, with an unfinished character as U+FFFD; call once at the end.
  std::string finish();

 private:
  std::string take_complete(bool at_end);

  const Tokenizer& tokenizer_;
  std::string pending_;
  bool at_start_ = true;
};

}  // namespace sovereign::accel
