#pragma once
// Tool-call arguments are JSON text inside a JSON string: a value in them is written with JSON's
// escapes ("CORP\\jdoe", "Project \"Falcon\"", "Z\u00fcrich" from an encoder that writes ASCII
// only). The policy reads such text with its escapes resolved, so that a detector sees a value as
// the client meant it, and the vault keeps the value so; the answer path escapes it again for the
// place its token stands in (crypto/token_restorer.hpp). The source map puts what the policy
// found back in the text as written: a value is replaced with its escapes, never half of one.
#include <cstddef>
#include <string_view>
#include <utility>

#include "policy/encoded_text.hpp"

namespace sovereign::gateway {

// The JSON text with each string escape (\" \\ \/ \b \f \n \r \t \uXXXX, a surrogate pair as one)
// replaced by the character it stands for; a backslash that starts no escape, and a surrogate
// without its other half, stay as written. The policy's own reading (policy::unescape_json_text),
// which the answer side reads a model's arguments with: a request's and an answer's arguments read alike.
struct ReadableJsonText : policy::UnescapedText {
  // The bytes of the original that wrote text[begin, end), whole escapes and characters.
  std::pair<std::size_t, std::size_t> original_range(std::size_t begin, std::size_t end) const;
};

ReadableJsonText readable_json_text(std::string_view json_text);

}  // namespace sovereign::gateway
