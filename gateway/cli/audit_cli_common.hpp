#pragma once
// What the files of `sovereign audit` share (audit_command.cpp: dispatch, verify, proofs and
// captures; audit_query.cpp: query and tail). Internal to the command line.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway::audit_cli {

// Prints "sovereign audit: MESSAGE" and the usage; returns the usage exit status, 2.
int usage_error(const std::string& message);
// A non-negative decimal count (leaf index, tree size, limit), or nothing.
std::optional<std::uint64_t> parse_count(const std::string& text);
// A record's field as text: strings as they are, other values as JSON, absent or null as "".
std::string field_text(const boost::json::object& object, std::string_view key);

int query(const Arguments& args);
int tail(const Arguments& args);

}  // namespace sovereign::gateway::audit_cli
