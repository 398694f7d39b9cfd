#include "gateway/upstream/forwarder.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json.hpp>

#include "gateway/http/framing.hpp"
#include "gateway/http/parse_buffered.hpp"
#include "gateway/net/eager_write.hpp"

namespace sovereign::gateway {
namespace http = boost::beast::http;
namespace {

constexpr std::size_t max_upstream_header_bytes = 64 * 1024;
constexpr std::uint64_t max_stream_bytes = 4ull * 1024 * 1024 * 1024;
// After `data: [DONE]`, the most of what has already arrived that is parsed to see the body end.
constexpr std::size_t max_drained_bytes = 64 * 1024;

// The backend's Retry-After when it is one a client can act on: delay-seconds, or an HTTP date in
// the IMF-fixdate form senders must use ("Sun, 06 Nov 1994 08:49:37 GMT"); otherwise empty.
std::string_view usable_retry_after(std::string_view value) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!value.empty() && value.size() <= 10 && std::all_of(value.begin(), value.end(), digit)) return value;
  const auto date_char = [&](char c) {
    return digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ' || c == ',' || c == ':';
  };
  if (value.size() == 29 && value.ends_with(" GMT") && std::all_of(value.begin(), value.end(), date_char)) return value;
  return {};
}

// ": <message>" from an error body: OpenAI's {"error": {"message"}}, TGI's {"error": "..."} or
// vLLM's older {"object": "error", "message"}; or nothing.
std::string upstream_message(const std::string& body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  const auto& object = value.get_object();
  const auto* error = object.if_contains("error");
  const boost::json::object* holder = &object;
  if (error != nullptr && error->is_string()) return ": " + std::string(error->get_string().subview(0, 200));
  if (error != nullptr && error->is_object()) holder = &error->get_object();
  else if (const auto* kind = object.if_contains("object"); kind == nullptr || !kind->is_string() || kind->get_string() != "error")
    return {};
  const auto* message = holder->if_contains("message");
  if (message == nullptr || !message->is_string()) return {};
  return ": " + std::string(message->get_string().subview(0, 200));
}

// Whether a body is an error in OpenAI's shape, {"error": {...}}, which clients read as it is.
bool openai_error_body(const std::string& body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return false;
  const auto* error = value.get_object().if_contains("error");
  return error != nullptr && error->is_object();
}

// What ends the event that relayed stream bytes ending in `tail` broke off in: nothing after a blank
// line, else the line's end and a blank line, so that an error event after it is read as one of its
// own rather than as the rest of the unfinished line (which would hide it from the client).
std::string_view event_break(std::string_view tail) {
  if (tail.empty() || tail.ends_with("\n\n") || tail.ends_with("\r\r") || tail.ends_with("\r\n\r\n")) return {};
  if (tail.ends_with('\n') || tail.ends_with('\r')) return "\n";
  return "\n\n";
}

}  // namespace

Forwarder::Forwarder(boost::asio::io_context& io, ConnectionPool& pool, ForwardTargets candidates, UpstreamRequest request, std::size_t max_response_bytes,
                     ResponseSink& sink, std::unique_ptr<ResponseTransform> transform,
                     Callback<void(ForwardOutcome)> done)
    : io_(io),
      pool_(pool),
      candidates_(std::move(candidates)),
      request_(std::move(request)),
      max_response_bytes_(max_response_bytes),
      sink_(sink),
      transform_(std::move(transform)),
      done_(std::move(done)) {
  if (request_.meter_usage) usage_meter_.emplace(request_.stream);
}

void Forwarder::start() {
  started_ = std::chrono::steady_clock::now();
  sink_.on_shutdown([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->shut_down();
  });
  try_next();
}

void Forwarder::cancel() {
  if (cancelled_ || finished_) return;
  cancelled_ = true;
  if (connection_) connection_->close();
}

// The attempt's deadline passed (the client connection's sweep noticed): closing the connection
// fails the pending operation, which the handlers then report as a timeout.
void Forwarder::expire() {
  if (cancelled_ || finished_) return;
  timed_out_ = true;
  if (connection_) connection_->close();
}

// The gateway stops (the drain timeout passed): the request ends as at a timeout, and the client is
// told the gateway is shutting down.
void Forwarder::shut_down() {
  shutting_down_ = true;
  expire();
}

