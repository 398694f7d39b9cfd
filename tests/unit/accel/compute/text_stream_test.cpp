// Streaming text: whole UTF-8 characters only, stop strings across token boundaries.
#include <doctest/doctest.h>

#include "accel/compute/text_stream.hpp"

using sovereign::accel::compute::TextStream;

TEST_CASE("a multi-byte character split across tokens is sent only when complete") {
  TextStream stream({});
  const std::string euro = "\xE2\x82\xAC";
  CHECK(stream.push("a" + euro.substr(0, 1)).text == "a");
  CHECK(stream.push(euro.substr(1, 1)).text == "");
  CHECK(stream.push(euro.substr(2, 1) + "b").text == euro + "b");
  CHECK(stream.finish() == "");
}

TEST_CASE("invalid bytes become U+FFFD and a truncated character at the end is replaced") {
  TextStream stream({});
  CHECK(stream.push("x\xFFy").text == "x\xEF\xBF\xBDy");
  CHECK(stream.push("\xC3\x28").text == "\xEF\xBF\xBD(");
  CHECK(stream.push("\xF0\x9F").text == "");
  CHECK(stream.finish() == "\xEF\xBF\xBD");
}

TEST_CASE("a stop string spread over several tokens ends the text just before it") {
  TextStream stream({"END"});
  CHECK(stream.push("hello E").text == "hello ");
  auto out = stream.push("N");
  CHECK(out.text == "");
  CHECK_FALSE(out.stopped);
  out = stream.push("D and more");
  CHECK(out.stopped);
  CHECK(out.text == "");
}

TEST_CASE("text held back as a possible stop prefix is released when it turns out not to be one") {
  TextStream stream({"###", "\n\nUser:"});
  CHECK(stream.push("a #").text == "a ");
  CHECK(stream.push("# b").text == "## b");
  CHECK(stream.push("\n\nUs").text == "");
  CHECK(stream.finish() == "\n\nUs");
}

TEST_CASE("the earliest of several stop strings wins, even inside one token") {
  TextStream stream({"cd", "b"});
  auto out = stream.push("abcd");
  CHECK(out.stopped);
  CHECK(out.text == "a");
}
