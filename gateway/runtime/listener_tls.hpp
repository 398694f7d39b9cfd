#pragma once
// The server TLS contexts of a configuration's HTTPS listeners, read from their certificate, key and
// client CA files: at start, on every reload (renewed certificates) and by `config check`.
#include <map>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

using ListenerTlsContexts = std::map<std::string, std::shared_ptr<boost::asio::ssl::context>>;  // by listener name

// False when a context cannot be built, with `error` as FILE:LINE:COL: message at the setting naming
// the file at fault, the message naming the listener and the file's problem.
[[nodiscard]] bool make_listener_tls(const GatewayConfig& config, ListenerTlsContexts& out, std::string& error);

}  // namespace sovereign::gateway
