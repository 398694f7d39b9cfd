// Absolute-form request targets (RFC 9112 3.2.2) reduced to the origin form the routes match, and
// malformed ones refused with what is wrong and what to send.
#include <doctest/doctest.h>

#include "gateway/http/request_target.hpp"

using namespace sovereign::gateway;

namespace {

std::string origin_of(std::string_view target) {
  std::string error;
  auto origin = origin_form(target, error);
  REQUIRE_MESSAGE(origin.has_value(), error);
  CHECK(error.empty());
  return *origin;
}

std::string refusal_of(std::string_view target) {
  std::string error;
  auto origin = origin_form(target, error);
  CHECK_MESSAGE(!origin.has_value(), origin.value_or(""));
  CHECK(error.find("send the path (such as /v1/chat/completions)") != std::string::npos);
  return error;
}

}  // namespace

TEST_SUITE("request target") {
  TEST_CASE("only a target that starts with a scheme and ':' is in absolute form") {
    CHECK(is_absolute_form("http://127.0.0.1:8080/v1/chat/completions"));
    CHECK(is_absolute_form("HTTPS://gw/v1/models"));
    CHECK(is_absolute_form("ftp://x/"));
    CHECK(is_absolute_form("http:/v1"));
    CHECK_FALSE(is_absolute_form("/v1/chat/completions"));
    CHECK_FALSE(is_absolute_form("/v1/models/org:model"));
    CHECK_FALSE(is_absolute_form("*"));
    CHECK_FALSE(is_absolute_form(""));
    CHECK_FALSE(is_absolute_form("1http://x/"));
    CHECK_FALSE(is_absolute_form("v1/chat/completions"));
  }

  TEST_CASE("an http or https URI becomes its path and query, whatever its host and port") {
    CHECK(origin_of("http://127.0.0.1:18080/v1/chat/completions") == "/v1/chat/completions");
    CHECK(origin_of("https://gateway.example/v1/models?x=1&y=2") == "/v1/models?x=1&y=2");
    CHECK(origin_of("HtTp://LOCALHOST/v1/models/org%2Fmodel") == "/v1/models/org%2Fmodel");
    CHECK(origin_of("http://[::1]:8080/healthz") == "/healthz");
    CHECK(origin_of("http://[::1]/healthz") == "/healthz");
    CHECK(origin_of("http://host:/metrics") == "/metrics");  // an empty port is the scheme's default
    CHECK(origin_of("http://host") == "/");
    CHECK(origin_of("http://host?x=1") == "/?x=1");
  }

  TEST_CASE("a malformed absolute target is refused saying what is wrong") {
    CHECK(refusal_of("ftp://host/v1/chat/completions").find("the scheme 'ftp', which the gateway does not serve") !=
          std::string::npos);
    CHECK(refusal_of("http:/v1/chat/completions").find("'http:' must be followed by '//' and a host") !=
          std::string::npos);
    CHECK(refusal_of("http:///v1/chat/completions").find("it names no host") != std::string::npos);
    CHECK(refusal_of("http://:8080/v1/models").find("it names no host") != std::string::npos);
    CHECK(refusal_of("http://user:pw@host/v1/models").find("user information") != std::string::npos);
    CHECK(refusal_of("http://host:80a/v1/models").find("its port is not a number") != std::string::npos);
    CHECK(refusal_of("http://[::1/v1/models").find("no closing ']'") != std::string::npos);
    CHECK(refusal_of("http://[::1]x/v1/models").find("something other than ':' and a port") != std::string::npos);
    CHECK(refusal_of("http://host/v1/models#top").find("fragment") != std::string::npos);
  }

  TEST_CASE("a long target is quoted cut short in the message") {
    const std::string target = "gopher://" + std::string(500, 'a');
    const std::string error = refusal_of(target);
    CHECK(error.find(std::string(100 - 9, 'a') + "...'") != std::string::npos);
    CHECK(error.size() < 400);
  }
}