ApiError Forwarder::timeout_error() const {
  return shutting_down_ ? api_errors::shutting_down() : api_errors::upstream_timeout(current_.backend->config->name);
}

// The attempt's deadline (the backend's timeout) passed. A connect timeout is not one: nothing was
// sent, so like a refused connection it counts against the replica and goes to the next one.
bool Forwarder::is_timeout() const { return timed_out_; }

void Forwarder::end_attempt() {
  if (attempt_counted_) {
    current_.replica->in_flight.fetch_sub(1, std::memory_order_relaxed);
    current_.backend->series->active_connections.Decrement();
  }
  attempt_counted_ = false;
}

void Forwarder::try_next() {
  if (cancelled_) return finish(499, "client_closed");
  while (next_candidate_ < candidates_.size() && attempts_ < max_attempts) {
    auto candidate = candidates_[next_candidate_++];
    const Pinning::Status pinning = candidate.replica->pinning();
    if (pinning == Pinning::Status::refused) {
      candidate.backend->series->egress_refusals.Increment();
      refusal_ = candidate.replica->refusal();
      continue;
    }
    if (pinning == Pinning::Status::unresolved) {  // a DNS failure, not a refusal: nothing to dial yet
      if (!unresolved_.empty()) unresolved_ += "; ";
      unresolved_ += candidate.replica->unresolved_report();
      continue;
    }
    none_pinned_ = false;
    const auto now = std::chrono::steady_clock::now();
    // timeout_ms bounds the request, retries included: a retry gets what is left of it, and none
    // is sent once it is spent (the replica would work on a request whose client is told 504).
    const auto deadline = started_ + candidate.backend->config->timeout;
    if (attempts_ > 0 && now >= deadline) {
      timed_out_ = true;
      return respond_error(timeout_error());
    }
    if (!candidate.replica->admit(now)) continue;  // its circuit opened, or another request is its trial
    if (attempts_ > 0) candidate.backend->series->retries.Increment();
    ++attempts_;
    current_ = candidate;
    outcome_.backend = candidate.backend->config;
    outcome_.replica = candidate.replica;
    candidate.replica->in_flight.fetch_add(1, std::memory_order_relaxed);
    candidate.backend->series->active_connections.Increment();
    attempt_counted_ = true;
    retried_stale_ = false;
    interim_heads_ = 0;
    deadline_ = deadline;
    sink_.on_deadline(deadline_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->expire();
    });
    if ((connection_ = pool_.acquire(*candidate.replica))) return send_request();
    connection_ = std::make_shared<UpstreamConnection>(io_, *candidate.replica, candidate.backend->tls);
    connection_->connect(candidate.backend->config->connect_timeout,
                         [self = shared_from_this()](boost::system::error_code ec, bool refused) {
                           self->on_connected(ec, refused);
                         });
    return;
  }
  if (none_pinned_ && !refusal_.empty())
    return respond_error(api_errors::egress_refused(std::string(request_.model), refusal_));
  if (attempts_ == 0 && !unresolved_.empty())
    return respond_error(api_errors::backend_unresolved(std::string(request_.model), unresolved_));
  respond_error(last_error_ ? *last_error_
                            : api_errors::no_backend_available(std::string(request_.model), "no replica is available"));
}

void Forwarder::on_connected(boost::system::error_code ec, bool refused) {
  if (cancelled_) return finish(499, "client_closed");
  if (refused) {
    current_.backend->series->egress_refusals.Increment();
    refusal_ = current_.replica->refusal();
  }
  if (ec) return fail_before_response(ec, true);
  send_request();
}

