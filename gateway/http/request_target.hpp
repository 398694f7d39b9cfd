#pragma once
// Request targets in absolute form (RFC 9112 3.2.2: "http://host:port/path?query"), which a server
// MUST accept and some clients and proxies send, reduced to the origin form ("/path?query") that the
// API and admin routes match.
#include <optional>
#include <string>
#include <string_view>

namespace sovereign::gateway {

// True when the target starts with a URI scheme and ':' (absolute form), not with '/'.
bool is_absolute_form(std::string_view target);

// The origin form of an absolute-form target: its path and query, "/" for an empty path; the host
// and port are not the gateway's to check (it serves whatever name clients reach it by, as it does
// for the Host header). Nothing, with `error` saying what is wrong and what to send, when the target
// is not an http or https URI with a host.
std::optional<std::string> origin_form(std::string_view target, std::string& error);

}  // namespace sovereign::gateway
