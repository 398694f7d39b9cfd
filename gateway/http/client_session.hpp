#pragma once
// One client connection (plain or TLS): reads requests under size limits and deadlines, hands each
// to the RequestHandler, writes what the handler answers, and notices when the client goes away.
#include <atomic>
#include <memory>
#include <optional>
#include <variant>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>

#include "gateway/config/gateway_config.hpp"
#include "gateway/http/request_handler.hpp"
#include "gateway/openai/api_error.hpp"
#include "gateway/net/deadline.hpp"
#include "gateway/net/streams.hpp"

namespace sovereign::gateway {

// Counts open connections and tells idle sessions to close when draining.
class SessionRegistry {
 public:
  std::atomic<std::size_t> open{0};      // connections being served (limits.max_connections)
  std::atomic<std::size_t> refusing{0};  // connections over that limit being told so
  std::atomic<bool> draining{false};
};

class ClientSession : public ResponseSink, public std::enable_shared_from_this<ClientSession> {
 public:
  using PlainStream = TcpStream;
  using TlsStream = gateway::TlsStream;

  // serve: read requests and hand them to the handler. refuse: the connection is over
  // limits.max_connections; read its first request's header (briefly) and answer it 503
  // too_many_connections with Retry-After, without handing anything to the handler.
  enum class Role { serve, refuse };
  static constexpr std::chrono::milliseconds refusal_read_timeout{2000};

  ClientSession(TcpSocket socket, std::shared_ptr<boost::asio::ssl::context> tls, Limits limits,
                RequestHandler& handler, SessionRegistry& registry, unsigned worker, Role role = Role::serve);
  ~ClientSession() override;

  void run();
  // Closes the connection if it is waiting for a request (used when draining).
  void close_if_idle();

  void send(HttpResponse response, Completion done) override;
  void start_stream(ResponseHead header, Completion done) override;
  void write_chunk(std::string data, Completion done) override;
  void finish_stream(Completion done) override;
  void on_client_gone(Callback<void()> handler) override;
  void on_deadline(std::chrono::steady_clock::time_point at, Callback<void()> expired) override;
  void on_shutdown(Callback<void()> handler) override;
  // The drain timeout passed: a request in flight is ended by its shutdown handler; a connection
  // still reading a request is closed.
  void stop_in_flight();

  // Acts on every deadline that has passed, and arms the disconnect watch of a request still in
  // flight (called by the listener's sweep).
  void check_deadlines(Deadline::Clock::time_point now);

 private:
  template <typename F>
  decltype(auto) with_stream(F&& f) {
    return std::visit([&](auto& stream) -> decltype(auto) { return f(stream); }, stream_);
  }
  TcpStream& tcp();

  void on_handshake(boost::system::error_code ec);
  void do_read();
  void wait_for_request();  // keep-alive: the next request's first bytes, within idle_timeout
  void on_request_start(boost::system::error_code ec, std::size_t bytes);
  void read_header();
  void on_header(boost::system::error_code ec);
  void read_body();
  void on_body(boost::system::error_code ec);
  void reject_malformed_body(boost::system::error_code ec);
  void finish_body();
  void end_close_delimited(Completion done);
  void dispatch();
  void on_complete(bool keep_alive);
  // What the HTTP layer refuses: a header it will not read on (too large, too slow, malformed),
  // which never became a request; a request (its body, its form); or a request while no connection
  // is free, which may be retried.
  enum class Refusal { header, request, busy };
  void reject(const ApiError& error, Refusal refusal = Refusal::request);
  void record_rejection(std::string_view request_id, unsigned status, std::string_view error_code,
                        std::string_view answer_body, bool taken, bool was_request);
  std::chrono::steady_clock::duration first_read_timeout() const;
  void watch_for_disconnect();
  bool client_hung_up();  // on a readable socket: the client closed or shut down its side
  void stop_watching();
  void close();
  void linger_close();
  void arm_read_deadline(std::chrono::steady_clock::duration timeout);
  void arm_write_deadline() { write_deadline_.expires_after(limits_.idle_timeout); }
  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }

  std::variant<PlainStream, TlsStream> stream_;
  Limits limits_;
  RequestHandler& handler_;
  SessionRegistry& registry_;
  ConnectionInfo info_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser<boost::beast::http::string_body>> parser_;
  HttpRequest request_;
  std::string write_buffer_;  // the response being written, serialised; reused across requests
  std::optional<boost::beast::http::response<boost::beast::http::empty_body, Fields>> stream_header_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body, Fields>> stream_serializer_;
  std::string chunk_;
  Callback<void()> gone_handler_;
  Callback<void()> shutdown_handler_;
  Deadline read_deadline_;      // the next request must start (idle), its header and body must arrive
  Deadline write_deadline_;     // the client must take what is being written
  Deadline response_deadline_;  // set by the request logic, e.g. the backend's timeout
  Callback<void()> on_response_deadline_;
  bool read_timed_out_ = false;
  std::uint64_t watch_generation_ = 0;
  std::string linger_buffer_;
  std::size_t lingered_bytes_ = 0;
  static constexpr std::chrono::milliseconds linger_timeout{2000};
  static constexpr std::size_t max_linger_bytes = 1024 * 1024;
  static constexpr std::size_t read_buffer_bytes = 16 * 1024;
  static constexpr std::size_t reused_body_bytes = 64 * 1024;  // kept between requests; larger bodies are freed
  bool watching_ = false;
  bool in_flight_ = false;    // a request has been dispatched and not completed
  bool watch_armed_ = false;  // the disconnect watch was armed for the request in flight
  bool idle_ = false;
  bool keep_alive_ = true;
  bool answering_head_ = false;  // the response is to a HEAD request: its body is not sent
  bool close_delimited_ = false;  // the stream being sent ends with the connection (an HTTP/1.0 client)
  const Role role_;
  std::size_t requests_served_ = 0;
  Deadline::Clock::time_point request_started_{};  // the current request's first read (coarse clock)
  std::size_t header_fields_ = 0;  // fields of a chunked request's header section (trailers would add more)
};

}  // namespace sovereign::gateway
