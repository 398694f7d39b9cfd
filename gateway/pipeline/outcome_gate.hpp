#pragma once
// Holds the end of an answer until its evidence is written. In strict durability a client receives
// the end of an answer (a whole 2xx response, or the chunk of a stream that completes the event of
// its `data: [DONE]` line, found by StreamEnd as the forwarder finds it) only once the request's
// outcome record is on disk, so that after a crash every answer a client got whole has both of its
// records; where the policy asks for a sealed capture of the exchange, every answer's end
// (failures too) waits for the response's capture to be written.
// OutcomeGate stands between a forwarder and the client's sink: it passes everything through,
// counting and hashing the body bytes the client is sent (and keeping them, for a capture), and
// hands the ending to `hold`, which writes what it must and then releases it, or refuses it with
// an error the client gets instead. Chunks after a stream's ending are not relayed: the record is
// of the answer as it ended. The forwarders complete an end line the backend left without its line
// ending (StreamEnd::finish) before they finish the stream, so that chunk is the ending.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/digest.hpp"
#include "gateway/http/response_sink.hpp"
#include "gateway/openai/stream_end.hpp"

namespace sovereign::gateway {

class OutcomeGate final : public ResponseSink {
 public:
  struct Ending {
    unsigned status = 0;
    // A 2xx response, or a stream that reached `data: [DONE]`: an answer the client gets whole.
    // Otherwise a failure (status >= 400, or a stream that ended without [DONE]).
    bool whole = false;
    std::uint64_t bytes = 0;  // body bytes the client has once the ending is let through
    std::string sha256;       // of those bytes, hex
    std::string body;         // those bytes, when the gate keeps the body
  };
  // `release(nullopt)` lets the ending through; `release(error_json)` replaces it with that error.
  using Release = std::function<void(std::optional<std::string> refusal)>;
  using Hold = std::function<void(Ending, Release)>;

  // keep_body: the body is kept for a sealed capture, and every ending is held, failures too
  // (otherwise failures pass straight through: their records are written afterwards).
  OutcomeGate(ResponseSink& client, Hold hold, bool keep_body)
      : client_(client), hold_(std::move(hold)), keep_body_(keep_body) {}

  void send(HttpResponse response, Completion done) override;
  void start_stream(ResponseHead header, Completion done) override;
  void write_chunk(std::string data, Completion done) override;
  void finish_stream(Completion done) override;
  void on_client_gone(Callback<void()> handler) override { client_.on_client_gone(std::move(handler)); }
  void on_deadline(std::chrono::steady_clock::time_point at, Callback<void()> expired) override {
    client_.on_deadline(at, std::move(expired));
  }
  void on_shutdown(Callback<void()> handler) override { client_.on_shutdown(std::move(handler)); }

  bool held() const { return held_; }        // an ending went through hold
  bool refused() const { return refused_; }  // and was refused: the client got the error instead

  // What the client was actually sent (a refused ending's error in its place): body bytes, and
  // their SHA-256 in hex once the answer is over.
  std::uint64_t bytes_sent() const { return sent_bytes_; }
  const std::string& sha256_sent();
  // The body relayed so far (keep_body), for the capture of an answer that never reached its end.
  std::string take_body() { return std::move(body_); }

 private:
  Ending ending(std::string_view held_data, bool whole);
  void sent(std::string_view data);

  ResponseSink& client_;
  Hold hold_;
  const bool keep_body_;
  unsigned status_ = 0;
  std::uint64_t sent_bytes_ = 0;
  crypto::Sha256Hasher sent_hash_;
  std::optional<std::string> sent_sha256_;
  std::string body_;         // keep_body: every body byte relayed to the gate
  StreamEnd end_;            // where the stream ends: the forwarder's definition of its end line
  bool held_ = false;
  bool refused_ = false;
};

}  // namespace sovereign::gateway
