// The request fields the exchange reads, from one pass: what Beast's lookups by name give.
#include <doctest/doctest.h>

#include <iterator>
#include <string>
#include <vector>

#include <boost/beast/http/parser.hpp>

#include "gateway/pipeline/request_fields.hpp"

using namespace sovereign::gateway;
namespace http = boost::beast::http;

namespace {

// How many fields named `name` there are, and the first one's value, as the exchange read them.
template <class Name>
SingleField by_lookup(const Fields& fields, Name name) {
  auto [first, end] = fields.equal_range(name);
  return {static_cast<std::size_t>(std::distance(first, end)), fields[name]};
}

}  // namespace

TEST_SUITE("http") {
  TEST_CASE("request fields read in one pass count and give what lookups by name do") {
    const char* heads[] = {
        "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nauthorization: Bearer one\r\nContent-Type: application/json\r\n"
        "x-data-class: internal\r\nX-Conversation-Id: c1\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer one\r\nAUTHORIZATION: Bearer two\r\n"
        "Content-Encoding: gzip\r\ncontent-type: text/plain\r\nContent-Encoding: br\r\nContent-Type: application/json\r\n"
        "X-DATA-CLASS: public\r\nX-Data-Class: restricted\r\nx-conversation-id: c1\r\nX-Conversation-ID: c2\r\n"
        "X-Data-Classes: no\r\nX-Conversation: no\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nAuthorization:\r\nX-Conversation-Id:\r\nContent-Type:\r\nContent-Length: 0\r\n\r\n",
    };
    for (const char* head : heads) {
      CAPTURE(head);
      http::request_parser<http::empty_body, FieldAllocator> parser;
      boost::system::error_code ec;
      parser.put(boost::asio::buffer(std::string_view(head)), ec);
      REQUIRE_FALSE(ec);
      const Fields& fields = parser.get().base();
      const RequestFields read = read_request_fields(fields);
      const auto same = [](const SingleField& a, const SingleField& b) { return a.count == b.count && a.value == b.value; };
      CHECK(same(read.authorization, by_lookup(fields, http::field::authorization)));
      CHECK(read.content_type.value == fields[http::field::content_type]);
      CHECK(same(read.data_class, by_lookup(fields, "X-Data-Class")));
      CHECK(same(read.conversation_id, by_lookup(fields, "X-Conversation-Id")));
      std::vector<std::string_view> encodings;
      for (auto [it, end] = fields.equal_range(http::field::content_encoding); it != end; ++it) encodings.push_back(it->value());
      CHECK(read.content_encodings == encodings);
      if (std::string_view(head).find("AUTHORIZATION") != std::string_view::npos) {
        CHECK(read.authorization.count == 2);
        CHECK(read.authorization.value == "Bearer one");
        CHECK(read.content_encodings == std::vector<std::string_view>{"gzip", "br"});
        CHECK(read.content_type.value == "text/plain");
        CHECK(read.data_class.count == 2);
        CHECK(read.data_class.value == "public");
        CHECK(read.conversation_id.count == 2);
      }
    }
  }
}
