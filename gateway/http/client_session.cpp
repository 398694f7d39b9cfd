#include "gateway/http/client_session.hpp"

#include <poll.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "crypto/tls_context.hpp"
#include "gateway/http/framing.hpp"
#include "gateway/http/parse_buffered.hpp"
#include "gateway/http/request_id.hpp"
#include "gateway/http/request_target.hpp"
#include "gateway/http/serialize.hpp"
#include "gateway/net/eager_write.hpp"
#include "gateway/openai/api_error.hpp"

namespace sovereign::gateway {
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace {

std::variant<ClientSession::PlainStream, ClientSession::TlsStream> make_stream(
    TcpSocket socket, const std::shared_ptr<boost::asio::ssl::context>& tls) {
  if (tls) return std::variant<ClientSession::PlainStream, ClientSession::TlsStream>(
               std::in_place_type<ClientSession::TlsStream>, std::move(socket), *tls);
  return std::variant<ClientSession::PlainStream, ClientSession::TlsStream>(std::in_place_type<ClientSession::PlainStream>,
                                                                            std::move(socket));
}

template <typename Message>
std::size_t field_count(const Message& message) {
  return static_cast<std::size_t>(std::distance(message.begin(), message.end()));
}

// RFC 9112 3.2: an HTTP/1.1 request has exactly one Host header (a proxy and the gateway could
// otherwise read different ones), an HTTP/1.0 request at most one.
// RFC 9112 6.1 and 6.3: a request's body is framed by a Transfer-Encoding whose final coding is
// chunked, or by Content-Length, never both. The gateway decodes no transfer coding but chunked,
// so any other Transfer-Encoding is refused: read as a request without a body, its body bytes
// would be parsed as the next request (request smuggling). Returns why the head is refused, or nothing.
template <typename Message>
std::optional<std::string> refused_request_head(const Message& request) {
  const auto hosts = request.count(http::field::host);
  if (hosts > 1) return std::string("A request may carry only one Host header.");
  if (hosts == 0 && request.version() >= 11) return std::string("An HTTP/1.1 request must carry a Host header.");
  const std::string value = transfer_codings(request);
  if (value.empty()) return std::nullopt;
  if (request.count(http::field::content_length) != 0)
    return "A request may not carry both Transfer-Encoding and Content-Length headers.";
  if (!decodable_transfer_codings(value))
    return "Transfer-Encoding '" + value + "' is not supported: send 'Transfer-Encoding: chunked' or Content-Length.";
  return std::nullopt;
}

// The size of a parsed request head as sent ("METHOD TARGET HTTP/1.1\r\n", "Name: value\r\n" each,
// "\r\n"). Beast applies header_limit to what one parse call sees, so a head that arrives in one
// segment can pass it at up to twice the limit: the limit is checked again on the whole head.
template <typename Message>
std::size_t head_bytes(const Message& request) {
  std::size_t bytes = request.method_string().size() + request.target().size() + 12;
  for (const auto& field : request) bytes += field.name_string().size() + field.value().size() + 4;
  return bytes;
}

std::string remote_of(const TcpSocket& socket) {
  boost::system::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : endpoint.address().to_string();
}

}  // namespace

ClientSession::ClientSession(TcpSocket socket, std::shared_ptr<boost::asio::ssl::context> tls,
                             Limits limits, RequestHandler& handler, SessionRegistry& registry, unsigned worker,
                             Role role)
    : stream_(make_stream(std::move(socket), tls)),
      limits_(limits),
      handler_(handler),
      registry_(registry),
      role_(role) {
  info_.remote_address = remote_of(tcp().socket());
  info_.worker = worker;
  // A fresh flat_buffer reads 512 bytes at a time; a typical chat request then costs several
  // recvmsg calls. Reserving up front lets one read take a whole request.
  buffer_.reserve(read_buffer_bytes);
  (role_ == Role::serve ? registry_.open : registry_.refusing).fetch_add(1, std::memory_order_relaxed);
}

ClientSession::~ClientSession() {
  (role_ == Role::serve ? registry_.open : registry_.refusing).fetch_sub(1, std::memory_order_relaxed);
}

std::chrono::steady_clock::duration ClientSession::first_read_timeout() const {
  if (role_ == Role::refuse) return std::min<std::chrono::steady_clock::duration>(limits_.header_timeout, refusal_read_timeout);
  return limits_.header_timeout;
}

TcpStream& ClientSession::tcp() {
  if (auto* plain = std::get_if<PlainStream>(&stream_)) return *plain;
  return std::get<TlsStream>(stream_).next_layer();
}

void ClientSession::run() {
  boost::system::error_code ignored;
  tcp().socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) return do_read();
  tcp().expires_after(first_read_timeout());
  tls->async_handshake(boost::asio::ssl::stream_base::server,
                       [self = shared_from_this()](boost::system::error_code ec) { self->on_handshake(ec); });
}

