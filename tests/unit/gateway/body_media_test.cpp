// Request bodies are read as sent, in UTF-8: a content coding or another charset is refused with
// 415 naming the header, never parsed as JSON that it is not.
#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/openai/body_media.hpp"

using namespace sovereign::gateway;

namespace {

std::optional<ApiError> media(std::initializer_list<std::string_view> encodings, std::string_view content_type) {
  const std::vector<std::string_view> list(encodings);
  return refused_body_media(list, content_type);
}

}  // namespace

TEST_SUITE("body media") {
  TEST_CASE("no content coding, or identity in any case and list, is read") {
    CHECK_FALSE(media({}, "application/json"));
    CHECK_FALSE(media({}, ""));
    CHECK_FALSE(media({"identity"}, "application/json"));
    CHECK_FALSE(media({"Identity", " identity , IDENTITY "}, "application/json"));
    CHECK_FALSE(media({""}, "application/json"));
  }

  TEST_CASE("a content coding is refused with 415 naming the header as sent") {
    for (std::string_view coding : {"gzip", "br", "deflate", "x-gzip", "identity, gzip"}) {
      CAPTURE(coding);
      const auto error = media({coding}, "application/json");
      REQUIRE(error);
      CHECK(error->status == boost::beast::http::status::unsupported_media_type);
      CHECK(error->code == "unsupported_media_type");
      CHECK(error->type == "invalid_request_error");
      CHECK(error->message == "The request body is sent with 'Content-Encoding: " + std::string(coding) +
                                  "'; this gateway reads request bodies as they are sent, without a content coding: "
                                  "send the JSON uncompressed and leave out Content-Encoding.");
    }
    // A second header counts as much as the first.
    CHECK(media({"identity", "gzip"}, "application/json"));
  }

  TEST_CASE("a charset other than UTF-8 is refused naming it; UTF-8 in any spelling, or none, is read") {
    for (std::string_view type : {"application/json; charset=utf-8", "application/json;charset=UTF-8",
                                  "application/json; charset=\"utf-8\"", "application/json; Charset=utf8",
                                  "application/json", "text/plain", "application/json; boundary=x"}) {
      CAPTURE(type);
      CHECK_FALSE(media({}, type));
    }
    const auto utf16 = media({}, "application/json; charset=utf-16");
    REQUIRE(utf16);
    CHECK(utf16->status == boost::beast::http::status::unsupported_media_type);
    CHECK(utf16->message == "The request body is declared 'charset=utf-16' (Content-Type); JSON is read as UTF-8 "
                            "(RFC 8259): send the body in UTF-8, with charset=utf-8 or no charset.");
    CHECK(media({}, "application/json; foo=bar; charset=\"ISO-8859-1\"")->message.find("'charset=ISO-8859-1'") !=
          std::string::npos);
  }
}
