// OutcomeGate: what reaches the client, and when, for whole and streamed answers.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "crypto/digest.hpp"
#include "gateway/pipeline/outcome_gate.hpp"

using namespace sovereign::gateway;
namespace http = boost::beast::http;

namespace {

// The client's side: records every call, completes each write at once.
struct RecordingSink final : ResponseSink {
  std::vector<std::string> calls;
  unsigned status = 0;
  std::string body;
  void send(HttpResponse response, Completion done) override {
    status = response.result_int();
    body = response.body();
    calls.push_back("send " + std::to_string(status));
    done(true);
  }
  void start_stream(ResponseHead header, Completion done) override {
    calls.push_back("start " + std::to_string(header.result_int()));
    done(true);
  }
  void write_chunk(std::string data, Completion done) override {
    calls.push_back("chunk " + data);
    done(true);
  }
  void finish_stream(Completion done) override {
    calls.push_back("finish");
    done(true);
  }
  void on_client_gone(Callback<void()>) override {}
  void on_deadline(std::chrono::steady_clock::time_point, Callback<void()>) override {}
  void on_shutdown(Callback<void()>) override {}
};

// A hold that keeps the ending until the test releases it.
struct Holder {
  std::vector<OutcomeGate::Ending> endings;
  OutcomeGate::Release release;
  OutcomeGate::Hold hold() {
    return [this](OutcomeGate::Ending ending, OutcomeGate::Release r) {
      endings.push_back(std::move(ending));
      release = std::move(r);
    };
  }
};

HttpResponse answer(http::status status, std::string body) {
  HttpResponse response{status, 11};
  response.set("X-Request-Id", "req-1");
  response.body() = std::move(body);
  return response;
}

ResponseHead ok_head() {
  ResponseHead head;
  head.result(http::status::ok);
  return head;
}

std::string sha256_hex(std::string_view text) { return sovereign::crypto::to_hex(sovereign::crypto::sha256(text)); }

}  // namespace