void ClientSession::on_handshake(boost::system::error_code ec) {
  if (ec) return close();
  tcp().expires_never();
  info_.client_certificate_cn = crypto::peer_common_name(std::get<TlsStream>(stream_).native_handle());
  do_read();
}

void ClientSession::arm_read_deadline(std::chrono::steady_clock::duration timeout) {
  read_timed_out_ = false;
  read_deadline_.expires_after(timeout);
}

// A passed read deadline cancels the read, leaving the socket open so that a request that stalled
// half-way can still be answered 408 (tcp_stream's own expiry would close it). A passed write
// deadline closes the connection: the client does not take what it is sent.
void ClientSession::check_deadlines(Deadline::Clock::time_point now) {
  boost::system::error_code ignored;
  if (read_deadline_.passed(now)) {
    read_deadline_.clear();
    read_timed_out_ = true;
    tcp().socket().cancel(ignored);
  }
  if (write_deadline_.passed(now)) {
    write_deadline_.clear();
    keep_alive_ = false;
    tcp().socket().close(ignored);
  }
  if (in_flight_ && !watch_armed_) watch_for_disconnect();
  if (response_deadline_.passed(now)) {
    response_deadline_.clear();
    auto expired = std::move(on_response_deadline_);
    if (expired) expired();
  }
}

void ClientSession::on_deadline(std::chrono::steady_clock::time_point at, Callback<void()> expired) {
  response_deadline_.expires_at(at);
  on_response_deadline_ = std::move(expired);
}

void ClientSession::do_read() {
  if (registry_.draining.load(std::memory_order_relaxed) && requests_served_ > 0) return close();
  // The last request's message is parsed into again: its body keeps its buffer (up to
  // reused_body_bytes), so a keep-alive client's next body is read without an allocation. Its
  // exchange is over (this runs after on_complete), so nothing refers to it any more.
  request_.clear();
  request_.body().clear();
  if (request_.body().capacity() > reused_body_bytes) request_.body().shrink_to_fit();
  parser_.emplace(std::move(request_));
  parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
  parser_->body_limit(limits_.max_body_bytes);
  idle_ = true;
  tcp().expires_never();
  // The header deadline runs from a request's first byte: on a keep-alive connection that is not
  // yet here, so the wait for it is bounded by idle_timeout and the header's by header_timeout.
  if (requests_served_ > 0 && buffer_.size() == 0) return wait_for_request();
  request_started_ = Deadline::coarse_now();
  arm_read_deadline(requests_served_ == 0 ? first_read_timeout() : limits_.header_timeout);
  read_header();
}

void ClientSession::wait_for_request() {
  arm_read_deadline(limits_.idle_timeout);
  with_stream([&](auto& stream) {
    stream.async_read_some(buffer_.prepare(read_buffer_bytes),
                           [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                             self->on_request_start(ec, n);
                           });
  });
}

void ClientSession::on_request_start(boost::system::error_code ec, std::size_t bytes) {
  buffer_.commit(bytes);
  if (ec) return on_header(ec);
  idle_ = false;
  request_started_ = Deadline::coarse_now();
  arm_read_deadline(limits_.header_timeout);
  // Usually the whole header came in this read: parsed here, it needs no further asynchronous step.
  parse_buffered_header(*parser_, buffer_, ec);
  if (ec || parser_->is_header_done()) return on_header(ec);
  read_header();
}

void ClientSession::read_header() {
  with_stream([&](auto& stream) {
    http::async_read_header(stream, buffer_, *parser_,
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_header(ec); });
  });
}

