#pragma once
// IPv4/IPv6 network ranges (CIDR) for the egress boundary.
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace sovereign::gateway {

class Cidr {
 public:
  // "10.0.0.0/8", "::1/128"; a bare address means a single host. nullopt with `why` set on error.
  static std::optional<Cidr> parse(std::string_view text, std::string& why);

  bool contains(const boost::asio::ip::address& address) const;
  std::string to_string() const;

 private:
  boost::asio::ip::address network_;
  unsigned prefix_ = 0;
};

// An IPv4-mapped IPv6 address (::ffff:127.0.0.1) as the IPv4 address it maps, any other as it is: the
// kernel connects to the mapped address, so every check of where an address leads reads it as IPv4.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

}  // namespace sovereign::gateway
