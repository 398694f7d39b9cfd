#pragma once
// What a listener does with one complete, size-checked request. The API and the admin listener
// each provide one; the session that owns the socket knows nothing about either.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/http/response_sink.hpp"

namespace sovereign::gateway {

struct ConnectionInfo {
  std::string remote_address;
  std::string client_certificate_cn;  // verified mTLS identity, empty without one
  unsigned worker = 0;
};

// A request the connection answered itself before any handler saw it: malformed HTTP, headers or
// body too large or too slow, over the connection limit. The views live for the call only.
struct RejectedRequest {
  std::string_view request_id;  // sent as X-Request-Id
  std::string_view method;      // empty when the request line never arrived whole
  std::string_view target;
  unsigned status = 0;          // 499 when the client left before taking the answer
  std::string_view error_code;
  std::uint64_t bytes_out = 0;
  std::chrono::steady_clock::duration duration{};  // from the request's first read
  std::string_view body_read;    // what had arrived of the body when it was refused
  std::string_view answer_body;  // the error answer's body, as sent (empty for HEAD)
  bool was_request = false;      // false: the header never arrived whole and readable (not audited)
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Must eventually answer through `sink` and then call `complete(keep_alive)` exactly once.
  virtual void handle(HttpRequest& request,
                      const ConnectionInfo& connection, ResponseSink& sink, Callback<void(bool keep_alive)> complete) = 0;
  // Records a rejected request as handled ones are recorded (access log, metrics); nothing by default.
  virtual void record_rejection(const RejectedRequest& /*rejected*/, const ConnectionInfo& /*connection*/) {}
};

}  // namespace sovereign::gateway
