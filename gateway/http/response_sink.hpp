#pragma once
// How request logic answers a client without touching its socket: a whole response, or a
// streamed one (header, chunks, end). Every completion reports whether the client is still there.
#include <chrono>
#include "gateway/memory/callback.hpp"
#include <string>

#include "gateway/http/messages.hpp"

namespace sovereign::gateway {

using Completion = Callback<void(bool client_ok)>;

class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void send(HttpResponse response, Completion done) = 0;
  // Streaming: a chunked response. Chunks are written one at a time: the next write waits for the
  // previous completion, which is the backpressure that keeps a slow client from buffering memory.
  virtual void start_stream(ResponseHead header, Completion done) = 0;
  virtual void write_chunk(std::string data, Completion done) = 0;
  virtual void finish_stream(Completion done) = 0;
  // Called once if the client goes away while the response is being produced.
  virtual void on_client_gone(Callback<void()> handler) = 0;
  // Called once if `at` passes before the response is complete; a later call replaces the
  // deadline. Checked by the connection's periodic sweep, so it may fire up to sweep_interval late.
  virtual void on_deadline(std::chrono::steady_clock::time_point at, Callback<void()> expired) = 0;
  // Called once if the gateway stops before the response is complete (limits.drain_timeout_ms
  // passed): the handler ends the response with an error the client can read, and records it.
  virtual void on_shutdown(Callback<void()> handler) = 0;
};

}  // namespace sovereign::gateway
