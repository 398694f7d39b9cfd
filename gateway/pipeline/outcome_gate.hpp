#pragma once
// Strict durability for outcome records: a client receives the end of an answer (a whole 2xx
// response, or the chunk of a stream that carries `data: [DONE]`) only once the request's outcome
// record is on disk, so that after a crash every answer a client got whole has both of its records.
// OutcomeGate stands between a forwarder and the client's sink: it passes everything through,
// counting and hashing the body bytes, and hands the ending to `hold`, which makes the outcome
// record durable and then releases it, or refuses it (the log could not be written) with an error
// the client gets instead. Chunks after a stream's ending are not relayed: the record is of the
// answer as it ended.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/digest.hpp"
#include "gateway/http/response_sink.hpp"

namespace sovereign::gateway {

class OutcomeGate final : public ResponseSink {
 public:
  struct Ending {
    unsigned status = 0;
    std::uint64_t bytes = 0;  // body bytes relayed, the ending included
    std::string sha256;       // of those bytes, hex
  };
  // `release(nullopt)` lets the ending through; `release(error_json)` replaces it with that error.
  using Release = std::function<void(std::optional<std::string> refusal)>;
  using Hold = std::function<void(Ending, Release)>;

  OutcomeGate(ResponseSink& client, Hold hold) : client_(client), hold_(std::move(hold)) {}

  void send(HttpResponse response, Completion done) override;
  void start_stream(ResponseHead header, Completion done) override;
  void write_chunk(std::string data, Completion done) override;
  void finish_stream(Completion done) override { client_.finish_stream(std::move(done)); }
  void on_client_gone(std::function<void()> handler) override { client_.on_client_gone(std::move(handler)); }
  void on_deadline(std::chrono::steady_clock::time_point at, std::function<void()> expired) override {
    client_.on_deadline(at, std::move(expired));
  }
  void on_shutdown(std::function<void()> handler) override { client_.on_shutdown(std::move(handler)); }

  bool held() const { return held_; }        // an ending went through hold (its outcome is recorded)
  bool refused() const { return refused_; }  // and the log refused it: the client got 503

 private:
  Ending ending();

  ResponseSink& client_;
  Hold hold_;
  unsigned status_ = 0;
  std::uint64_t bytes_ = 0;
  crypto::Sha256Hasher hash_;
  std::string tail_ = "\n";  // the last bytes of the previous chunk; the stream starts at a line's start
  bool held_ = false;
  bool refused_ = false;
};

}  // namespace sovereign::gateway
