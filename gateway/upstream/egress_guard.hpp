#pragma once
// The egress guard: the gateway only ever connects to addresses inside the configured boundary.
// Host names are resolved at load/reload, every address is checked, and only checked addresses are
// ever dialled (pinned), so a DNS answer that changes later cannot redirect traffic. A name that
// could not be resolved at all is not a refusal: it is resolved again until it is (HealthChecker),
// then checked and pinned the same way; a pinned name is never resolved again.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "gateway/net/cidr.hpp"

namespace sovereign::gateway {

// What the guard made of one host name.
struct Pinning {
  enum class Status : std::uint8_t {
    pinned,      // every address checked; `endpoints` are the only ones ever dialled
    refused,     // an address lies outside the boundary (or off this host where it must be on it)
    unresolved,  // the resolver gave no address: a DNS failure, not a refusal; tried again later
  };
  Status status = Status::unresolved;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::string why;  // refused: what was refused; unresolved: the resolver's reason, naming the host
};

class EgressGuard {
 public:
  explicit EgressGuard(std::vector<Cidr> boundary) : boundary_(std::move(boundary)) {}

  bool allows(const boost::asio::ip::address& address) const;

  // Checks every address `host` resolved to. `loopback_only` additionally requires every address
  // to be a loopback address. No address at all is a resolution failure, not a refusal.
  Pinning pin(const std::string& host, std::span<const boost::asio::ip::tcp::endpoint> resolved,
              bool loopback_only) const;

  // Resolves host:port now, blocking, and pins it. The gateway calls it only for IP addresses (no
  // lookup); names go through HostLookups (gateway/upstream/host_lookups.hpp), off the control thread.
  Pinning resolve_and_pin(const std::string& host, std::uint16_t port, bool loopback_only) const;

  // A resolution of `host` that failed for `reason` (the resolver's words), as the 503 answer and
  // the log give it.
  static Pinning unresolved(const std::string& host, const std::string& reason);

 private:
  std::vector<Cidr> boundary_;
};

}  // namespace sovereign::gateway