void ClientSession::on_header(boost::system::error_code ec) {
  idle_ = false;
  read_deadline_.clear();
  if (ec == boost::asio::error::operation_aborted && read_timed_out_) {
    // Silence on an idle keep-alive connection is normal: just close. A request that started
    // arriving and stalled gets 408, over TLS too: the cancelled read leaves any part of a record it
    // had received inside OpenSSL's read side, and a write is a record of its own.
    if (buffer_.size() == 0) return close();
    return reject(api_errors::request_timeout(), Refusal::header);
  }
  if (ec == http::error::header_limit)
    return reject(api_errors::header_too_large(limits_.max_header_bytes), Refusal::header);
  if (ec == http::error::body_limit)
    return reject(api_errors::request_too_large(limits_.max_body_bytes));
  if (ec == http::error::end_of_stream || ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset ||
      ec == boost::asio::error::operation_aborted || (registry_.draining.load(std::memory_order_relaxed) && ec))
    return close();
  if (ec) {
    if (!malformed(ec)) return close();
    return reject(api_errors::invalid_request("Malformed HTTP request: " + ec.message() + "."), Refusal::header);
  }
  if (role_ == Role::refuse)
    return reject(api_errors::too_many_connections(limits_.max_connections), Refusal::busy);
  if (head_bytes(parser_->get()) > limits_.max_header_bytes)
    return reject(api_errors::header_too_large(limits_.max_header_bytes), Refusal::header);
  if (auto refused = refused_request_head(parser_->get()))
    return reject(api_errors::invalid_request(std::move(*refused)));
  // The routes match origin-form paths; an absolute-form target is the same request (RFC 9112 3.2.2).
  if (is_absolute_form(parser_->get().target())) {
    std::string why;
    auto origin = origin_form(parser_->get().target(), why);
    if (!origin) return reject(api_errors::invalid_request(std::move(why)));
    parser_->get().target(*origin);
  }
  header_fields_ = parser_->chunked() ? field_count(parser_->get()) : 0;
  parse_buffered(*parser_, buffer_, ec);
  if (ec == http::error::body_limit)
    return reject(api_errors::request_too_large(limits_.max_body_bytes));
  if (ec) return reject_malformed_body(ec);
  if (parser_->is_done()) return finish_body();
  // curl and many HTTP libraries send "Expect: 100-continue" with larger bodies and wait (curl: one
  // second) for the interim answer before sending the body.
  if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    tcp().expires_after(limits_.body_timeout);
    return with_stream([&](auto& stream) {
      boost::asio::async_write(stream, boost::asio::buffer(continue_line.data(), continue_line.size()),
                               [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                                 self->tcp().expires_never();
                                 if (ec) return self->close();
                                 self->read_body();
                               });
    });
  }
  read_body();
}

void ClientSession::read_body() {
  arm_read_deadline(limits_.body_timeout);
  with_stream([&](auto& stream) {
    http::async_read(stream, buffer_, *parser_,
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_body(ec); });
  });
}

void ClientSession::on_body(boost::system::error_code ec) {
  read_deadline_.clear();
  if (ec == boost::asio::error::operation_aborted && read_timed_out_) return reject(api_errors::request_timeout());
  if (ec == http::error::body_limit)
    return reject(api_errors::request_too_large(limits_.max_body_bytes));
  // A parse error gets the same answer whether the bytes came with the header or in a later read.
  if (malformed(ec)) return reject_malformed_body(ec);
  if (ec) return close();
  finish_body();
}

void ClientSession::reject_malformed_body(boost::system::error_code ec) {
  reject(api_errors::invalid_request("Malformed HTTP request body: " + ec.message() + "."));
}

// A chunked body may end with trailer fields, which Beast adds to the request's fields. None is
// accepted: a front proxy that checked the header section would not have seen them (an
// Authorization or X-Data-Class sent as a trailer).
void ClientSession::finish_body() {
  if (parser_->chunked() && field_count(parser_->get()) != header_fields_)
    return reject(api_errors::invalid_request(
        "Trailer fields after a chunked body are not accepted; send every header before the body."));
  dispatch();
}

void ClientSession::dispatch() {
  // The parser's own flag: the message's keep_alive() would parse the Connection field again.
  keep_alive_ = parser_->keep_alive() && !registry_.draining.load(std::memory_order_relaxed);
  request_ = parser_->release();
  parser_.reset();
  answering_head_ = request_.method() == http::verb::head;
  ++requests_served_;
  gone_handler_ = nullptr;
  shutdown_handler_ = nullptr;
  in_flight_ = true;
  watch_armed_ = false;  // the listener's sweep arms it if the request is still in flight then
  handler_.handle(request_, info_, *this, [self = shared_from_this()](bool keep_alive) { self->on_complete(keep_alive); });
}