TEST_SUITE("outcome gate") {
  TEST_CASE("a whole 2xx answer waits for its outcome record; errors pass straight through") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), false);
    bool completed = false;
    gate.send(answer(http::status::ok, R"({"choices":[]})"), [&](bool ok) { completed = ok; });
    CHECK(client.calls.empty());  // held
    REQUIRE(holder.endings.size() == 1);
    CHECK(holder.endings[0].status == 200);
    CHECK(holder.endings[0].bytes == 14);
    CHECK(holder.endings[0].sha256 == sha256_hex(R"({"choices":[]})"));
    CHECK(gate.held());
    holder.release(std::nullopt);
    CHECK(client.calls == std::vector<std::string>{"send 200"});
    CHECK(completed);
    CHECK_FALSE(gate.refused());

    RecordingSink errors;
    Holder untouched;
    OutcomeGate error_gate(errors, untouched.hold(), false);
    error_gate.send(answer(http::status::bad_gateway, "{}"), [](bool) {});
    CHECK(errors.calls == std::vector<std::string>{"send 502"});
    CHECK(untouched.endings.empty());
    CHECK_FALSE(error_gate.held());
    // What passed through is what the outcome record, written afterwards, digests.
    CHECK(error_gate.bytes_sent() == 2);
    CHECK(error_gate.sha256_sent() == sha256_hex("{}"));
  }

  TEST_CASE("when the log refuses the outcome, the client gets 503 with the reason instead of the answer") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), false);
    gate.send(answer(http::status::ok, "secret answer"), [](bool) {});
    holder.release(std::string(R"({"error":{"code":"audit_unavailable"}})"));
    CHECK(client.status == 503);
    CHECK(client.body == R"({"error":{"code":"audit_unavailable"}})");
    CHECK(gate.refused());
    // The totals are of what the client got: the error, not the answer it replaced.
    CHECK(gate.bytes_sent() == client.body.size());
    CHECK(gate.sha256_sent() == sha256_hex(client.body));
  }

  TEST_CASE("a stream is held at the chunk that carries [DONE], even when the marker is split") {
    for (const auto& pieces : std::vector<std::vector<std::string>>{
             {"data: {\"a\":1}\n\n", "data: {\"b\":2}\n\ndata: [DONE]\n\n"},
             {"data: {\"a\":1}\n\ndata: [DO", "NE]\n\n"}}) {
      RecordingSink client;
      Holder holder;
      OutcomeGate gate(client, holder.hold(), false);
      gate.start_stream(ok_head(), [](bool) {});
      gate.write_chunk(pieces[0], [](bool) {});
      CHECK(client.calls.size() == 2);  // start and the first chunk went through
      CHECK(holder.endings.empty());
      gate.write_chunk(pieces[1], [](bool) {});
      REQUIRE(holder.endings.size() == 1);
      CHECK(client.calls.size() == 2);  // the ending waits
      CHECK(holder.endings[0].bytes == pieces[0].size() + pieces[1].size());
      CHECK(holder.endings[0].sha256 == sha256_hex(pieces[0] + pieces[1]));
      holder.release(std::nullopt);
      gate.finish_stream([](bool) {});
      CHECK(client.calls.back() == "finish");
      CHECK(client.calls.at(2) == "chunk " + pieces[1]);
    }
  }

  TEST_CASE("only a line of its own ends a stream; the same words inside an event's text do not") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), false);
    gate.start_stream(ok_head(), [](bool) {});
    const std::string about = "data: {\"content\":\"streams end with data: [DONE] and\"}\n\n";
    gate.write_chunk(about, [](bool) {});
    CHECK(holder.endings.empty());
    CHECK(client.calls.back() == "chunk " + about);
    gate.write_chunk("data: [DONE]\n\n", [](bool) {});
    REQUIRE(holder.endings.size() == 1);
    CHECK(holder.endings[0].sha256 == sha256_hex(about + "data: [DONE]\n\n"));
    // The first line of a stream counts too.
    RecordingSink other;
    Holder other_holder;
    OutcomeGate first(other, other_holder.hold(), false);
    first.start_stream(ok_head(), [](bool) {});
    first.write_chunk("data: [DONE]\n\n", [](bool) {});
    CHECK(other_holder.endings.size() == 1);
    // The space after "data:" is optional.
    RecordingSink terse;
    Holder terse_holder;
    OutcomeGate without_space(terse, terse_holder.hold(), false);
    without_space.start_stream(ok_head(), [](bool) {});
    without_space.write_chunk("data:{\"x\":1}\n\ndata:[DO", [](bool) {});
    CHECK(terse_holder.endings.empty());
    without_space.write_chunk("NE]\n\n", [](bool) {});
    CHECK(terse_holder.endings.size() == 1);
  }

  TEST_CASE("an end line whose line ending comes in a later chunk is held there, and the client gets the whole event") {
    // The forwarder relays `data: [DONE]` as the backend's read ended it, then the line ending and
    // blank line it adds when the body ends: the ending is that second chunk, never dropped.
    for (const auto& pieces : std::vector<std::vector<std::string>>{
             {"data: {\"a\":1}\n\ndata: [DONE]", "\n\n"},
             {"data: {\"a\":1}\r\n\r\ndata:[DONE]", "\r\n\r\n"},
             {"data: {\"a\":1}\r\rdata: [DONE]\r", "\r"}}) {
      RecordingSink client;
      Holder holder;
      OutcomeGate gate(client, holder.hold(), false);
      gate.start_stream(ok_head(), [](bool) {});
      gate.write_chunk(pieces[0], [](bool) {});
      CHECK(holder.endings.empty());
      CHECK(client.calls.back() == "chunk " + pieces[0]);
      bool completed = false;
      gate.write_chunk(pieces[1], [&](bool ok) { completed = ok; });
      REQUIRE(holder.endings.size() == 1);
      CHECK(holder.endings[0].whole);
      CHECK(holder.endings[0].sha256 == sha256_hex(pieces[0] + pieces[1]));
      holder.release(std::nullopt);
      CHECK(completed);
      CHECK(client.calls.back() == "chunk " + pieces[1]);
      CHECK(gate.bytes_sent() == pieces[0].size() + pieces[1].size());
    }
  }

  TEST_CASE("the gate's end line is the forwarder's: text after [DONE] on its line, or a second space, ends nothing") {
    for (const std::string line : {"data: [DONE] x\n\n", "data:  [DONE]\n\n", "data: [DONE]x\n\n", " data: [DONE]\n\n"}) {
      RecordingSink client;
      Holder holder;
      OutcomeGate gate(client, holder.hold(), false);
      gate.start_stream(ok_head(), [](bool) {});
      gate.write_chunk(line, [](bool) {});
      CHECK_MESSAGE(holder.endings.empty(), line);
      CHECK(client.calls.back() == "chunk " + line);
      gate.write_chunk("data: [DONE]\n\n", [](bool) {});
      CHECK(holder.endings.size() == 1);
    }
  }

  TEST_CASE("what a backend sends after the stream's end is not relayed: the record is of the answer as it ended") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), false);
    gate.start_stream(ok_head(), [](bool) {});
    const std::string ending = "data: {\"x\":1}\n\ndata: [DONE]\n\n";
    gate.write_chunk(ending, [](bool) {});
    holder.release(std::nullopt);
    bool completed = false;
    gate.write_chunk("data: {\"after\":1}\n\n", [&](bool ok) { completed = ok; });
    CHECK(completed);
    CHECK(client.calls.back() == "chunk " + ending);
    REQUIRE(holder.endings.size() == 1);
    CHECK(holder.endings[0].bytes == ending.size());
  }

  TEST_CASE("a refused stream ends with an error event where [DONE] would have been") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), false);
    gate.start_stream(ok_head(), [](bool) {});
    gate.write_chunk("data: {\"x\":1}\n\ndata: [DONE]\n\n", [](bool) {});
    holder.release(std::string(R"({"error":{"code":"audit_unavailable"}})"));
    CHECK(client.calls.back() == "chunk data: {\"error\":{\"code\":\"audit_unavailable\"}}\n\n");
    CHECK(gate.refused());
  }

  TEST_CASE("with a capture to write, failures are held too, and the ending carries the body the client gets") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), true);
    gate.send(answer(http::status::bad_gateway, R"({"error":{"code":"upstream_error"}})"), [](bool) {});
    CHECK(client.calls.empty());
    REQUIRE(holder.endings.size() == 1);
    CHECK(holder.endings[0].status == 502);
    CHECK_FALSE(holder.endings[0].whole);
    CHECK(holder.endings[0].body == R"({"error":{"code":"upstream_error"}})");
    holder.release(std::nullopt);
    CHECK(client.calls == std::vector<std::string>{"send 502"});
    CHECK(gate.sha256_sent() == sha256_hex(R"({"error":{"code":"upstream_error"}})"));

    RecordingSink whole_client;
    Holder whole_holder;
    OutcomeGate whole(whole_client, whole_holder.hold(), true);
    whole.send(answer(http::status::ok, "the answer"), [](bool) {});
    REQUIRE(whole_holder.endings.size() == 1);
    CHECK(whole_holder.endings[0].whole);
    CHECK(whole_holder.endings[0].body == "the answer");
    CHECK(whole_holder.endings[0].sha256 == sha256_hex("the answer"));
  }

  TEST_CASE("with a capture to write, a stream's ending carries every chunk, and a stream without [DONE] is held at its end") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), true);
    gate.start_stream(ok_head(), [](bool) {});
    gate.write_chunk("data: {\"a\":1}\n\n", [](bool) {});
    gate.write_chunk("data: {\"b\":2}\n\ndata: [DONE]\n\n", [](bool) {});
    REQUIRE(holder.endings.size() == 1);
    CHECK(holder.endings[0].whole);
    CHECK(holder.endings[0].body == "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n");
    holder.release(std::nullopt);
    gate.finish_stream([](bool) {});
    CHECK(holder.endings.size() == 1);  // finished after a held ending: nothing more to hold
    CHECK(client.calls.back() == "finish");

    // A stream that broke (an error event, no [DONE]): its end waits for the capture, and a refusal
    // adds the error event before the end.
    RecordingSink broken_client;
    Holder broken_holder;
    OutcomeGate broken(broken_client, broken_holder.hold(), true);
    broken.start_stream(ok_head(), [](bool) {});
    broken.write_chunk("data: {\"a\":1}\n\ndata: {\"error\":{}}\n\n", [](bool) {});
    CHECK(broken_holder.endings.empty());
    bool finished = false;
    broken.finish_stream([&](bool ok) { finished = ok; });
    REQUIRE(broken_holder.endings.size() == 1);
    CHECK_FALSE(broken_holder.endings[0].whole);
    CHECK(broken_holder.endings[0].body == "data: {\"a\":1}\n\ndata: {\"error\":{}}\n\n");
    CHECK_FALSE(finished);
    broken_holder.release(std::string(R"({"error":{"code":"capture_unavailable"}})"));
    CHECK(finished);
    CHECK(broken_client.calls.at(broken_client.calls.size() - 2) ==
          "chunk data: {\"error\":{\"code\":\"capture_unavailable\"}}\n\n");
    CHECK(broken_client.calls.back() == "finish");
    CHECK(broken.refused());
    CHECK(broken.sha256_sent() == sha256_hex("data: {\"a\":1}\n\ndata: {\"error\":{}}\n\n"
                                             "data: {\"error\":{\"code\":\"capture_unavailable\"}}\n\n"));
  }

  TEST_CASE("an answer that never reaches its end leaves its relayed body for the capture") {
    RecordingSink client;
    Holder holder;
    OutcomeGate gate(client, holder.hold(), true);
    gate.start_stream(ok_head(), [](bool) {});
    gate.write_chunk("data: {\"a\":1}\n\n", [](bool) {});
    CHECK_FALSE(gate.held());
    CHECK(gate.take_body() == "data: {\"a\":1}\n\n");
  }
}
