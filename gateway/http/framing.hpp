#pragma once
// How a parsed message is framed, as both ends of the gateway need to know it: the transfer codings
// it names (Beast decodes chunked and no other), and whether a failed read was a message the parser
// refused or a peer that stopped sending.
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace sovereign::gateway {

// Every Transfer-Encoding field of `message`, joined as one value ("gzip, chunked"); empty without one.
template <typename Message>
std::string transfer_codings(const Message& message) {
  std::string value;
  auto codings = message.equal_range(boost::beast::http::field::transfer_encoding);
  for (auto it = codings.first; it != codings.second; ++it) {
    if (!value.empty()) value += ", ";
    value.append(it->value().data(), it->value().size());
  }
  return value;
}

// True when `codings` (transfer_codings()) is empty or chunked alone: the only framing whose body
// Beast hands over decoded. Any other coding (gzip, deflate...) leaves its bytes encoded in the body.
inline bool decodable_transfer_codings(std::string_view codings) {
  return codings.empty() || boost::beast::iequals(codings, "chunked");
}

// An interim answer (100 Continue, 102 Processing, 103 Early Hints): RFC 9110 15.2 has a client read
// past any number of them, asked for or not, to the final answer. 101 is none: it switches protocols.
inline bool interim_status(unsigned status) { return status >= 100 && status < 200 && status != 101; }
// Interim heads read past before a final one; a peer that sends more is broken, not slow.
inline constexpr std::size_t max_interim_heads = 8;

// A message the parser refused (a bad field, a head over its limit, not HTTP at all), as opposed
// to one its sender stopped sending (end of stream, or a message cut off part-way).
inline bool malformed(const boost::system::error_code& ec) {
  return ec.category() == boost::beast::http::make_error_code(boost::beast::http::error::bad_target).category() &&
         ec != boost::beast::http::error::end_of_stream && ec != boost::beast::http::error::partial_message;
}

}  // namespace sovereign::gateway
