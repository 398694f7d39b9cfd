// UsageMeter: the tokens an answer used, from a JSON answer or a stream split anywhere.
#include <doctest/doctest.h>

#include <string>

#include "gateway/openai/usage_meter.hpp"

using sovereign::gateway::UsageMeter;

namespace {

const std::string chunk_text = R"(data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})" "\n\n";
const std::string role_only = R"(data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})" "\n\n";
const std::string stop = R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})" "\n\n";
const std::string usage_chunk = R"(data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}})" "\n\n";
const std::string done = "data: [DONE]\n\n";

}  // namespace

TEST_SUITE("usage") {
  TEST_CASE("a JSON answer's usage: its total, or prompt plus completion") {
    UsageMeter meter(false);
    meter.feed(R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})");
    REQUIRE(meter.result());
    CHECK(meter.result()->tokens == 12);
    CHECK(meter.result()->reported);
    UsageMeter no_total(false);
    no_total.feed(R"({"usage":{"prompt_tokens":5,"completion_tokens":7}})");
    CHECK(no_total.result()->tokens == 12);
  }

  TEST_CASE("answers that say nothing leave the estimate: errors, garbage, negative or missing counts") {
    for (const char* body : {R"({"error":{"message":"no"}})", "not json", R"({"usage":{"total_tokens":-3}})",
                             R"({"usage":null})", R"([1,2])", ""}) {
      UsageMeter meter(false);
      meter.feed(body);
      CHECK_MESSAGE(!meter.result(), body);
    }
  }

  TEST_CASE("an event whose data spans several data lines is read joined, as a client reads it") {
    const std::string usage_over_lines = "data: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":12,\r\n"
                                         "data:\"completion_tokens\":30,\"total_tokens\":42}}\n\n";
    const std::string text_over_lines = "data: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"Hel\"}}]}\n\n";
    const std::string stream = role_only + text_over_lines + stop + usage_over_lines + done;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      UsageMeter meter(true);
      meter.feed(std::string_view(stream).substr(0, cut));
      meter.feed(std::string_view(stream).substr(cut));
      meter.finish();
      REQUIRE(meter.result());
      CHECK(meter.result()->tokens == 42);
      CHECK(meter.result()->reported);
    }
    // Without the usage event, the text event over two lines counts as one chunk of text.
    UsageMeter chunks(true);
    chunks.feed(role_only + text_over_lines + text_over_lines + stop + done);
    chunks.finish();
    REQUIRE(chunks.result());
    CHECK(chunks.result()->tokens == 2);
    CHECK_FALSE(chunks.result()->reported);
    // A stream that ends without the blank line after its last event: that event is read too.
    UsageMeter unended(true);
    unended.feed(role_only + usage_over_lines.substr(0, usage_over_lines.size() - 1));
    unended.finish();
    REQUIRE(unended.result());
    CHECK(unended.result()->tokens == 42);
  }

  TEST_CASE("a stream with a usage chunk reports it, however the bytes are split") {
    const std::string stream = role_only + chunk_text + chunk_text + stop + usage_chunk + done;
    for (std::size_t piece = 1; piece <= stream.size(); piece += 7) {
      UsageMeter meter(true);
      for (std::size_t at = 0; at < stream.size(); at += piece) meter.feed(std::string_view(stream).substr(at, piece));
      REQUIRE(meter.result());
      CHECK(meter.result()->tokens == 42);
      CHECK(meter.result()->reported);
    }
  }

  TEST_CASE("a stream without one counts the chunks that carry text (chat and completions, CRLF lines)") {
    UsageMeter meter(true);
    meter.feed(role_only + chunk_text + chunk_text + chunk_text + stop + done);
    REQUIRE(meter.result());
    CHECK(meter.result()->tokens == 3);
    CHECK_FALSE(meter.result()->reported);
    UsageMeter completions(true);
    completions.feed("data: {\"choices\":[{\"text\":\"a\"}]}\r\n\r\ndata:{\"choices\":[{\"text\":\"b\"}]}\r\n\r\n");
    CHECK(completions.result()->tokens == 2);
    UsageMeter nothing(true);
    nothing.feed(role_only + stop + done);
    CHECK(!nothing.result());
  }

  TEST_CASE("a stream's lines ended by CR or CRLF are read as a client reads them") {
    for (const char* end : {"\r", "\r\n"}) {
      std::string stream = chunk_text + usage_chunk + done;
      std::string written;
      for (char c : stream) written += c == '\n' ? std::string(end) : std::string(1, c);
      UsageMeter meter(true);
      for (std::size_t at = 0; at < written.size(); at += 7) meter.feed(std::string_view(written).substr(at, 7));
      REQUIRE(meter.result());
      CHECK(meter.result()->tokens == 42);
    }
  }

  TEST_CASE("an overlong stream event is skipped, and the events after it are read") {
    UsageMeter meter(true);
    meter.feed("data: {\"choices\":[{\"text\":\"");
    meter.feed(std::string(UsageMeter::max_event_bytes, 'x'));
    meter.feed("\"}]}\n\n" + chunk_text);
    REQUIRE(meter.result());
    CHECK(meter.result()->tokens == 1);
  }
}
