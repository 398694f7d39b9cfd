#pragma once
// TokenFinder: finds vault tokens in streamed text, as a model writes them. Text goes in in pieces
// of any size; it comes out as plain runs and tokens, in order, as far as decided, holding back only
// a possible token's beginning (at most max_token_bytes, escaped brackets included) until the next
// piece decides it. The token restorer puts values in their place; the answer scanner steps over them.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "crypto/token_vault.hpp"

namespace sovereign::crypto {

// How the text a finder reads is written.
enum class TokenText {
  plain,  // text as a model writes it (a message's content)
  // JSON text (a tool call's arguments): a token stands in a string literal, its brackets perhaps
  // written as the escapes \u27e6 and \u27e7 (an encoder that writes ASCII only); an escape is
  // stepped over whole ("\\u27e6" is a backslash and text, not a bracket).
  json,
};

class TokenFinder {
 public:
  // `plain`: text that is no token; `token`: a token as written there, and as the vault issued it.
  struct Output {
    std::function<void(std::string_view plain)> plain;
    std::function<void(std::string_view written, std::string_view token)> token;
  };

  explicit TokenFinder(TokenText text = TokenText::plain) : text_(text) {}
  void feed(std::string_view chunk, const Output& out);
  void finish(const Output& out);  // the stream has ended: what is held back is decided as it stands

 private:
  void drain(bool at_end, const Output& out);

  TokenText text_;
  std::string held_;
};

}  // namespace sovereign::crypto
