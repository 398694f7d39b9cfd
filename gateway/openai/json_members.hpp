#pragma once
// JSON leaves open which of a repeated key counts: Boost.JSON (like JavaScript) keeps the last,
// other parsers the first or refuse. Text the gateway checks is checked as it parsed it, so a body
// that repeats a key could carry past the check what another parser reads: requests that do are
// refused, and answers that do are withheld.
#include <string>
#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace sovereign::gateway {

// Whether `written` repeats a key inside one of its objects: its members as written (a second,
// allocation-free pass of Boost.JSON's parser, with the options `parsed` was parsed with) outnumber
// those of `parsed`, its parse.
bool repeats_a_key(std::string_view written, const boost::json::value& parsed,
                   const boost::json::parse_options& options = {});

// Where `written` (valid JSON) first repeats a key: its JSON path (messages[0].content), for the
// error that refuses it; empty when no object repeats a key. A third pass, run only for a body
// repeats_a_key has refused.
std::string repeated_key_path(std::string_view written, const boost::json::parse_options& options = {});

}  // namespace sovereign::gateway