// The head is written straight into the connection's buffer: building Beast fields for eight
// known headers and serialising them cost more than the rest of forwarding.
void Forwarder::write_head(std::string& out) const {
  // Each piece appended with its length known: a C string's append measures it first.
  const auto append = [&out](std::string_view text) { out.append(text.data(), text.size()); };
  out.clear();
  append(http::to_string(request_.method));
  out.push_back(' ');
  append(current_.replica->config().base_path);
  append(request_.target);
  append(" HTTP/1.1\r\nHost: ");
  append(current_.replica->host_header());
  append("\r\nUser-Agent: sovereign-gateway\r\nAccept: ");
  append(request_.stream ? "text/event-stream" : "application/json");
  // Answers are scanned and rewritten as text: a compressed one could not be checked.
  append("\r\nAccept-Encoding: identity\r\nX-Request-Id: ");
  append(request_.request_id);
  if (const std::string& authorization = current_.backend->authorization; !authorization.empty()) {
    append("\r\nAuthorization: ");
    append(authorization);
  }
  if (request_.method == http::verb::post) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, request_.body().size()).ptr;
    append("\r\nContent-Type: application/json\r\nContent-Length: ");
    append({digits, static_cast<std::size_t>(end - digits)});
  }
  append("\r\n\r\n");
}

void Forwarder::send_request() {
  write_failure_.reset();
  auto& head = connection_->write_buffer();
  write_head(head);
  std::array<boost::asio::const_buffer, 2> wire{boost::asio::buffer(head), boost::asio::buffer(request_.body())};
  connection_->tcp().expires_never();  // the connect timeout is over; the attempt's deadline is swept
  // Sent after the handlers already queued on this worker (the other requests that arrived with
  // this one) rather than at once: a backend sharing the CPU is then woken once for several
  // requests instead of preempting the worker at each one. Measured with the gateway benchmark
  // (upstream and gateway on one CPU): involuntary context switches per request 0.42 -> 0.29, the
  // upstream's CPU per request 9.2 -> 8.5 us. With nothing else queued it is sent at once.
  boost::asio::post(io_, [self = shared_from_this(), wire] {
    if (self->cancelled_ || !self->connection_) return self->finish(499, "client_closed");
    self->connection_->with_stream([&](auto& stream) {
      write_eagerly(stream, wire, [self](boost::system::error_code ec, std::size_t) { self->on_written(ec); });
    });
  });
}

void Forwarder::on_written(boost::system::error_code ec) {
  if (cancelled_) return finish(499, "client_closed");
  // A backend may answer before it has read the whole request (413 for a body too large, 401 from
  // the head alone) and close the connection, which then fails the rest of the write. An answer it
  // sent is still there to read, and is the answer, as curl and nginx take it; only when none
  // arrived did the write fail the request (on_header).
  const bool closed_by_backend = ec == boost::asio::error::broken_pipe || ec == boost::asio::error::connection_reset;
  if (ec && (!closed_by_backend || is_timeout())) return fail_before_response(ec, !connection_->reused);
  if (ec) write_failure_ = ec;
  read_head();
}

void Forwarder::read_head() {
  answer_.emplace();
  answer_->header_limit(max_upstream_header_bytes);
  // The body's limit is set once it is known whether the answer streams (read_whole, start_streaming);
  // left at Beast's default (8 MiB), a Content-Length above it would fail here, whatever the config says.
  answer_->body_limit(boost::none);
  connection_->with_stream([&](auto& stream) {
    http::async_read_header(stream, connection_->buffer(), *answer_,
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_header(ec); });
  });
}

void Forwarder::fail_before_response(boost::system::error_code ec, bool count_failure) {
  if (cancelled_) return finish(499, "client_closed");
  // The request could not be written on a pooled connection: the backend had reset it before the
  // request reached it whole, so it cannot have run it. Retried once on a fresh one, same replica.
  if (!count_failure && connection_ && connection_->reused && !retried_stale_ && !is_timeout()) {
    retried_stale_ = true;
    connection_->close();
    connection_ = std::make_shared<UpstreamConnection>(io_, *current_.replica, current_.backend->tls);
    connection_->connect(current_.backend->config->connect_timeout,
                         [self = shared_from_this()](boost::system::error_code ec, bool refused) {
                           self->on_connected(ec, refused);
                         });
    return;
  }
  // Worded before the connection goes: a failed TLS handshake says why from the connection's state.
  const std::string why = ec == boost::beast::error::timeout
                              ? "no connection within connect_timeout_ms (" +
                                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       current_.backend->config->connect_timeout)
                                                       .count()) +
                                    ")"
                          : connection_ ? connection_->failure_message(ec)
                                        : ec.message();
  if (connection_) connection_->close();
  connection_.reset();
  if (!shutting_down_) current_.replica->record_failure(std::chrono::steady_clock::now());
  end_attempt();
  if (is_timeout()) return respond_error(timeout_error());
  last_error_ = api_errors::upstream_error("backend '" + current_.backend->config->name + "' (" +
                                           current_.replica->config().url + "): " + why);
  try_next();
}

