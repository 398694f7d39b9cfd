#pragma once
// What the strings of an OpenAI request are to the policy's scan: keys of the API's schema and
// words of its vocabulary (structure, not data), JSON text inside a string, and numbers read as
// their digits. Shared by the two readers of a body under a policy: the built one
// (request_body.cpp) and the one-pass one (request_summary.cpp), which must collect the same texts.
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace sovereign::gateway {

// Keys of OpenAI's request schema (and of the JSON Schema that tools and response formats carry).
bool schema_key(std::string_view key);

// Values that are words of the API's vocabulary (roles, part and format types, choices).
bool vocabulary_word(std::string_view value);

// Whether the string at `path` is JSON text: messages[M].tool_calls[C].function.arguments or
// messages[M].function_call.arguments, as assistant turns carry them back.
bool holds_json_text(std::string_view path);

// The digits of a whole number (4111111111111111, and 4.111111111111111e15 or 4111111111111111.0,
// which write the same number); nullopt for a fraction or a number beyond 64 bits.
std::optional<std::string> whole_number_digits(const boost::json::value& value);

}  // namespace sovereign::gateway
