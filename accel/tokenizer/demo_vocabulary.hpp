// A SentencePiece vocabulary built by the program (no download): byte fallback makes every string round-trip.
#pragma once

#include "accel/gguf/gguf_writer.hpp"

namespace sovereign::accel {

// Writes tokenizer.* metadata for a small English SentencePiece vocabulary with chatml turn tokens:
// <unk> <s> </s> <|im_start|> <|im_end|>, the 256 <0xXX> byte tokens, printable ASCII, and common English words
// with every prefix (so each word is reachable by merges). Returns the vocabulary size.
std::size_t write_demo_vocabulary(gguf::Writer& writer);

}  // namespace sovereign::accel