// The replica received the whole request and closed the connection without answering, or answered
// with a head the gateway cannot read (a bad field, one over its size limit, not HTTP at all).
void Forwarder::fail_unanswered(boost::system::error_code ec) {
  if (connection_) connection_->close();
  connection_.reset();
  current_.replica->record_failure(std::chrono::steady_clock::now());
  const std::string what = malformed(ec) ? "answered with a head the gateway cannot read (" + ec.message() + ")"
                                         : "closed the connection after receiving the request, without answering (" +
                                               ec.message() + ")";
  respond_error(api_errors::upstream_error("backend '" + current_.backend->config->name + "' (" +
                                           current_.replica->config().url + ") " + what +
                                           "; not retried on another replica, since it may have run it (see "
                                           "retry_unanswered)"));
}

void Forwarder::on_header(boost::system::error_code ec) {
  if (cancelled_) return finish(499, "client_closed");
  const bool retry_unanswered = current_.backend->config->retry_unanswered;
  if (ec && write_failure_) return fail_before_response(*write_failure_, !connection_->reused);
  if (ec) {
    // The whole request was written, and the replica closed or reset the connection without a byte
    // of answer: it may have run it, on a pooled connection as on a new one, so another replica
    // gets it only where the backend allows that. (A pooled connection the backend had closed
    // while idle is found out before the request is sent on it: ConnectionPool::acquire.)
    if (retry_unanswered || is_timeout()) return fail_before_response(ec, true);
    return fail_unanswered(ec);
  }
  status_ = answer_->status();
  // Read past to the final answer; a 101 is refused below (unrelayable).
  if (interim_status(status_)) {
    if (++interim_heads_ <= max_interim_heads) return read_head();
    release_connection(false);
    current_.replica->record_failure(std::chrono::steady_clock::now());
    return respond_error(api_errors::upstream_error("backend '" + current_.backend->config->name + "' sent more than " +
                                                    std::to_string(max_interim_heads) +
                                                    " interim (1xx) answers without a final one"));
  }
  // 503: the server says it did not take the request on. 502 and 504 (a proxy in front of the
  // server lost it or timed out) leave open whether it ran.
  bool retryable_status = status_ == 503 || (retry_unanswered && (status_ == 502 || status_ == 504));
  if (status_ >= 500) current_.replica->record_failure(std::chrono::steady_clock::now());
  else current_.replica->record_success();
  if (retryable_status && next_candidate_ < candidates_.size() && attempts_ < max_attempts) {
    last_error_ = api_errors::upstream_error("backend '" + current_.backend->config->name + "' answered " +
                                             std::to_string(status_));
    release_connection(false);
    end_attempt();
    return try_next();
  }
  if (auto refusal = unrelayable()) {
    release_connection(false);
    return respond_error(*refusal);
  }
  // Only a successful answer is relayed as a stream; any other goes through read_whole's rules
  // (a 5xx becomes 502 in the gateway's error shape), whatever its Content-Type.
  const std::string_view content_type = answer_->content_type();
  const bool success = status_ >= 200 && status_ < 300;
  // Media types are case-insensitive (RFC 9110 8.3.1). A backend asked for a stream (Accept:
  // text/event-stream) that names no type has sent one: some servers' streaming responses omit it.
  const bool event_stream = boost::beast::iequals(content_type.substr(0, 17), "text/event-stream") ||
                            (request_.stream && content_type.empty());
  // A stream whose body is over with its head (204, Content-Length: 0) holds no event: relayed, the
  // client would read an empty stream as the answer, or wait on a read that nothing ends.
  if (request_.stream && success && answer_->is_done()) {
    release_connection(answer_->keep_alive());
    return respond_error(api_errors::upstream_error("backend '" + current_.backend->config->name + "' answered the " +
                                                    "streamed request with " + std::to_string(status_) +
                                                    " and no body, where an event stream was expected"));
  }
  if (request_.stream && success && event_stream) return start_streaming();
  // A request that did not ask for a stream is answered with one JSON value, which its client parses
  // and a policy checks: an event stream is neither (under a policy its text would pass unread).
  // Refused at its head, before any of it is read or relayed; the connection, mid-body, is closed.
  if (!request_.stream && success && event_stream) {
    release_connection(false);
    ApiError error = api_errors::upstream_error(
        "backend '" + current_.backend->config->name + "' answered a request that did not ask for a stream with " +
        "an event stream (" + std::to_string(status_) + ", Content-Type: " + std::string(content_type.substr(0, 64)) +
        ") instead of a JSON answer; it was withheld");
    if (transform_) error.code = "response_check_failed";
    return respond_error(error);
  }
  // A streaming client reads events only: a whole answer would reach it as an empty stream, which
  // it would take for the model's answer.
  if (request_.stream && success) {
    release_connection(false);
    return respond_error(api_errors::upstream_error(
        "backend '" + current_.backend->config->name + "' answered the streamed request with a whole answer (" +
        std::to_string(status_) + ", Content-Type: " + std::string(content_type.substr(0, 64)) +
        ") instead of an event stream; ask it without \"stream\", or use a backend that streams"));
  }
  read_whole();
}

