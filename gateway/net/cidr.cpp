#include "gateway/net/cidr.hpp"

#include <array>
#include <charconv>

namespace sovereign::gateway {
namespace {

template <std::size_t N>
bool prefix_matches(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned prefix) {
  unsigned full_bytes = prefix / 8;
  for (unsigned i = 0; i < full_bytes; ++i)
    if (a[i] != b[i]) return false;
  unsigned rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xFFu << (8 - rest));
  return (a[full_bytes] & mask) == (b[full_bytes] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& why) {
  auto slash = text.find('/');
  std::string address_text(text.substr(0, slash));
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(address_text, ec);
  if (ec) {
    why = "'" + address_text + "' is not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  unsigned max_prefix = address.is_v4() ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (err != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix > max_prefix) {
      why = "prefix length '" + std::string(digits) + "' must be a number from 0 to " + std::to_string(max_prefix);
      return std::nullopt;
    }
  }
  Cidr cidr;
  cidr.network_ = address;
  cidr.prefix_ = prefix;
  return cidr;
}

bool Cidr::contains(const boost::asio::ip::address& candidate) const {
  const auto address = unmapped(candidate);
  if (network_.is_v4() != address.is_v4()) return false;
  if (network_.is_v4()) return prefix_matches(network_.to_v4().to_bytes(), address.to_v4().to_bytes(), prefix_);
  return prefix_matches(network_.to_v6().to_bytes(), address.to_v6().to_bytes(), prefix_);
}

boost::asio::ip::address unmapped(const boost::asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  return address;
}

std::string Cidr::to_string() const { return network_.to_string() + "/" + std::to_string(prefix_); }

}  // namespace sovereign::gateway
