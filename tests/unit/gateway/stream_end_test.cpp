// StreamEnd: a relayed stream ends with its `data: [DONE]` line, however the bytes are split.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/openai/stream_end.hpp"

using sovereign::gateway::StreamEnd;

namespace {

const std::string event = R"(data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]})" "\n\n";

// The stream fed in pieces cut at the given offsets; what would be relayed, and whether it ended.
std::pair<std::string, bool> relay(const std::string& stream, const std::vector<std::size_t>& cuts) {
  StreamEnd end;
  std::string out;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
    std::string piece = stream.substr(from, to - from);
    end.cut(piece);
    out += piece;
    from = to;
  }
  return {out, end.ended()};
}

}  // namespace

TEST_SUITE("stream end") {
  TEST_CASE("the answer ends after the [DONE] event; what follows is cut, split anywhere") {
    for (const char* separator : {"\n", "\r\n", "\r"}) {
      const std::string done = std::string("data: [DONE]") + separator + separator;
      const std::string answer = event + done;
      const std::string stream = answer + event + "data: after the end\n\n" + done;
      for (std::size_t a = 0; a <= stream.size(); ++a) {
        auto [out, ended] = relay(stream, {a});
        CHECK_MESSAGE(out == answer, "cut at " << a);
        CHECK(ended);
      }
      for (std::size_t a = 0; a + 3 <= answer.size(); a += 3) {
        auto [out, ended] = relay(stream, {a, a + 1, a + 3});
        CHECK_MESSAGE(out == answer, "cuts at " << a);
        CHECK(ended);
      }
    }
  }

  TEST_CASE("without a space after data:, and with other fields in its event") {
    CHECK(relay(event + "data:[DONE]\n\nrest", {}) == std::pair<std::string, bool>{event + "data:[DONE]\n\n", true});
    CHECK(relay("id: 7\ndata: [DONE]\n\n", {3}) == std::pair<std::string, bool>{"id: 7\ndata: [DONE]\n\n", true});
  }

  TEST_CASE("an end line the bytes do not follow with a blank line gets one") {
    CHECK(relay(event + "data: [DONE]\n", {}) == std::pair<std::string, bool>{event + "data: [DONE]\n\n", true});
    CHECK(relay(event + "data: [DONE]\ndata: more\n\n", {}) ==
          std::pair<std::string, bool>{event + "data: [DONE]\n\n", true});
    // Cut at the end line's end: the blank line is added at once, the backend's own is dropped.
    const std::string stream = event + "data: [DONE]\n\n";
    CHECK(relay(stream, {stream.size() - 1}) == std::pair<std::string, bool>{stream, true});
  }

  TEST_CASE("an end line ended by a lone CR ends the answer once the next byte shows it is no CRLF") {
    const std::string lone = event + "data: [DONE]\r";
    // The CR is the last byte so far: it may be half of a CRLF, so nothing is decided yet.
    CHECK(relay(lone, {}) == std::pair<std::string, bool>{lone, false});
    CHECK(relay(lone + "\r: kept open", {lone.size()}) == std::pair<std::string, bool>{lone + "\r", true});
    CHECK(relay(lone + "data: more\r\r", {lone.size()}) == std::pair<std::string, bool>{lone + "\r", true});
    CHECK(relay(lone + "\n\r\nrest", {lone.size()}) == std::pair<std::string, bool>{lone + "\n\r\n", true});
    CHECK(relay("id: 7\rdata:[DONE]\r\rmore", {}) == std::pair<std::string, bool>{"id: 7\rdata:[DONE]\r\r", true});
    // A CRLF split between its CR and LF, ending a line that is not the end line.
    CHECK(relay("data: [DONE] x\r\ndata: [DONE]\r\n\r\n", {15}) ==
          std::pair<std::string, bool>{"data: [DONE] x\r\ndata: [DONE]\r\n\r\n", true});
  }

  TEST_CASE("a body that ends on the end line without its line ending ends the answer; any other end does not") {
    const auto at_body_end = [](const std::string& stream) {
      StreamEnd end;
      std::string bytes = stream;
      end.cut(bytes);
      end.finish(bytes);
      return std::pair<std::string, bool>{bytes, end.ended()};
    };
    CHECK(at_body_end(event + "data: [DONE]") == std::pair<std::string, bool>{event + "data: [DONE]\n\n", true});
    CHECK(at_body_end(event + "data:[DONE]") == std::pair<std::string, bool>{event + "data:[DONE]\n\n", true});
    // A lone CR last: the body's end says it was no CRLF.
    CHECK(at_body_end(event + "data: [DONE]\r") == std::pair<std::string, bool>{event + "data: [DONE]\r\r", true});
    CHECK(at_body_end(event + "data: [DONE]\n") == std::pair<std::string, bool>{event + "data: [DONE]\n\n", true});
    for (const std::string& cut_short : {event, event + "data: [DO", event + "data: [DONE] x", event + ": data: [DONE]",
                                         event + "data: {\"choices\":[]}\r", std::string(100, 'x') + "data: [DONE]"}) {
      CHECK(at_body_end(cut_short) == std::pair<std::string, bool>{cut_short, false});
    }
    // Fed in pieces, the end line's last bytes the last piece.
    StreamEnd end;
    std::string first = event + "data: [DO";
    std::string last = "NE]";
    end.cut(first);
    end.cut(last);
    CHECK_FALSE(end.ended());
    end.finish(last);
    CHECK(last == "NE]\n\n");
    CHECK(end.ended());
  }

  TEST_CASE("text that only looks like the end is relayed whole") {
    for (const std::string& stream :
         {event + "data: [DONE] \n\n", event + " data: [DONE]\n\n", event + "data: [DONE]", event + ": data: [DONE]\n\n",
          event + "xdata: [DONE]\n\n", std::string(R"(data: {"choices":[{"delta":{"content":"data: [DONE]\n\n"}}]})" "\n\n"),
          std::string(100, 'x') + "data: [DONE]\n\n", event + "data: [DONE] \r\r", std::string(100, 'x') + "data: [DONE]\r\r",
          event + "data: [DONE]x\r\r"}) {
      auto [out, ended] = relay(stream, {stream.size() / 2});
      CHECK(out == stream);
      CHECK_FALSE(ended);
    }
  }
}
