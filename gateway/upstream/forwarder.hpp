#pragma once
// Forwards one request to a network backend: picks a replica, reuses or opens a connection,
// retries on another replica the failures that cannot have run the request (docs/CONFIG.md,
// "Retries"), and relays the response to the client, streaming SSE chunk by chunk with backpressure.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/container/small_vector.hpp>

#include "crypto/digest.hpp"
#include "gateway/http/response_sink.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/openai/api_error.hpp"
#include "gateway/openai/stream_end.hpp"
#include "gateway/openai/usage_meter.hpp"
#include "gateway/upstream/backend_answer_parser.hpp"
#include "gateway/upstream/connection_pool.hpp"

namespace sovereign::gateway {

// Rewrites response text on its way to the client (token restore, output scanning). Streaming
// calls on_data per upstream chunk then finish; non-streaming calls whole once.
class ResponseTransform {
 public:
  virtual ~ResponseTransform() = default;
  virtual std::string on_data(std::string_view chunk) = 0;
  virtual std::string finish() = 0;
  // The backend's stream broke mid-way: what is left to release, without the unfinished event.
  virtual std::string abandon() = 0;
  virtual std::string whole(std::string body) = 0;
  // The body of an error answer (status >= 400) that may be relayed, checked as an answer is: a JSON
  // body has every string of it through the filters (a backend's error often quotes the request);
  // a body that is not JSON is returned as it is, since it is never relayed (Forwarder::on_whole).
  // failed() and failure() say why an error could not be checked: it is then withheld.
  virtual std::string error_body(std::string body) { return body; }
  // True once the transform refused to go on (fail closed): the stream ends after what it returned,
  // a whole answer is replaced by a 502 response_check_failed saying why (failure()).
  virtual bool failed() const { return false; }
  virtual std::string failure() const { return {}; }
  // True once a stream's answer is complete (`data: [DONE]` came): the forwarder ends the client's
  // answer then and reads no more of the backend's, whose rest is no part of it.
  virtual bool ended() const { return false; }
};

struct UpstreamRequest {
  boost::beast::http::verb method = boost::beast::http::verb::post;
  // The views point into the exchange (and the client's request it holds), which outlives the forwarder.
  std::string_view target;  // path on the backend, e.g. /v1/chat/completions
  std::string_view original_body;             // the client's, which outlives the forwarder
  std::optional<std::string> rewritten_body;  // set when the transforms changed the body
  std::string_view body() const { return rewritten_body ? std::string_view(*rewritten_body) : original_body; }
  std::string_view request_id;
  std::string_view model;   // for error messages
  bool stream = false;
  bool keep_response_body = false;  // a sealed capture of the response was asked for
  bool digest_response = false;     // the audit log records the response's SHA-256
  bool meter_usage = false;         // the tenant has a tokens-per-minute budget to settle
};

struct ForwardOutcome {
  unsigned status = 0;
  const BackendConfig* backend = nullptr;  // the backend that answered (or was last tried)
  const ReplicaState* replica = nullptr;   // network backends only
  std::uint64_t bytes_out = 0;
  std::string error_code;   // empty on success; e.g. upstream_error, egress_refused, backend_unresolved, upstream_died
  bool streamed = false;    // the answer went out as a stream: its head was sent before its end was known
  bool stream_broken = false;  // a started stream ended with an error event: the client connection is closed
  std::string response_sha256;        // of the bytes relayed to the client (audit digest)
  std::string response_body;          // those bytes, only when keep_response_body
  std::optional<TokenUsage> usage;    // tokens the answer used, when meter_usage and it said
};

struct ForwardTarget {
  BackendState* backend;
  ReplicaState* replica;
};
// The replicas a request may go to, in the order tried: a few, kept inside the exchange and the
// forwarder rather than allocated for each request.
using ForwardTargets = boost::container::small_vector<ForwardTarget, 4>;

class Forwarder : public std::enable_shared_from_this<Forwarder> {
 public:
  Forwarder(boost::asio::io_context& io, ConnectionPool& pool, ForwardTargets candidates,
            UpstreamRequest request, std::size_t max_response_bytes, ResponseSink& sink,
            std::unique_ptr<ResponseTransform> transform, Callback<void(ForwardOutcome)> done);

