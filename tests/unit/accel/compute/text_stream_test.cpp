// Streaming text: whole UTF-8 characters only, stop strings across token boundaries.
#include <doctest/doctest.h>

#include "accel/compute/text_stream.hpp"

using sovereign::accel::compute::take_complete_utf8;
using sovereign::accel::compute::TextStream;

namespace {
const std::string kFffd = "\xEF\xBF\xBD";

std::string rewritten(std::string_view bytes) {
  std::string out;
  CHECK(take_complete_utf8(bytes, out) == bytes.size());
  return out;
}
}  // namespace

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

TEST_CASE("surrogates, overlong forms and code points above U+10FFFF become U+FFFD, never raw bytes") {
  // Each maximal ill-formed subpart becomes one U+FFFD (Unicode's recommended practice, as in WHATWG).
  CHECK(rewritten("\xED\xA0\x80") == kFffd + kFffd + kFffd);          // U+D800, a surrogate
  CHECK(rewritten("\xED\xBF\xBFz") == kFffd + kFffd + kFffd + "z");   // U+DFFF
  CHECK(rewritten("\xE0\x80\xAF") == kFffd + kFffd + kFffd);          // overlong '/'
  CHECK(rewritten("\xE0\x9F\xBF") == kFffd + kFffd + kFffd);          // overlong U+07FF
  CHECK(rewritten("\xF0\x8F\xBF\xBF") == kFffd + kFffd + kFffd + kFffd);  // overlong U+FFFF
  CHECK(rewritten("\xC0\xAF") == kFffd + kFffd);                       // overlong '/'
  CHECK(rewritten("\xC1\xBF") == kFffd + kFffd);
  CHECK(rewritten("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd);  // U+110000
  CHECK(rewritten("\xF5\x80\x80\x80") == kFffd + kFffd + kFffd + kFffd);
  CHECK(rewritten("\xFE\xFF") == kFffd + kFffd);
  CHECK(rewritten("\xE2\x82z") == kFffd + "z");  // a truncated sequence followed by more text
}

TEST_CASE("the edges of the valid ranges pass unchanged") {
  for (const std::string valid : {"\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                                  "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"})
    CHECK(rewritten(valid) == valid);
}

TEST_CASE("a sequence that is already ill-formed is not held back waiting for more bytes") {
  std::string out;
  CHECK(take_complete_utf8("a\xED\xA0", out) == 3);  // a surrogate cannot be completed
  CHECK(out == "a" + kFffd + kFffd);
  out.clear();
  CHECK(take_complete_utf8("a\xF4\x8F", out) == 1);  // U+10FFFF may still arrive
  CHECK(out == "a");

  // Byte-fallback tokens spelling a surrogate one byte at a time (the reviewer's repro).
  TextStream stream({});
  std::string text;
  for (const char* piece : {"\xED", "\xA0", "\x80"}) text += stream.push(piece).text;
  text += stream.finish();
  CHECK(text == kFffd + kFffd + kFffd);
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

TEST_CASE("a chat answer's first space is dropped once; the spaces it generates after that stay") {
  TextStream stream({}, /*drop_leading_space=*/true);
  CHECK(stream.push("").text == "");  // a control token spells nothing and does not use up the drop
  CHECK(stream.push(" Hello").text == "Hello");
  CHECK(stream.push(" world").text == " world");
  CHECK(stream.push(" ").text == " ");
  CHECK(stream.finish() == "");

  TextStream lone({}, true);  // the space as a token of its own ("▁" or <0x20>)
  CHECK(lone.push(" ").text == "");
  CHECK(lone.push(" x").text == " x");

  TextStream word({}, true);  // an answer whose first token has no space keeps its text whole
  CHECK(word.push("Hi").text == "Hi");
  CHECK(word.push(" there").text == " there");

  TextStream kept({});  // a completion continues its prompt: the space before its first word stays
  CHECK(kept.push(" Hello").text == " Hello");
}

TEST_CASE("stop strings are matched on the answer without its dropped first space") {
  TextStream stop_at_start({" Hel"}, true);
  auto out = stop_at_start.push(" Hello");
  CHECK_FALSE(out.stopped);
  CHECK(out.text == "Hello");

  TextStream stop_on_word({"Hel"}, true);
  out = stop_on_word.push(" Hello");
  CHECK(out.stopped);
  CHECK(out.text == "");
}
