// A replica whose host name does not resolve is a DNS failure, not an egress refusal: it is
// unavailable, never dialled, resolved again until it resolves, then checked against the boundary and
// pinned; a pinned replica never takes another answer (no DNS rebinding). Names under .invalid
// (RFC 6761) never resolve; numeric hosts resolve without DNS.
#include <doctest/doctest.h>

#include <optional>

#include <boost/asio/io_context.hpp>

#include "gateway/runtime/runtime_snapshot.hpp"
#include "gateway/upstream/replica_resolver.hpp"
#include "gateway/upstream/upstream_connection.hpp"

using namespace sovereign::gateway;
using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

namespace {

constexpr const char* key_digest = "d92d540a061c3830e8d5f137b041f3f91e8260867918e1af0149e02bc1903de0";

// gateway.yaml with one backend "b" whose one replica is `url`, checked every 100 ms.
std::shared_ptr<const GatewayConfig> config_with_replica(const std::string& url) {
  const std::string yaml = std::string("listeners:\n  - name: api\n    address: 127.0.0.1\n    port: 8080\n") +
                           "boundary: [127.0.0.1/32]\n"
                           "tenants:\n  - name: t\n    api_keys:\n      - sha256: " + key_digest + "\n    models: [m]\n"
                           "backends:\n  - name: b\n    zone: site\n    models: [m]\n    loopback: true\n"
                           "    health_check: {interval_ms: 100}\n    replicas:\n      - url: " + url + "\n";
  auto result = parse_gateway_config(yaml, "gw.yaml");
  auto* config = std::get_if<std::shared_ptr<const GatewayConfig>>(&result);
  REQUIRE_MESSAGE(config != nullptr, std::get<std::vector<ConfigError>>(result).front().to_string());
  return *config;
}

struct Loaded {
  explicit Loaded(const std::string& url) : snapshot(std::make_shared<RuntimeSnapshot>(config_with_replica(url), nullptr, 1)) {
    std::vector<std::string> errors;
    snapshot->backends = build_backend_states(*snapshot->config, snapshot->egress_guard, metrics, errors);
    REQUIRE(errors.empty());
    resolve_replica_names_now(snapshot->egress_guard, snapshot->backends);
  }
  BackendState& backend() { return *snapshot->backends.front(); }
  ReplicaState& replica() { return *backend().replicas.front(); }

  GatewayMetrics metrics;
  std::shared_ptr<RuntimeSnapshot> snapshot;
};

Pinning pinned_to(const char* address, std::uint16_t port) {
  Pinning pinning;
  pinning.status = Pinning::Status::pinned;
  pinning.endpoints.emplace_back(make_address(address), port);
  return pinning;
}

}  // namespace

