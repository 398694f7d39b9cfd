#include "gateway/upstream/egress_guard.hpp"

#include <algorithm>

#include <boost/asio/io_context.hpp>

namespace sovereign::gateway {

bool EgressGuard::allows(const boost::asio::ip::address& address) const {
  return std::any_of(boundary_.begin(), boundary_.end(), [&](const Cidr& c) { return c.contains(address); });
}

Pinning EgressGuard::pin(const std::string& host, std::span<const boost::asio::ip::tcp::endpoint> resolved,
                         bool loopback_only) const {
  Pinning pinning;
  if (resolved.empty()) {
    pinning.why = "'" + host + "' resolves to no address";
    return pinning;
  }
  std::vector<boost::asio::ip::tcp::endpoint> checked;
  pinning.status = Pinning::Status::refused;
  for (const auto& endpoint : resolved) {
    auto address = endpoint.address();
    // One address outside the boundary taints the whole name: a split answer is how rebinding starts.
    if (!allows(address)) {
      pinning.why = "'" + host + "' resolves to " + address.to_string() + ", which is outside the boundary";
      return pinning;
    }
    // ::ffff:127.0.0.1 is 127.0.0.1, on this host, though as an IPv6 address it is not ::1.
    if (loopback_only && !unmapped(address).is_loopback()) {
      pinning.why = "'" + host + "' resolves to " + address.to_string() +
                    ", but plain-HTTP backends marked 'loopback' must be on this host";
      return pinning;
    }
    if (std::find(checked.begin(), checked.end(), endpoint) == checked.end()) checked.push_back(endpoint);
  }
  pinning.status = Pinning::Status::pinned;
  pinning.endpoints = std::move(checked);
  return pinning;
}

Pinning EgressGuard::resolve_and_pin(const std::string& host, std::uint16_t port, bool loopback_only) const {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), boost::asio::ip::resolver_base::numeric_service, ec);
  if (ec) return unresolved(host, ec.message());
  std::vector<boost::asio::ip::tcp::endpoint> resolved;
  for (const auto& entry : results) resolved.push_back(entry.endpoint());
  return pin(host, resolved, loopback_only);
}

Pinning EgressGuard::unresolved(const std::string& host, const std::string& reason) {
  Pinning pinning;
  pinning.why = "cannot resolve '" + host + "': " + reason;
  return pinning;
}

}  // namespace sovereign::gateway