// An answer the gateway cannot pass on as it is: a status that is not a final answer to a POST
// (1xx, a redirect it will not follow, numbers outside HTTP's range), or, when the answer must be
// checked (a response policy, tokens to restore), a body encoded so that its text cannot be read.
std::optional<ApiError> Forwarder::unrelayable() const {
  const unsigned status = answer_->status();
  const auto backend = [this] { return "backend '" + current_.backend->config->name + "'"; };
  if (status < 200 || (status >= 300 && status < 400) || status > 599)
    return api_errors::upstream_error(backend() + " answered with status " + std::to_string(status) +
                                      ", which the gateway does not relay");
  // Beast decodes chunked and no other transfer coding: a body sent gzip'd that way would reach the
  // answer's check (and the client, with nothing saying how to read it) still encoded.
  if (const std::string_view codings = answer_->transfer_codings(); !decodable_transfer_codings(codings)) {
    ApiError error = api_errors::upstream_error(backend() + " sent its answer with Transfer-Encoding: " +
                                                std::string(codings.substr(0, 64)) +
                                                ", which the gateway does not decode (only chunked); it was withheld");
    if (transform_) error.code = "response_check_failed";
    return error;
  }
  if (!transform_) return std::nullopt;  // an encoded answer is relayed unchecked, as it came
  const std::string_view encoding = answer_->content_encoding();
  if (!encoding.empty() && !boost::beast::iequals(encoding, "identity")) {
    ApiError error = api_errors::upstream_error(backend() + " sent its answer encoded (Content-Encoding: " +
                                                std::string(encoding.substr(0, 32)) +
                                                "), so it could not be checked; it was withheld");
    error.code = "response_check_failed";
    return error;
  }
  return std::nullopt;
}

void Forwarder::read_whole() {
  if (auto length = answer_->content_length(); length && *length > max_response_bytes_) {
    release_connection(false);
    return respond_error(api_errors::upstream_error("the response is larger than max_upstream_response_bytes (" +
                                                    std::to_string(max_response_bytes_) + ")"));
  }
  answer_->body_limit(max_response_bytes_);
  answer_->take_whole();
  boost::system::error_code ec;
  parse_buffered(*answer_, connection_->buffer(), ec);
  if (ec || answer_->is_done()) return on_whole(ec);
  connection_->with_stream([&](auto& stream) {
    http::async_read(stream, connection_->buffer(), *answer_,
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_whole(ec); });
  });
}

