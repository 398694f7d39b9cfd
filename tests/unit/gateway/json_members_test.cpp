// The one parse that builds a JSON value and counts its members as written: what boost::json::parse
// gives (the same value, the same error), and a count that differs from the value's exactly where an
// object repeats a key.
#include <doctest/doctest.h>

#include <string>

#include <boost/json.hpp>

#include "gateway/openai/json_members.hpp"

using namespace sovereign::gateway;
namespace json = boost::json;

namespace {

struct Case {
  const char* text;
  std::size_t written;  // members of every object as written
  bool repeats;
};

}  // namespace

TEST_SUITE("openai") {
  TEST_CASE("the counting parse builds what boost::json::parse builds and counts members as written") {
    const Case cases[] = {
        {R"({})", 0, false},
        {R"([1,2,{"a":1}])", 1, false},
        {R"({"a":1,"b":[{"c":"x","d":null},{"c":true}],"e":{"f":-2,"g":1.5e3,"h":18446744073709551615}})", 9, false},
        {R"({"a":1,"a":2})", 2, true},
        {R"({"model":"m","messages":[{"role":"user","content":"a","content":"b"}]})", 5, true},
        {R"({"x":{"k":1},"y":{"k":2}})", 4, false},
        {R"({"mod\u0065l":"a","model":"b"})", 2, true},
        {R"({"s":"caf\u00e9 \"quoted\" \\ \ud83d\ude00"})", 1, false},
        {"  {\"a\" : [ ] , \"b\" : { } }  ", 2, false},
    };
    for (const auto& c : cases) {
      CAPTURE(c.text);
      boost::system::error_code ec, expected_ec;
      std::size_t written = 99;
      unsigned char buffer[1024];
      json::monotonic_resource arena(buffer, sizeof buffer);
      const json::value value = parse_counting_members(c.text, ec, &arena, {}, written);
      const json::value expected = json::parse(c.text, expected_ec);
      REQUIRE_FALSE(ec);
      REQUIRE_FALSE(expected_ec);
      CHECK(value == expected);
      CHECK(value.storage().get() == &arena);
      CHECK(written == c.written);
      CHECK(repeats_a_key(written, value) == c.repeats);
    }
  }

  TEST_CASE("the counting parse refuses what boost::json::parse refuses, with the same error") {
    json::parse_options shallow;
    shallow.max_depth = 4;
    const std::string bad[] = {"", "   ", "{", R"({"a":1,})", R"({"a":1} x)", "[[[[[1]]]]]", "{\"a\":\"\xff\"}",
                               R"({"a":1e999999999999999999999})", "\"\\ud800\"", "nul"};
    for (const auto& text : bad) {
      CAPTURE(text);
      boost::system::error_code ec, expected_ec;
      std::size_t written = 99;
      const json::value value = parse_counting_members(text, ec, {}, shallow, written);
      const json::value expected = json::parse(text, expected_ec, {}, shallow);
      CHECK(ec == expected_ec);
      CHECK(value == expected);
      if (ec) CHECK(written == 0);
    }
    // Bytes that are not UTF-8, where the options allow them, as boost::json::parse reads them.
    json::parse_options lenient;
    lenient.allow_invalid_utf8 = true;
    boost::system::error_code ec, expected_ec;
    std::size_t written = 0;
    const std::string text = "{\"a\":\"\xff\",\"a\":\"b\"}";
    const json::value value = parse_counting_members(text, ec, {}, lenient, written);
    CHECK_FALSE(ec);
    CHECK(value == json::parse(text, expected_ec, {}, lenient));
    CHECK(written == 2);
    CHECK(repeats_a_key(written, value));
  }
}