  void start();
  void cancel();  // the client went away: abort the upstream request
  const BackendConfig* backend() const { return outcome_.backend; }  // the one answering (or last tried)
  void expire();  // the attempt's deadline passed: abort it as a timeout
  void shut_down();  // the gateway stops: abort it, telling the client so

  static constexpr std::size_t max_attempts = 3;

 private:
  ApiError timeout_error() const;  // what a timed-out attempt answers (shutdown: 503 shutting_down)
  void try_next();
  void on_connected(boost::system::error_code ec, bool refused);
  void send_request();
  void write_head(std::string& out) const;
  void on_written(boost::system::error_code ec);
  void read_head();
  void on_header(boost::system::error_code ec);
  void read_whole();
  void on_whole(boost::system::error_code ec);
  void start_streaming();
  void read_chunk();
  void on_chunk(boost::system::error_code ec);
  void relay_chunk(std::string data, bool last);
  bool body_ended_in_buffer();
  void fail_before_response(boost::system::error_code ec, bool count_failure);
  void fail_unanswered(boost::system::error_code ec);
  // `before`: what is still to be relayed of the stream ahead of its error event.
  void fail_mid_stream(const std::string& why, std::string before = {});
  // `retry_after`: the backend's Retry-After, passed on to the client (usable_retry_after).
  void respond_error(const ApiError& error, std::string_view retry_after = {});
  std::optional<ApiError> unrelayable() const;
  void finish(unsigned status, std::string error_code = {});
  void release_connection(bool reusable);
  void end_attempt();
  void relayed(std::string_view data);
  bool is_timeout() const;

  boost::asio::io_context& io_;
  ConnectionPool& pool_;
  ForwardTargets candidates_;
  std::size_t next_candidate_ = 0;
  std::size_t attempts_ = 0;
  // No candidate had addresses to dial: each was refused by the egress guard or is unresolved. With
  // one refused, the answer is egress_refused (permanent until a reload), not backend_unresolved.
  bool none_pinned_ = true;
  std::string refusal_;
  std::string unresolved_;  // the candidates skipped because their host names do not resolve, and why
  UpstreamRequest request_;
  std::size_t max_response_bytes_;
  ResponseSink& sink_;
  std::unique_ptr<ResponseTransform> transform_;
  Callback<void(ForwardOutcome)> done_;
  ForwardTarget current_{nullptr, nullptr};
  std::shared_ptr<UpstreamConnection> connection_;
  std::optional<BackendAnswerParser> answer_;  // a new one for each head read (interim heads)
  std::unique_ptr<std::array<char, 16 * 1024>> chunk_buffer_;  // streaming responses only
  std::chrono::steady_clock::time_point started_;   // the first attempt's start: timeout_ms runs from here
  std::chrono::steady_clock::time_point deadline_;  // the current attempt's backend's timeout_ms after started_
  ForwardOutcome outcome_;
  crypto::Sha256Hasher response_hash_;
  std::optional<UsageMeter> usage_meter_;  // when request_.meter_usage
  std::optional<StreamEnd> stream_end_;     // a stream relayed untouched (no transform_), unencoded
  std::string stream_tail_;  // the last bytes of a stream relayed untouched: whether they end an event
  bool cancelled_ = false;
  bool timed_out_ = false;
  bool shutting_down_ = false;
  bool finished_ = false;
  bool stream_started_ = false;
  bool answer_ended_early_ = false;  // `data: [DONE]` came before the end of the backend's body
  bool retried_stale_ = false;
  bool attempt_counted_ = false;
  std::size_t interim_heads_ = 0;  // 1xx heads skipped before this answer's final head
  // Why the request could not be written whole: the backend closed the connection, maybe after it
  // answered (read before the failure is reported).
  std::optional<boost::system::error_code> write_failure_;
  std::optional<ApiError> last_error_;
  unsigned status_ = 0;
};

}  // namespace sovereign::gateway
