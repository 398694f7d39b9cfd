#pragma once
// JSON leaves open which of a repeated key counts: Boost.JSON (like JavaScript) keeps the last,
// other parsers the first or refuse. Text the gateway checks is checked as it parsed it, so a body
// that repeats a key could carry past the check what another parser reads: requests that do are
// refused, and answers that do are withheld.
#include <string>
#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

namespace sovereign::gateway {

// `text` parsed as boost::json::parse(text, ec, storage, options) parses it (null, with `ec` set, where
// it is not JSON), counting on the way the members its objects hold as written, repeated keys
// included, into `written_members`: one pass gives the value and what repeats_a_key needs.
boost::json::value parse_counting_members(std::string_view text, boost::system::error_code& ec,
                                          boost::json::storage_ptr storage, const boost::json::parse_options& options,
                                          std::size_t& written_members);

// Whether the text `parsed` was parsed from repeats a key inside one of its objects: its members as
// written (parse_counting_members) outnumber those of `parsed`, which keeps one per key.
bool repeats_a_key(std::size_t written_members, const boost::json::value& parsed);

// Where `written` (valid JSON) first repeats a key: its JSON path (messages[0].content), for the
// error that refuses it; empty when no object repeats a key. A second pass, run only for a body
// repeats_a_key has refused.
std::string repeated_key_path(std::string_view written, const boost::json::parse_options& options = {});

}  // namespace sovereign::gateway