void Forwarder::on_whole(boost::system::error_code ec) {
  if (cancelled_) return finish(499, "client_closed");
  if (ec) {
    release_connection(false);
    current_.replica->record_failure(std::chrono::steady_clock::now());
    if (is_timeout()) return respond_error(timeout_error());
    if (ec == http::error::body_limit)
      return respond_error(api_errors::upstream_error("the response is larger than max_upstream_response_bytes (" +
                                                      std::to_string(max_response_bytes_) + ")"));
    return respond_error(api_errors::upstream_error("the response was cut off: " + ec.message()));
  }
  release_connection(answer_->keep_alive());
  const unsigned status = answer_->status();
  // A backend's internal failure is reported in the gateway's own error shape (naming the
  // backend), so clients see one consistent contract whatever server runs behind it. So is a
  // refusal that concerns the gateway, not the client: the backend refused the gateway's
  // credentials, does not know the path or model it was configured with, or the method.
  const bool gateways_problem = status == 401 || status == 403 || status == 404 || status == 405 || status == 407;
  const std::string_view content_type = answer_->content_type();
  const std::string_view content_encoding = answer_->content_encoding();
  // When to try again, as the backend says (a 429, a 503): the client's own backoff would ignore it.
  const std::string_view retry_after = usable_retry_after(answer_->retry_after());
  const std::string& name = current_.backend->config->name;
  // Under a policy an error's body is checked as an answer is before anything of it (its whole body,
  // or its message quoted in the gateway's own error) reaches the client; one that could not be
  // checked is withheld, and the client gets the status with the gateway's words only.
  std::string body = answer_->take_body();
  std::string message;  // what the gateway's own error says of the backend's
  bool withheld = false;
  if (transform_ && status >= 400) {
    body = transform_->error_body(std::move(body));
    withheld = transform_->failed();
  }
  if (withheld) message = "; its error could not be checked (" + transform_->failure() + "), so it was withheld";
  else if (status >= 400) message = upstream_message(body);
  if (status >= 500 || gateways_problem) {
    return respond_error(api_errors::upstream_error("backend '" + name + "' answered " + std::to_string(status) + message),
                         retry_after);
  }
  // A success with nothing in it (204, or an empty 200) is no completion: an OpenAI client would
  // read it as null, or fail to parse it, and the access log would count it a success.
  if (status < 300 && body.empty())
    return respond_error(api_errors::upstream_error("backend '" + name + "' answered " + std::to_string(status) +
                                                    " with no body, where an answer was expected"));
  // A refusal the client must see is relayed with its status, in OpenAI's shape as every error is: a
  // proxy's HTML page, a bare text or an empty body would be read as no error by OpenAI clients.
  if (status >= 400 && (withheld || !openai_error_body(body))) {
    return respond_error(api_errors::upstream_refusal(status, name, message, std::string(content_type.substr(0, 64)),
                                                      body.size()),
                         retry_after);
  }
  HttpResponse response;
  response.version(11);
  response.result(status);  // the number as the backend sent it, known to Beast or not
  // An error relayed is an OpenAI error, one JSON value, whatever type the backend named (a server
  // answering a streamed request may label its error text/event-stream): it goes out as JSON.
  if (status >= 400 || content_type.empty()) response.set(http::field::content_type, "application/json");
  else response.set(http::field::content_type, content_type);
  if (!content_encoding.empty())
    response.set(http::field::content_encoding, content_encoding);  // relayed unchecked: no transform (see unrelayable)
  if (!retry_after.empty()) response.set(http::field::retry_after, retry_after);
  response.set("X-Request-Id", request_.request_id);
  if (transform_ && status < 300) {
    response.body() = transform_->whole(std::move(body));
    if (transform_->failed()) {
      ApiError error = api_errors::upstream_error("the answer of backend '" + current_.backend->config->name +
                                                  "' could not be checked (" + transform_->failure() +
                                                  "), so it was withheld");
      error.code = "response_check_failed";
      return respond_error(error);
    }
  } else {
    response.body() = std::move(body);
  }
  relayed(response.body());
  response.prepare_payload();
  status_ = response.result_int();
  sink_.send(std::move(response), [self = shared_from_this()](bool client_ok) {  // small enough to need no allocation
    self->finish(client_ok ? self->status_ : 499, client_ok ? "" : "client_closed");
  });
}