void ClientSession::on_complete(bool keep_alive) {
  in_flight_ = false;
  stop_watching();
  gone_handler_ = nullptr;
  shutdown_handler_ = nullptr;
  response_deadline_.clear();
  on_response_deadline_ = nullptr;
  stream_serializer_.reset();
  stream_header_.reset();
  if (!keep_alive || !keep_alive_ || registry_.draining.load(std::memory_order_relaxed)) return close();
  // The next request is read after the handlers already queued, not at once: a client that sends
  // its next request as soon as it has the answer has usually sent it by then, so the read finds it
  // rather than coming back empty and waiting for epoll (gateway benchmark, 32 connections: receive
  // calls per request 3.66 -> 2.91, CPU per request about 5% lower in alternating runs).
  boost::asio::post(tcp().get_executor(), [self = shared_from_this()] { self->do_read(); });
}

// Waits for the socket to become readable without consuming anything. The client is gone when
// there is nothing to read (its FIN) or when it has shut down its sending side behind whatever it
// sent last (POLLRDHUP: a TLS client's close_notify arrives just before its FIN); either cancels
// the work done on its behalf. Readable data without a hang-up (a pipelined request) ends the
// watch. Armed by the sweep for requests still in flight a sweep after they started, so the many
// requests that are answered sooner never pay for it (arming re-registers the socket with epoll).
void ClientSession::watch_for_disconnect() {
  watch_armed_ = true;
  watching_ = true;
  auto generation = ++watch_generation_;
  tcp().socket().async_wait(TcpSocket::wait_read,
                            [self = shared_from_this(), generation](boost::system::error_code ec) {
                              if (ec || generation != self->watch_generation_ || !self->watching_) return;
                              self->watching_ = false;
                              if (self->client_hung_up() && self->gone_handler_) {
                                auto handler = std::move(self->gone_handler_);
                                handler();
                              }
                            });
}

