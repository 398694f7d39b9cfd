// Turns a sequence's token bytes into text events: whole UTF-8 characters only, and stop strings
// detected across token boundaries and never sent to the client.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sovereign::accel::compute {

class TextStream {
 public:
  // drop_leading_space: the first text's leading space is not part of the answer (a chat answer of a
  // SentencePiece model, which spells the space before a word as part of the word: "▁Hello").
  explicit TextStream(std::vector<std::string> stop_strings, bool drop_leading_space = false);

  struct Output {
    std::string text;      // safe to send now
    bool stopped = false;  // a stop string was completed; text ends just before it
  };

  Output push(std::string_view token_bytes);
  // At the end of generation: text still held back (an unfinished stop-string prefix), with a
  // truncated UTF-8 sequence replaced by U+FFFD.
  std::string finish();

 private:
  std::vector<std::string> stops_;
  bool drop_leading_space_;  // until the first bytes arrive
  std::string partial_;  // bytes of an incomplete UTF-8 character
  std::string held_;     // complete text that may be the start of a stop string
};

// Length of the longest prefix of `bytes` made of complete UTF-8 sequences; ill-formed sequences
// (stray bytes, overlong forms, surrogates, code points above U+10FFFF) are rewritten in `out`,
// which receives that prefix, to one U+FFFD per maximal ill-formed subpart, so `out` is always
// valid UTF-8.
std::size_t take_complete_utf8(std::string_view bytes, std::string& out);

}  // namespace sovereign::accel::compute
