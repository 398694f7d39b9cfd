// SseLineEnds: a stream's line ends, LF, CRLF or a lone CR, all read as LF, split anywhere; a
// byte-order mark at its start dropped.
#include <doctest/doctest.h>

#include <string>

#include "gateway/openai/sse_lines.hpp"

using sovereign::gateway::SseLineEnds;

namespace {

std::string normalized(const std::string& stream, std::size_t cut) {
  SseLineEnds ends;
  std::string out = ends.normalize(stream.substr(0, cut));
  out += ends.normalize(stream.substr(cut));
  return out + ends.finish();
}

}  // namespace

TEST_SUITE("sse lines") {
  TEST_CASE("CR, CRLF and LF each end one line, however the bytes are cut") {
    const std::string stream = "a\rb\r\nc\nd\r\re\n\nf\r";
    for (std::size_t cut = 0; cut <= stream.size(); ++cut)
      CHECK_MESSAGE(normalized(stream, cut) == "a\nb\nc\nd\n\ne\n\nf\n", "cut at " << cut);
  }

  TEST_CASE("an empty read between a CR and its LF leaves them one line end") {
    SseLineEnds ends;
    std::string out = ends.normalize("data: x\r");
    out += ends.normalize("");
    out += ends.normalize("\n\r\n");
    CHECK(out + ends.finish() == "data: x\n\n");
  }

  TEST_CASE("a byte-order mark is dropped at the start only, even split; other first bytes are kept") {
    const std::string marked = "\xEF\xBB\xBF" "data: x\n\n";
    for (std::size_t cut = 0; cut <= marked.size(); ++cut) CHECK(normalized(marked, cut) == "data: x\n\n");
    CHECK(normalized("data: \xEF\xBB\xBF\n", 3) == "data: \xEF\xBB\xBF\n");
    CHECK(normalized("\xEF\xBB" "data\n", 1) == "\xEF\xBB" "data\n");
    CHECK(normalized("\xEF", 1) == "\xEF");
  }
}
