#pragma once
// Beast's serializer, run to completion into one contiguous buffer. Beast hands a message out as
// a chain of small buffers (one per header field, chunk framing, body); every write_some walks and
// re-slices that chain, which costs more than the bytes themselves for the small messages an API
// gateway sends. Copying them once lets the socket write take a single buffer.
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>

namespace sovereign::gateway {

// Replaces `out` with the message as it goes on the wire (status or request line, fields, body).
// The string keeps its capacity, so a buffer reused per connection stops allocating after the
// first message.
template <bool isRequest, class Body, class Fields>
void serialize_into(boost::beast::http::message<isRequest, Body, Fields>& message, std::string& out) {
  boost::beast::http::serializer<isRequest, Body, Fields> serializer(message);
  out.clear();
  boost::system::error_code ec;
  while (!serializer.is_done()) {
    serializer.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      std::size_t size = boost::asio::buffer_size(buffers);
      std::size_t at = out.size();
      out.resize(at + size);
      boost::asio::buffer_copy(boost::asio::buffer(out.data() + at, size), buffers);
      serializer.consume(size);
    });
    // The bodies used here (string, empty) are in memory and cannot fail; stop rather than spin.
    if (ec) break;
  }
}

}  // namespace sovereign::gateway
