#pragma once
// Feeds a Beast parser the bytes its read buffer already holds. Beast's header reads stop at the
// end of the header, but a small message's body usually arrived in the same segment: parsing it
// here completes the message without another asynchronous read (and its queued completion).
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace sovereign::gateway {

namespace detail {
// Feeds the parser buffered bytes until done() or the buffer is used up; `ec` is a parse error,
// never need_more.
template <class Parser, class Done>
void parse_buffered_until(Parser& parser, boost::beast::flat_buffer& buffer, boost::system::error_code& ec,
                          bool eager, Done done) {
  ec = {};
  parser.eager(eager);
  while (!done() && buffer.size() > 0) {
    std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == boost::beast::http::error::need_more) ec = {};
    if (ec || used == 0) return;
  }
}
}  // namespace detail

// Parses buffered bytes until the message is complete or the buffer is used up; `ec` is a parse
// error (body_limit, bad chunk...), never need_more.
template <class Parser>
void parse_buffered(Parser& parser, boost::beast::flat_buffer& buffer, boost::system::error_code& ec) {
  detail::parse_buffered_until(parser, buffer, ec, true, [&] { return parser.is_done(); });
}

// Parses buffered bytes up to the end of the header only (a chunked body's trailer fields must not
// be merged before the header's fields are counted); `ec` is a parse error, never need_more. A
// header not yet complete stays in the buffer, as Beast's header reads expect.
template <class Parser>
void parse_buffered_header(Parser& parser, boost::beast::flat_buffer& buffer, boost::system::error_code& ec) {
  detail::parse_buffered_until(parser, buffer, ec, false, [&] { return parser.is_header_done(); });
}

}  // namespace sovereign::gateway
