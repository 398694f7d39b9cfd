#include "gateway/runtime/listener_tls.hpp"

#include "crypto/tls_context.hpp"

namespace sovereign::gateway {

bool make_listener_tls(const GatewayConfig& config, ListenerTlsContexts& out, std::string& error) {
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const ListenerConfig& listener = config.listeners[i];
    if (!listener.tls) continue;
    auto made = crypto::make_server_context({listener.tls->certificate, listener.tls->private_key,
                                             listener.tls->client_ca, listener.tls->require_client_certificate});
    if (auto* why = std::get_if<crypto::TlsError>(&made)) {
      error = config.problem_at(setting_path("listeners", i, "tls", why->setting),
                                "listener '" + listener.name + "': " + why->message);
      return false;
    }
    out[listener.name] = std::make_shared<boost::asio::ssl::context>(std::get<crypto::SslCtxPtr>(made).release());
  }
  return true;
}

}  // namespace sovereign::gateway