void Forwarder::start_streaming() {
  answer_->body_limit(max_stream_bytes);
  // Without a transform the stream is relayed as it comes, and only its end line is looked for; a
  // compressed stream (which only goes out untouched) cannot be read for it.
  const std::string_view encoding = answer_->content_encoding();
  if (!transform_ && (encoding.empty() || boost::beast::iequals(encoding, "identity"))) stream_end_.emplace();
  ResponseHead header;
  header.result(status_);
  header.version(11);
  header.set(http::field::content_type, "text/event-stream");
  // Only reached without a transform (unrelayable refuses an encoded answer that must be checked):
  // the client decodes it, and needs to be told how.
  if (!encoding.empty()) header.set(http::field::content_encoding, encoding);
  header.set(http::field::cache_control, "no-cache");
  header.set("X-Request-Id", request_.request_id);
  stream_started_ = true;
  outcome_.streamed = true;
  sink_.start_stream(std::move(header), [self = shared_from_this()](bool client_ok) {
    if (!client_ok) return self->cancel(), self->finish(499, "client_closed");
    self->read_chunk();
  });
}

void Forwarder::read_chunk() {
  if (cancelled_) return finish(499, "client_closed");
  // Not zeroed: every byte the answer parser hands on was written by it first (16 KB an answer).
  if (!chunk_buffer_) chunk_buffer_ = std::make_unique_for_overwrite<std::array<char, 16 * 1024>>();
  answer_->take_into(chunk_buffer_->data(), chunk_buffer_->size());
  connection_->with_stream([&](auto& stream) {
    http::async_read_some(stream, connection_->buffer(), *answer_,
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_chunk(ec); });
  });
}

void Forwarder::on_chunk(boost::system::error_code ec) {
  if (cancelled_) return finish(499, "client_closed");
  if (ec == http::error::need_buffer) ec = {};
  if (ec) return fail_mid_stream("the backend closed the stream: " + ec.message());
  std::string data(chunk_buffer_->data(), answer_->taken());
  bool last = answer_->is_done();
  if (transform_) {
    data = transform_->on_data(data);
    if (last) data += transform_->finish();
    if (transform_->failed()) {
      // The rewriter already appended its error event: end the stream here, fail closed.
      release_connection(false);
      relayed(data);
      return sink_.write_chunk(std::move(data), [self = shared_from_this()](bool client_ok) {
        if (!client_ok) return self->finish(499, "client_closed");
        self->sink_.finish_stream([self](bool) { self->finish(self->status_, "response_check_failed"); });
      });
    }
  }
  if (stream_end_) {
    stream_end_->cut(data);
    if (last) stream_end_->finish(data);
  }
  const bool answer_ended = transform_ ? transform_->ended() : stream_end_ && stream_end_->ended();
  // The body ended short of `data: [DONE]`: a client would take what it got for the whole answer.
  // (A compressed stream relayed untouched cannot be read for that line, and goes out as it came.)
  if (last && !answer_ended && (transform_ || stream_end_))
    return fail_mid_stream("backend '" + current_.backend->config->name +
                               "' ended the stream without data: [DONE], so the answer may be cut short",
                           std::move(data));
  // The answer ended at `data: [DONE]` before the backend's body did: the client's answer ends now,
  // and nothing more is read (a backend that keeps the stream open would hold the request). Whether
  // the connection can be pooled is decided once the client has the end (finish()).
  answer_ended_early_ = !last && answer_ended;
  if (last) release_connection(answer_->keep_alive());
  relay_chunk(std::move(data), last || answer_ended_early_);
}

// After `data: [DONE]` nothing is waited for: the connection goes back to the pool only when the
// bytes received by now (in its buffer, or on plain TCP in the kernel's) end the body, with the
// last chunk or at its Content-Length; what they carry before that end is dropped, and anything
// after it keeps the connection out of the pool (ConnectionPool::release). Otherwise the
// backend may still be writing this answer, and the connection is closed. Asked once the client
// has the answer's end, by which time a backend that ends its body with its last event (most do,
// a write behind it) has usually done so.
bool Forwarder::body_ended_in_buffer() {
  auto& parser = *answer_;
  auto& buffer = connection_->buffer();
  connection_->with_stream([&](auto& stream) {
    if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, TcpStream>) {
      boost::system::error_code ec;
      const std::size_t waiting = stream.socket().available(ec);
      if (ec || waiting == 0) return;
      const std::size_t n = stream.socket().read_some(buffer.prepare(std::min(waiting, max_drained_bytes)), ec);
      if (!ec) buffer.commit(n);
    }
  });
  boost::system::error_code ec;
  parser.eager(true);
  while (!parser.is_done() && buffer.size() > 0) {
    parser.take_into(chunk_buffer_->data(), chunk_buffer_->size());
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_buffer) ec = {};  // body bytes after [DONE], dropped
    if (ec || used == 0) break;
  }
  return !ec && parser.is_done() && parser.keep_alive();
}

