// Several fields read in one pass give what a lookup of each by name gives.
#include <doctest/doctest.h>

#include <boost/beast/http/parser.hpp>

#include "gateway/http/first_values.hpp"
#include "gateway/http/messages.hpp"

using namespace sovereign::gateway;
namespace http = boost::beast::http;

TEST_SUITE("http") {
  TEST_CASE("fields read in one pass are the first of each name, in any case, as a lookup by name finds them") {
    const char* heads[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 429 Too Many\r\nretry-after: 5\r\nCONTENT-TYPE: text/plain\r\nContent-Encoding: gzip\r\n"
        "Retry-After: 9\r\ncontent-encoding: br\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Content-Type: a\r\nContent-Typo: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Busy\r\nRetry-After:\r\nContent-Type: a\r\nContent-Type: b\r\nContent-Length: 0\r\n\r\n",
    };
    const std::array<http::field, 3> names{http::field::retry_after, http::field::content_type,
                                           http::field::content_encoding};
    for (const char* head : heads) {
      CAPTURE(head);
      http::response_parser<http::empty_body, FieldAllocator> parser;
      boost::system::error_code ec;
      parser.put(boost::asio::buffer(std::string_view(head)), ec);
      REQUIRE_FALSE(ec);
      const auto& fields = parser.get().base();
      const auto values = first_values(fields, names);
      for (std::size_t i = 0; i < names.size(); ++i) CHECK(values[i] == fields[names[i]]);
      if (std::string_view(head).starts_with("HTTP/1.1 429")) {
        CHECK(values[0] == "5");
        CHECK(values[1] == "text/plain");
        CHECK(values[2] == "gzip");
      }
    }
  }
}
