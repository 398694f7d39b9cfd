#pragma once
// Serves one request from the built-in inference engine (backend type: local): submits it to the
// engine's scheduler, and turns the engine's token stream into OpenAI responses — a whole
// chat.completion / text_completion, or chat.completion.chunk server-sent events — written through
// the same ResponseSink and ResponseTransform as a network backend's answer.
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "accel/compute/engine.hpp"
#include "gateway/openai/request_body.hpp"
#include "gateway/upstream/forwarder.hpp"

namespace sovereign::gateway {

class LocalForwarder : public std::enable_shared_from_this<LocalForwarder> {
 public:
  LocalForwarder(boost::asio::io_context& io, std::shared_ptr<accel::Engine> engine, const BackendConfig& backend,
                 const DecodedRequest& request, std::string request_id, bool keep_response_body,
                 bool digest_response, ResponseSink& sink,
                 std::unique_ptr<ResponseTransform> transform, Callback<void(ForwardOutcome)> done);

  void start();
  void cancel();
  void shut_down();  // the gateway stops (drain timeout): generation ends and the client is told why

  // A client that reads slower than the engine writes may fall this far behind before it is cut off.
  static constexpr std::size_t max_buffered_bytes = 4 * 1024 * 1024;

 private:
  void on_text(std::string text);
  void on_finish(accel::FinishReason reason, accel::Usage usage);
  void pump();
  // A streamed chunk as OpenAI shapes it. Chat: the first carries the role (`delta: {"role":
  // "assistant", "content": ""}`), each next one text (`delta: {"content": ...}`), the last the
  // finish_reason with an empty delta (`{}`). A completion's chunks carry `text` ("" in the last).
  enum class ChunkKind { first, text, last };
  std::string chunk_event(ChunkKind kind, const std::string& text, const char* finish_reason) const;
  std::string usage_event(const accel::Usage& usage) const;
  std::string response_id() const;
  boost::json::object event_head() const;  // id, object, created, model of a streamed chunk
  std::string whole_body(const char* finish_reason, const accel::Usage& usage) const;
  void respond_error(const ApiError& error);
  ApiError generation_error() const;
  void relay(std::string data);
  void finish(unsigned status, std::string error_code = {});

  boost::asio::io_context& io_;
  std::shared_ptr<accel::Engine> engine_;
  const BackendConfig& backend_;
  const DecodedRequest& request_;
  std::string request_id_;
  std::int64_t created_;
  ResponseSink& sink_;
  std::unique_ptr<ResponseTransform> transform_;
  Callback<void(ForwardOutcome)> done_;
  std::shared_ptr<accel::GenerationHandle> handle_;
  ForwardOutcome outcome_;
  crypto::Sha256Hasher response_hash_;
  bool keep_response_body_;
  bool digest_response_;
  std::string text_;             // whole answer (non-streaming)
  std::deque<std::string> queue_;  // events waiting for the client (streaming)
  std::size_t queued_bytes_ = 0;
  std::uint64_t text_events_ = 0;  // pieces of text the engine generated, about one token each
  bool writing_ = false;
  bool engine_done_ = false;
  bool stream_open_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool shutting_down_ = false;
};

}  // namespace sovereign::gateway
