#pragma once
// What a listener does with one complete, size-checked request. The API and the admin listener
// each provide one; the session that owns the socket knows nothing about either.
#include <functional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/http/response_sink.hpp"

namespace sovereign::gateway {

struct ConnectionInfo {
  std::string remote_address;
  std::string client_certificate_cn;  // verified mTLS identity, empty without one
  unsigned worker = 0;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Must eventually answer through `sink` and then call `complete(keep_alive)` exactly once.
  virtual void handle(HttpRequest& request,
                      const ConnectionInfo& connection, ResponseSink& sink, std::function<void(bool keep_alive)> complete) = 0;
};

}  // namespace sovereign::gateway
