#include "gateway/upstream/egress_guard.hpp"

#include <algorithm>

#include <boost/asio/io_context.hpp>

namespace sovereign::gateway {

bool EgressGuard::allows(const boost::asio::ip::address& address) const {
  return std::any_of(boundary_.begin(), boundary_.end(), [&](const Cidr& c) { return c.contains(address); });
}

std::vector<boost::asio::ip::tcp::endpoint> EgressGuard::resolve_and_pin(const std::string& host, std::uint16_t port,
                                                                         bool loopback_only, std::string& why) const {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), boost::asio::ip::resolver_base::numeric_service, ec);
  if (ec) {
    why = "cannot resolve '" + host + "': " + ec.message();
    return {};
  }
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    auto address = entry.endpoint().address();
    // One address outside the boundary taints the whole name: a split answer is how rebinding starts.
    if (!allows(address)) {
      why = "'" + host + "' resolves to " + address.to_string() + ", which is outside the boundary";
      return {};
    }
    // ::ffff:127.0.0.1 is 127.0.0.1, on this host, though as an IPv6 address it is not ::1.
    if (loopback_only && !unmapped(address).is_loopback()) {
      why = "'" + host + "' resolves to " + address.to_string() +
            ", but plain-HTTP backends marked 'loopback' must be on this host";
      return {};
    }
    if (std::find(endpoints.begin(), endpoints.end(), entry.endpoint()) == endpoints.end())
      endpoints.push_back(entry.endpoint());
  }
  if (endpoints.empty()) why = "'" + host + "' resolves to no address";
  return endpoints;
}

}  // namespace sovereign::gateway