bool ClientSession::client_hung_up() {
  boost::system::error_code ignored;
  if (tcp().socket().available(ignored) == 0) return true;
  pollfd state{tcp().socket().native_handle(), POLLRDHUP, 0};
  return ::poll(&state, 1, 0) == 1 && (state.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void ClientSession::stop_watching() {
  if (!watching_) return;
  watching_ = false;
  ++watch_generation_;
  boost::system::error_code ignored;
  tcp().socket().cancel(ignored);
}

void ClientSession::on_client_gone(Callback<void()> handler) { gone_handler_ = std::move(handler); }

void ClientSession::on_shutdown(Callback<void()> handler) { shutdown_handler_ = std::move(handler); }

void ClientSession::stop_in_flight() {
  if (!in_flight_) return close();
  if (auto handler = std::move(shutdown_handler_)) handler();
}

void ClientSession::send(HttpResponse response, Completion done) {
  response.keep_alive(keep_alive_);
  // A response to HEAD has no body, whatever the handler built (RFC 9110 9.3.2): its head says what
  // GET would send (Content-Length), and a body written after it would be read as the next response.
  if (answering_head_) {
    if (!response.has_content_length() && !response.chunked()) response.prepare_payload();
    response.body().clear();
  }
  serialize_into(response, write_buffer_);
  arm_write_deadline();
  with_stream([&](auto& stream) {
    write_eagerly(stream, boost::asio::buffer(write_buffer_),
                      [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec, std::size_t) {
                        self->write_deadline_.clear();
                        if (ec) self->keep_alive_ = false;
                        done(!ec);
                      });
  });
}

// An HTTP/1.0 client cannot read chunked coding (RFC 9112 6.1: it must not be sent one), so its
// stream is close-delimited: no coding, no length, and the connection closed at its end.
void ClientSession::start_stream(ResponseHead header, Completion done) {
  close_delimited_ = request_.version() < 11;
  if (close_delimited_) keep_alive_ = false;
  stream_header_.emplace();
  stream_header_->base() = std::move(header);
  stream_header_->chunked(!close_delimited_);
  stream_header_->keep_alive(keep_alive_);
  stream_serializer_.emplace(*stream_header_);
  arm_write_deadline();
  with_stream([&](auto& stream) {
    http::async_write_header(stream, *stream_serializer_,
                             [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec, std::size_t) {
                               self->write_deadline_.clear();
                               if (ec) self->keep_alive_ = false;
                               done(!ec);
                             });
  });
}

void ClientSession::write_chunk(std::string data, Completion done) {
  chunk_ = std::move(data);
  arm_write_deadline();
  auto written = [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec, std::size_t) {
    self->write_deadline_.clear();
    if (ec) self->keep_alive_ = false;
    done(!ec);
  };
  with_stream([&](auto& stream) {
    if (close_delimited_) return boost::asio::async_write(stream, boost::asio::buffer(chunk_), std::move(written));
    boost::asio::async_write(stream, http::make_chunk(boost::asio::buffer(chunk_)), std::move(written));
  });
}

void ClientSession::finish_stream(Completion done) {
  if (close_delimited_) return end_close_delimited(std::move(done));
  arm_write_deadline();
  with_stream([&](auto& stream) {
    boost::asio::async_write(stream, http::make_chunk_last(),
                             [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec, std::size_t) {
                               self->write_deadline_.clear();
                               if (ec) self->keep_alive_ = false;
                               done(!ec);
                             });
  });
}

// A close-delimited stream ends with the connection (closed once the request completes, as
// keep_alive_ is off). Over TLS the end is first marked with close_notify, without which the client
// could not tell it from a connection cut short; a client that does not answer it is not waited
// for beyond linger_timeout.
void ClientSession::end_close_delimited(Completion done) {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) return boost::asio::post(tcp().get_executor(), [done = std::move(done)] { done(true); });
  tcp().expires_after(linger_timeout);
  tls->async_shutdown([done = std::move(done)](boost::system::error_code) { done(true); });
}

// Answers what the HTTP layer refused and closes; recorded as handled requests are, with an id.
void ClientSession::reject(const ApiError& error, Refusal refusal) {
  keep_alive_ = false;
  answering_head_ = parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head;
  HttpResponse response{error.status, 11};
  response.set(http::field::content_type, "application/json");
  if (refusal == Refusal::busy) response.set(http::field::retry_after, "1");
  std::string request_id = new_request_id();
  response.set("X-Request-Id", request_id);
  response.body() = error.to_json();
  response.prepare_payload();
  std::string answer_body = answering_head_ ? std::string() : response.body();
  send(std::move(response), [self = shared_from_this(), request_id = std::move(request_id), code = error.code,
                             status = static_cast<unsigned>(error.status), answer_body = std::move(answer_body),
                             refusal](bool ok) {
    self->record_rejection(request_id, ok ? status : 499, code, answer_body, ok, refusal != Refusal::header);
    if (!ok) return self->close();
    self->linger_close();
  });
}

void ClientSession::record_rejection(std::string_view request_id, unsigned status, std::string_view error_code,
                                     std::string_view answer_body, bool taken, bool was_request) {
  RejectedRequest rejected;
  rejected.request_id = request_id;
  // The request line is known once parsed, the header perhaps not whole (a Content-Length over the
  // limit is refused at that field).
  if (parser_) {
    rejected.method = parser_->get().method_string();
    rejected.target = parser_->get().target();
    rejected.body_read = parser_->get().body();
  }
  rejected.was_request = was_request && !rejected.method.empty();
  rejected.status = status;
  rejected.error_code = error_code;
  rejected.bytes_out = taken ? answer_body.size() : 0;
  rejected.answer_body = answer_body;
  rejected.duration = Deadline::coarse_now() - request_started_;
  handler_.record_rejection(rejected, info_);
}

// Closing a socket that still has unread request bytes makes the kernel send a reset, which can
// destroy the error response before the client reads it. Like nginx's lingering close: stop
// sending, read and discard what the client is still sending for a short while, then close.
void ClientSession::linger_close() {
  if (is_tls()) return close();
  boost::system::error_code ignored;
  tcp().socket().shutdown(TcpSocket::shutdown_send, ignored);
  tcp().expires_after(linger_timeout);
  linger_buffer_.resize(4096);
  tcp().async_read_some(boost::asio::buffer(linger_buffer_),
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                          self->lingered_bytes_ += n;
                          if (ec || self->lingered_bytes_ > max_linger_bytes) return self->close();
                          self->linger_close();
                        });
}

void ClientSession::close_if_idle() {
  if (idle_) close();
}

void ClientSession::close() {
  read_deadline_.clear();
  write_deadline_.clear();
  response_deadline_.clear();
  boost::system::error_code ignored;
  tcp().socket().shutdown(TcpSocket::shutdown_both, ignored);
  tcp().socket().close(ignored);
}

}  // namespace sovereign::gateway
