#pragma once
// A complete HTTP/1.x message (start line, Beast's fields as they are, body) written into one
// contiguous buffer, so that it leaves in a single send of one buffer.
//
// Beast's serializer produces the same bytes (the unit tests compare the two on every message
// shape the gateway sends) but as a chain of small buffers walked through several layers of
// buffer-sequence adaptors; for the few hundred bytes of an API response head that machinery
// cost more than everything else the gateway does to the head (measured: about 15% of a worker's
// user time at 28,000 requests/s). Messages with a chunked body still go through Beast.
#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sovereign::gateway {

// Replaces `out` with the message as it goes on the wire. The string keeps its capacity, so a
// buffer reused per connection stops allocating after the first message.
template <bool isRequest, class Body, class Fields>
void serialize_into(const boost::beast::http::message<isRequest, Body, Fields>& message, std::string& out) {
  static_assert(std::is_same_v<Body, boost::beast::http::string_body> ||
                    std::is_same_v<Body, boost::beast::http::empty_body>,
                "in-memory bodies only; stream other bodies with Beast's serializer");
  const unsigned version = message.version();
  const char http_version[] = {'H', 'T', 'T', 'P', '/', static_cast<char>('0' + version / 10), '.',
                               static_cast<char>('0' + version % 10)};
  // Separators are appended with their lengths known (a C string's append measures it first), and
  // the status as three digits: this runs for every answer.
  const auto append = [&out](std::string_view text) { out.append(text.data(), text.size()); };
  out.clear();
  if constexpr (isRequest) {
    append(message.method_string());
    out.push_back(' ');
    append(message.target());
    out.push_back(' ');
    append({http_version, sizeof http_version});
    append("\r\n");
  } else {
    append({http_version, sizeof http_version});
    out.push_back(' ');
    auto reason = message.reason();  // empty unless set: then the standard phrase, as Beast writes it
    if (reason.empty()) reason = boost::beast::http::obsolete_reason(message.result());
    char status[12];
    append({status, static_cast<std::size_t>(std::to_chars(status, status + sizeof status, message.result_int()).ptr - status)});
    out.push_back(' ');
    append(reason);
    append("\r\n");
  }
  for (const auto& field : message) {
    append(field.name_string());
    append(": ");
    append(field.value());
    append("\r\n");
  }
  append("\r\n");
  if constexpr (std::is_same_v<Body, boost::beast::http::string_body>) out.append(message.body());
}

}  // namespace sovereign::gateway
