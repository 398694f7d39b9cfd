#pragma once
// The egress guard: the gateway only ever connects to addresses inside the configured boundary.
// Host names are resolved once (at load/reload), every address is checked, and only checked
// addresses are ever dialled (pinned), so a DNS answer that changes later cannot redirect traffic.
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "gateway/net/cidr.hpp"

namespace sovereign::gateway {

class EgressGuard {
 public:
  explicit EgressGuard(std::vector<Cidr> boundary) : boundary_(std::move(boundary)) {}

  bool allows(const boost::asio::ip::address& address) const;

  // Resolves host:port and checks every address. On refusal returns no endpoints and sets `why`.
  // `loopback_only` additionally requires every address to be a loopback address.
  std::vector<boost::asio::ip::tcp::endpoint> resolve_and_pin(const std::string& host, std::uint16_t port,
                                                              bool loopback_only, std::string& why) const;

 private:
  std::vector<Cidr> boundary_;
};

}  // namespace sovereign::gateway
