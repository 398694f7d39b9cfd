#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fixture.hpp"
#include "policy/engine.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign::policy;

// An IPv6 address may end in an IPv4 address written with dots (IPv4-mapped "::ffff:10.20.30.40",
// NAT64 "64:ff9b::10.20.30.40"): it is one address, and a policy that redacts only ipv6 must leave no
// octet of it behind, in a request or in an answer, whole or streamed.
namespace {
const std::vector<std::string> mapped_addresses{"::ffff:10.20.30.40", "::ffff:0:10.20.30.40", "64:ff9b::10.20.30.40",
                                                "::FFFF:10.20.30.40", "0:0:0:0:0:ffff:192.168.1.200"};

std::string redacted_request(const std::string& text) {
    static const auto loaded = load_policy_text(R"(classes: [public, internal, confidential, restricted]
zones: [{name: site}]
tenants: [{name: t, clearance: restricted}]
rules:
  - {name: hosts, when: {detected: [ipv6]}, then: {redact: [ipv6]}}
  - {name: all, then: {action: allow}}
)", "ipv6.yaml");
    REQUIRE(loaded.policy);
    Request request{"t", "llama", "chat.completions", "", {{"messages[0].content", text}}};
    const Decision d = evaluate(request, *loaded.policy);
    REQUIRE(d.action == Action::allow);
    return apply_redactions(text, d.spans, 0);
}
}  // namespace

TEST_SUITE("scan") {
    TEST_CASE("an IPv6 address that ends in an IPv4 address is one ipv6 finding, redacted whole") {
        for (const std::string& address : mapped_addresses) {
            CAPTURE(address);
            CHECK(redacted_request("peer " + address + " dropped") == "peer [REDACTED:ipv6] dropped");
            CHECK(redacted_request("from " + address + ".") == "from [REDACTED:ipv6].");
            CHECK(redacted_request(address) == "[REDACTED:ipv6]");
        }
        // A dotted tail that is no IPv4 address makes no address of the rest, nor takes in a clock time.
        CHECK(redacted_request("at 12:30:45.123 and ::ffff:10.20.30.40.50") == "at 12:30:45.123 and ::ffff:10.20.30.40.50");
        // A last group of hexadecimal letters is no part of a dotted address: the address ends before the dot.
        CHECK(redacted_request("net fe80::1a.5 up") == "net [REDACTED:ipv6].5 up");
    }
}

TEST_SUITE("response") {
    TEST_CASE("an IPv6 address that ends in an IPv4 address is redacted whole wherever the stream is cut") {
        const auto policy = testing::redacting_answers("ipv6");
        REQUIRE(policy);
        for (const std::string& address : mapped_addresses) {
            const std::string text = "The peer " + address + " dropped the session.";
            const std::string expected = "The peer [REDACTED:ipv6] dropped the session.";
            const std::string_view v(text);
            for (std::size_t i = 0; i <= text.size(); ++i) {
                for (std::size_t j = i; j <= text.size(); j += 3) {
                    CAPTURE(address);
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(testing::scan_in_three_chunks(policy, v, i, j) == expected);
                }
            }
        }
    }
}
