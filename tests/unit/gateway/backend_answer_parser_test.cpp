// The forwarder's parser of a backend's answer keeps what Beast's own parser gives for the fields
// the forwarder reads, and hands the body over whole or piece by piece as Beast's bodies do.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/http/framing.hpp"
#include "gateway/upstream/backend_answer_parser.hpp"

using namespace sovereign::gateway;
namespace http = boost::beast::http;

namespace {

// Puts `bytes` into `parser` until it is done or stops; returns the error that stopped it.
template <class Parser>
boost::system::error_code put_all(Parser& parser, std::string_view bytes) {
  boost::system::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (ec || used == 0) break;
  }
  return ec;
}

}  // namespace

TEST_SUITE("http") {
  TEST_CASE("the fields kept of an answer are the first of each name, in any case, as Beast's lookup by name finds them") {
    const char* answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 429 Too Many\r\nretry-after: 5\r\nCONTENT-TYPE: text/plain\r\nContent-Encoding: gzip\r\nRetry-After: 9\r\ncontent-encoding: br\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Content-Type: a\r\nContent-Typo: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Busy\r\nRetry-After:\r\nContent-Type: a\r\nContent-Type: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n",
    };
    for (const char* answer : answers) {
      CAPTURE(answer);
      http::response_parser<http::string_body> beast;
      REQUIRE_FALSE(put_all(beast, answer));
      BackendAnswerParser parser;
      parser.eager(true);
      parser.take_whole();
      REQUIRE_FALSE(put_all(parser, answer));
      REQUIRE(parser.is_done());
      const auto& message = beast.get();
      CHECK(parser.status() == message.result_int());
      CHECK(parser.content_type() == message[http::field::content_type]);
      CHECK(parser.content_encoding() == message[http::field::content_encoding]);
      CHECK(parser.retry_after() == message[http::field::retry_after]);
      CHECK(parser.transfer_codings() == transfer_codings(message));
      CHECK(parser.keep_alive() == message.keep_alive());
      CHECK(parser.take_body() == message.body());
    }
    BackendAnswerParser parser;
    REQUIRE_FALSE(put_all(parser, answers[1]));
    CHECK(parser.retry_after() == "5");
    CHECK(parser.content_type() == "text/plain");
    CHECK(parser.content_encoding() == "gzip");
  }

  TEST_CASE("a body taken piece by piece fills the buffer given, stops with need_buffer when it is full, and goes on") {
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        "9\r\ndata: 1\n\n\r\n" "9\r\ndata: 2\n\n\r\n" "0\r\n\r\n";
    BackendAnswerParser parser;
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(answer), ec);  // the head alone (not eager)
    REQUIRE_FALSE(ec);
    REQUIRE(parser.is_header_done());
    std::string_view rest = std::string_view(answer).substr(used);
    std::string body;
    char piece[7];
    parser.eager(true);
    while (!parser.is_done()) {
      parser.take_into(piece, sizeof piece);
      used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(used);
      CHECK(parser.taken() <= sizeof piece);
      if (ec == http::error::need_buffer) {
        CHECK(parser.taken() == sizeof piece);  // stopped because the piece was full
        ec = {};
      }
      REQUIRE_FALSE(ec);
      body.append(piece, parser.taken());
    }
    CHECK(body == "data: 1\n\ndata: 2\n\n");
    CHECK(parser.keep_alive());
  }

  TEST_CASE("body bytes before the forwarder chose how to take them are refused, never dropped") {
    BackendAnswerParser parser;
    parser.eager(true);
    const auto ec = put_all(parser, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(ec == http::error::unexpected_body);
  }
}