void Forwarder::relay_chunk(std::string data, bool last) {
  auto after_write = [self = shared_from_this(), last](bool client_ok) {
    if (!client_ok) return self->cancel(), self->finish(499, "client_closed");
    if (!last) return self->read_chunk();
    self->sink_.finish_stream([self](bool ok) { self->finish(ok ? self->status_ : 499, ok ? "" : "client_closed"); });
  };
  if (data.empty()) return after_write(true);
  if (stream_end_) {  // the rewriter's output ends on whole events; untouched bytes may end anywhere
    stream_tail_.append(data, data.size() - std::min<std::size_t>(data.size(), 4));
    stream_tail_.erase(0, stream_tail_.size() - std::min<std::size_t>(stream_tail_.size(), 4));
  }
  relayed(data);
  sink_.write_chunk(std::move(data), std::move(after_write));
}

void Forwarder::fail_mid_stream(const std::string& why, std::string before) {
  release_connection(false);
  if (!shutting_down_) current_.replica->record_failure(std::chrono::steady_clock::now());
  std::string tail = std::move(before);
  if (transform_) tail += transform_->abandon();
  else if (stream_end_) tail += event_break(stream_tail_ + tail);  // an encoded stream has no lines to end
  // A stream that timeout_ms cut short is a timeout, as the same stall before the head is (504): its
  // error event and the access log say upstream_timeout (or shutting_down), not that the backend died.
  const bool timed_out = is_timeout() || shutting_down_;
  ApiError error = timed_out ? timeout_error() : api_errors::upstream_error(why);
  tail += "data: " + error.to_json() + "\n\n";
  relayed(tail);
  outcome_.stream_broken = true;
  std::string code = timed_out ? error.code : "upstream_died";
  sink_.write_chunk(std::move(tail), [self = shared_from_this(), code = std::move(code)](bool client_ok) mutable {
    if (!client_ok) return self->finish(499, "client_closed");
    self->sink_.finish_stream([self, code = std::move(code)](bool) mutable { self->finish(self->status_, std::move(code)); });
  });
}

void Forwarder::respond_error(const ApiError& error, std::string_view retry_after) {
  end_attempt();
  HttpResponse response{error.status, 11};
  response.set(http::field::content_type, "application/json");
  if (!retry_after.empty()) response.set(http::field::retry_after, retry_after);
  response.set("X-Request-Id", request_.request_id);
  response.body() = error.to_json();
  response.prepare_payload();
  relayed(response.body());
  unsigned status = response.result_int();
  std::string code = error.code;
  sink_.send(std::move(response), [self = shared_from_this(), status, code](bool) { self->finish(status, code); });
}

void Forwarder::relayed(std::string_view data) {
  outcome_.bytes_out += data.size();
  if (request_.digest_response) response_hash_.update(data);
  if (request_.keep_response_body) outcome_.response_body.append(data);
  if (usage_meter_) usage_meter_->feed(data);
}

void Forwarder::release_connection(bool reusable) {
  if (!connection_) return;
  // A connection whose request was not written whole cannot carry another.
  if (reusable && !cancelled_ && !write_failure_) pool_.release(std::move(connection_));
  else connection_->close();
  connection_.reset();
}

void Forwarder::finish(unsigned status, std::string error_code) {
  if (finished_) return;
  finished_ = true;
  end_attempt();
  release_connection(answer_ended_early_ && connection_ && !cancelled_ && !timed_out_ && body_ended_in_buffer());
  outcome_.status = status;
  outcome_.error_code = std::move(error_code);
  if (request_.digest_response) outcome_.response_sha256 = crypto::to_hex(response_hash_.finish());
  if (usage_meter_) {
    usage_meter_->finish();
    outcome_.usage = usage_meter_->result();
  }
  if (done_) done_(std::move(outcome_));
}

}  // namespace sovereign::gateway
