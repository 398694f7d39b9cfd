// CIDR matching and the egress guard's resolve-check-pin step.
#include <doctest/doctest.h>

#include "gateway/net/cidr.hpp"
#include "gateway/upstream/egress_guard.hpp"

using namespace sovereign::gateway;
using boost::asio::ip::make_address;

TEST_SUITE("egress") {
  TEST_CASE("CIDR ranges contain exactly their addresses, IPv4-mapped IPv6 included") {
    std::string why;
    auto net = Cidr::parse("10.20.0.0/16", why);
    REQUIRE(net);
    CHECK(net->contains(make_address("10.20.255.1")));
    CHECK_FALSE(net->contains(make_address("10.21.0.1")));
    CHECK(net->contains(make_address("::ffff:10.20.1.1")));
    CHECK_FALSE(net->contains(make_address("::1")));
    auto odd = Cidr::parse("192.168.1.128/25", why);
    REQUIRE(odd);
    CHECK(odd->contains(make_address("192.168.1.200")));
    CHECK_FALSE(odd->contains(make_address("192.168.1.127")));
    auto host = Cidr::parse("::1", why);
    REQUIRE(host);
    CHECK(host->contains(make_address("::1")));
    CHECK(host->to_string() == "::1/128");
  }

  TEST_CASE("malformed networks explain what is wrong") {
    std::string why;
    CHECK_FALSE(Cidr::parse("10.0.0.0/", why));
    CHECK(why.find("prefix length") != std::string::npos);
    CHECK_FALSE(Cidr::parse("not-an-ip/8", why));
    CHECK(why.find("not an IPv4 or IPv6 address") != std::string::npos);
    CHECK_FALSE(Cidr::parse("::/129", why));
  }

  TEST_CASE("the guard pins addresses inside the boundary and refuses everything else") {
    std::string why;
    EgressGuard guard({*Cidr::parse("127.0.0.1/32", why)});
    auto inside = guard.resolve_and_pin("127.0.0.1", 8000, true);
    CHECK(inside.status == Pinning::Status::pinned);
    REQUIRE(inside.endpoints.size() == 1);
    CHECK(inside.endpoints[0].port() == 8000);
    auto outside = guard.resolve_and_pin("127.0.0.2", 8000, true);
    CHECK(outside.status == Pinning::Status::refused);
    CHECK(outside.endpoints.empty());
    CHECK(outside.why == "'127.0.0.2' resolves to 127.0.0.2, which is outside the boundary");
  }

  TEST_CASE("a name that does not resolve is a resolution failure naming the host, not a refusal") {
    std::string why;
    EgressGuard guard({*Cidr::parse("0.0.0.0/0", why)});
    // RFC 6761: names under .invalid never resolve.
    auto unknown = guard.resolve_and_pin("no-such-host.invalid", 80, false);
    CHECK(unknown.status == Pinning::Status::unresolved);
    CHECK(unknown.endpoints.empty());
    CHECK_MESSAGE(unknown.why.starts_with("cannot resolve 'no-such-host.invalid': "), unknown.why);
    auto empty = guard.pin("empty.example", {}, false);
    CHECK(empty.status == Pinning::Status::unresolved);
    CHECK(empty.why == "'empty.example' resolves to no address");
  }

  TEST_CASE("one address outside the boundary refuses the whole answer; repeated addresses are pinned once") {
    std::string why;
    EgressGuard guard({*Cidr::parse("10.0.0.0/8", why)});
    const boost::asio::ip::tcp::endpoint a(make_address("10.1.2.3"), 80), b(make_address("10.1.2.4"), 80),
        out(make_address("192.0.2.1"), 80);
    const std::vector<boost::asio::ip::tcp::endpoint> split{a, out, b}, twice{a, b, a};
    auto refused = guard.pin("split.example", split, false);
    CHECK(refused.status == Pinning::Status::refused);
    CHECK(refused.endpoints.empty());
    CHECK(refused.why == "'split.example' resolves to 192.0.2.1, which is outside the boundary");
    auto pinned = guard.pin("twice.example", twice, false);
    CHECK(pinned.status == Pinning::Status::pinned);
    CHECK(pinned.endpoints == std::vector<boost::asio::ip::tcp::endpoint>{a, b});
  }

  TEST_CASE("plain-HTTP backends marked loopback must resolve to loopback") {
    std::string why;
    EgressGuard guard({*Cidr::parse("0.0.0.0/0", why)});
    auto remote = guard.resolve_and_pin("10.1.2.3", 80, true);
    CHECK(remote.status == Pinning::Status::refused);
    CHECK(remote.why.find("must be on this host") != std::string::npos);
    CHECK(guard.resolve_and_pin("10.1.2.3", 80, false).endpoints.size() == 1);
  }

  TEST_CASE("an IPv4-mapped loopback address is on this host; a mapped outside address is not") {
    std::string why;
    EgressGuard guard({*Cidr::parse("127.0.0.1/32", why), *Cidr::parse("10.0.0.0/8", why)});
    auto mapped = guard.resolve_and_pin("::ffff:127.0.0.1", 27500, true);
    REQUIRE_MESSAGE(mapped.endpoints.size() == 1, mapped.why);
    CHECK(mapped.endpoints[0].port() == 27500);
    auto remote = guard.resolve_and_pin("::ffff:10.1.2.3", 80, true);
    CHECK(remote.endpoints.empty());
    CHECK(remote.why == "'::ffff:10.1.2.3' resolves to ::ffff:10.1.2.3, but plain-HTTP backends marked 'loopback' must "
                        "be on this host");
  }

  TEST_CASE("unmapped reads an IPv4-mapped IPv6 address as IPv4 and leaves others as they are") {
    CHECK(unmapped(make_address("::ffff:127.0.0.1")) == make_address("127.0.0.1"));
    CHECK(unmapped(make_address("::1")) == make_address("::1"));
    CHECK(unmapped(make_address("10.0.0.1")) == make_address("10.0.0.1"));
  }
}