TEST_SUITE("replica resolution") {
  TEST_CASE("a name that does not resolve at load leaves the replica unresolved and unavailable, not refused") {
    Loaded loaded("http://no-such-replica.invalid:8000");
    ReplicaState& replica = loaded.replica();
    CHECK(replica.pinning() == Pinning::Status::unresolved);
    CHECK(replica.refusal().empty());
    CHECK(replica.endpoints().empty());
    CHECK_FALSE(replica.available(std::chrono::steady_clock::now()));
    const std::string report = replica.unresolved_report();
    CHECK_MESSAGE(report.starts_with("backend 'b' replica http://no-such-replica.invalid:8000: cannot resolve "
                                     "'no-such-replica.invalid': "),
                  report);
    CHECK_MESSAGE(report.ends_with("; the gateway resolves it again every 100 ms"), report);
    // Nothing is dialled, and the connection says it was no egress refusal.
    boost::asio::io_context io;
    auto connection = std::make_shared<UpstreamConnection>(io, replica, nullptr);
    std::optional<bool> refused;
    boost::system::error_code result;
    connection->connect(std::chrono::seconds(1), [&](boost::system::error_code ec, bool r) {
      result = ec;
      refused = r;
    });
    REQUIRE(refused.has_value());
    CHECK_FALSE(*refused);
    CHECK(result == boost::asio::error::host_not_found);
  }

  TEST_CASE("an unresolved replica takes the first answer; a pinned or refused one never takes another") {
    Loaded loaded("http://no-such-replica.invalid:8000");
    ReplicaState& replica = loaded.replica();
    CHECK_FALSE(replica.apply(EgressGuard::unresolved("no-such-replica.invalid", "Temporary failure in name resolution")));
    CHECK(replica.pinning() == Pinning::Status::unresolved);
    CHECK(replica.unresolved_reason() == "cannot resolve 'no-such-replica.invalid': Temporary failure in name resolution");

    CHECK(replica.apply(pinned_to("127.0.0.1", 8000)));
    CHECK(replica.pinning() == Pinning::Status::pinned);
    REQUIRE(replica.endpoints().size() == 1);
    CHECK(replica.available(std::chrono::steady_clock::now()));
    // A later answer (a rebinding DNS server's, say) changes nothing.
    CHECK_FALSE(replica.apply(pinned_to("127.0.0.9", 9000)));
    Pinning refused;
    refused.status = Pinning::Status::refused;
    refused.why = "outside";
    CHECK_FALSE(replica.apply(refused));
    CHECK(replica.pinning() == Pinning::Status::pinned);
    CHECK(replica.endpoints().front() == tcp::endpoint(make_address("127.0.0.1"), 8000));
    CHECK(replica.refusal().empty());
  }

  TEST_CASE("the resolver retries an unresolved name every interval, counting each failure") {
    Loaded loaded("http://no-such-replica.invalid:8000");
    boost::asio::io_context io;
    HostLookups lookups(io);
    bool pinned = false;
    auto resolver = std::make_shared<ReplicaResolver>(io, lookups, loaded.snapshot, loaded.backend(), loaded.replica(),
                                                      [&] { pinned = true; });
    resolver->start();
    CHECK(loaded.replica().series->unresolved.Value() == 1);
    CHECK(loaded.backend().series->resolution_failures.Value() == 1);  // the failure found at load
    // Lookups of .invalid fail at once; 100 ms apart, three take a third of a second.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (loaded.backend().series->resolution_failures.Value() < 3 && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(50));
    CHECK(loaded.backend().series->resolution_failures.Value() >= 3);
    CHECK_FALSE(pinned);
    CHECK(loaded.replica().pinning() == Pinning::Status::unresolved);
    CHECK(loaded.replica().series->unresolved.Value() == 1);
    CHECK(loaded.backend().series->egress_refusals.Value() == 0);
    resolver->stop();
    io.run_for(std::chrono::milliseconds(50));
  }

  // The replica states below start unresolved (as a load whose lookup failed leaves them); their
  // hosts are numeric, so the retry resolves them without DNS.
  TEST_CASE("a name that resolves on a retry is checked against the boundary and pinned") {
    Loaded loaded("http://127.0.0.1:8000");
    const BackendConfig& backend = *loaded.backend().config;
    ReplicaState later(backend, backend.replicas.front());
    later.series = loaded.metrics.replica_series("b", "later");
    boost::asio::io_context io;
    HostLookups lookups(io);
    bool pinned = false;
    auto resolver = std::make_shared<ReplicaResolver>(io, lookups, loaded.snapshot, loaded.backend(), later, [&] { pinned = true; });
    resolver->start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pinned && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(20));
    REQUIRE(pinned);
    CHECK(later.pinning() == Pinning::Status::pinned);
    CHECK(later.endpoints() == std::vector<tcp::endpoint>{tcp::endpoint(make_address("127.0.0.1"), 8000)});
    CHECK(later.available(std::chrono::steady_clock::now()));
    CHECK(later.series->unresolved.Value() == 0);
    CHECK(later.series->healthy.Value() == 1);
  }

  TEST_CASE("a name that resolves on a retry to an address outside the boundary is refused as at load") {
    Loaded loaded("http://127.0.0.1:8000");
    const BackendConfig& backend = *loaded.backend().config;
    ReplicaConfig outside = backend.replicas.front();
    outside.host = "127.0.0.2";  // the boundary is 127.0.0.1/32
    ReplicaState later(backend, outside);
    later.series = loaded.metrics.replica_series("b", "outside");
    boost::asio::io_context io;
    HostLookups lookups(io);
    bool pinned = false;
    auto resolver = std::make_shared<ReplicaResolver>(io, lookups, loaded.snapshot, loaded.backend(), later, [&] { pinned = true; });
    resolver->start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (later.pinning() == Pinning::Status::unresolved && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(20));
    CHECK_FALSE(pinned);
    CHECK(later.pinning() == Pinning::Status::refused);
    CHECK(later.refusal() == "'127.0.0.2' resolves to 127.0.0.2, which is outside the boundary");
    CHECK(later.endpoints().empty());
    CHECK_FALSE(later.available(std::chrono::steady_clock::now()));
    CHECK(later.series->unresolved.Value() == 0);
    CHECK(later.series->healthy.Value() == 0);
  }
}
