// serialize_into writes exactly the bytes Beast's own serializer writes, for every message shape
// the gateway sends: answers to clients (2xx, errors, retry hints, closing) and upstream request heads.
#include <doctest/doctest.h>

#include <sstream>

#include <boost/beast/http/write.hpp>

#include "gateway/http/serialize.hpp"

using namespace sovereign::gateway;
namespace http = boost::beast::http;

namespace {

template <bool isRequest, class Body>
std::string beast_bytes(const http::message<isRequest, Body>& message) {
  std::ostringstream out;
  out << message;
  return out.str();
}

template <bool isRequest, class Body>
void check_same_bytes(const http::message<isRequest, Body>& message) {
  std::string ours = "left over from the previous message";
  serialize_into(message, ours);
  CHECK(ours == beast_bytes(message));
}

}  // namespace

TEST_SUITE("http") {
  TEST_CASE("responses: status line, fields in order, body") {
    http::response<http::string_body> ok{http::status::ok, 11};
    ok.set(http::field::content_type, "application/json");
    ok.set("X-Request-Id", "req_0123456789abcdef");
    ok.body() = R"({"id":"chatcmpl-1","choices":[]})";
    ok.keep_alive(true);
    ok.prepare_payload();
    check_same_bytes(ok);

    http::response<http::string_body> limited{http::status::too_many_requests, 11};
    limited.set(http::field::content_type, "application/json");
    limited.set(http::field::retry_after, "3");
    limited.body() = R"({"error":{}})";
    limited.keep_alive(false);
    limited.prepare_payload();
    check_same_bytes(limited);

    http::response<http::string_body> old{http::status::not_found, 10};
    old.reason("Nothing Here");
    old.prepare_payload();
    check_same_bytes(old);

    http::response<http::string_body> unusual{static_cast<http::status>(499), 11};
    unusual.prepare_payload();
    check_same_bytes(unusual);
  }

  TEST_CASE("request heads: request line, fields, no body") {
    http::request<http::empty_body> head{http::verb::post, "/v1/chat/completions", 11};
    head.set(http::field::host, "10.0.0.7:8000");
    head.set(http::field::user_agent, "sovereign-gateway");
    head.set(http::field::accept, "text/event-stream");
    head.set("X-Request-Id", "req_0123456789abcdef");
    head.keep_alive(true);
    head.set(http::field::content_type, "application/json");
    head.content_length(1312);
    check_same_bytes(head);

    http::request<http::empty_body> get{http::verb::get, "/health?deep=1", 11};
    get.set(http::field::host, "[::1]:9000");
    check_same_bytes(get);
  }
}
