// Keep-alive connections to backend replicas are reused only while nothing is waiting on them (a
// byte there would be read as the next request's answer), and what the gateway has learnt of its
// replicas (health, circuit breaker) survives a reload. Real loopback sockets play the backend.
#include <doctest/doctest.h>

#include <poll.h>

#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "gateway/upstream/backend_state.hpp"
#include "gateway/upstream/connection_pool.hpp"

using namespace sovereign::gateway;

namespace {

constexpr const char* key_digest = "d92d540a061c3830e8d5f137b041f3f91e8260867918e1af0149e02bc1903de0";

std::shared_ptr<const GatewayConfig> config_with(const std::string& backends) {
  const std::string yaml = std::string("listeners:\n  - name: api\n    address: 127.0.0.1\n    port: 8080\n") +
                           "boundary: [127.0.0.1/32]\n"
                           "tenants:\n  - name: t\n    api_keys:\n      - sha256: " + key_digest + "\n    models: [m]\n"
                           "backends:\n" + backends;
  auto result = parse_gateway_config(yaml, "gw.yaml");
  auto* config = std::get_if<std::shared_ptr<const GatewayConfig>>(&result);
  REQUIRE_MESSAGE(config != nullptr, std::get<std::vector<ConfigError>>(result).front().to_string());
  return *config;
}

std::string backend_yaml(const std::string& name, const std::vector<int>& ports) {
  std::string yaml = "  - name: " + name + "\n    zone: site\n    models: [m]\n    loopback: true\n"
                     "    health_check: {unhealthy_after: 2, healthy_after: 2}\n"
                     "    circuit_breaker: {failures: 2, open_ms: 60000}\n    replicas:\n";
  for (int port : ports) yaml += "      - url: http://127.0.0.1:" + std::to_string(port) + "\n";
  return yaml;
}

std::vector<std::unique_ptr<BackendState>> states_of(const GatewayConfig& config, GatewayMetrics& metrics,
                                                     const std::vector<std::unique_ptr<BackendState>>* previous) {
  std::vector<std::string> errors;
  auto states = build_backend_states(config, EgressGuard(config.boundary), metrics, errors, previous);
  REQUIRE(errors.empty());
  return states;
}

// One backend whose replica is a port this test listens on, and a worker's pool.
struct Backend {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  GatewayMetrics metrics;
  std::shared_ptr<const GatewayConfig> config = config_with(backend_yaml("b", {acceptor.local_endpoint().port()}));
  std::vector<std::unique_ptr<BackendState>> states = states_of(*config, metrics, nullptr);
  ConnectionPool pool;

  ReplicaState& replica() { return *states.front()->replicas.front(); }
  double dropped(const char* reason) {
    auto* counter = std::string_view(reason) == "unexpected_bytes" ? replica().dropped_unexpected_bytes
                                                                   : replica().dropped_closed;
    return counter->Value();
  }

  // A gateway connection to the replica, and the replica's end of it.
  std::pair<std::shared_ptr<UpstreamConnection>, boost::asio::ip::tcp::socket> connect() {
    auto connection = std::make_shared<UpstreamConnection>(io, replica(), nullptr);
    boost::system::error_code result = boost::asio::error::would_block;
    connection->connect(std::chrono::seconds(5), [&](boost::system::error_code ec, bool) { result = ec; });
    boost::asio::ip::tcp::socket peer(io);
    acceptor.accept(peer);  // the connect was started above; the kernel completes it
    io.run();
    io.restart();
    REQUIRE_MESSAGE(!result, result.message());
    return {connection, std::move(peer)};
  }
};

// Waits until the connection has something to read (bytes, the backend's close), as the next
// request would find it a moment later.
void wait_readable(UpstreamConnection& connection) {
  pollfd state{connection.tcp().socket().native_handle(), POLLIN, 0};
  REQUIRE(::poll(&state, 1, 2000) == 1);
}

constexpr std::string_view second_answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

}  // namespace

TEST_SUITE("upstream pool") {
  TEST_CASE("a quiet connection goes back to the pool and carries the next request") {
    Backend backend;
    auto [connection, peer] = backend.connect();
    CHECK(connection->leftover() == UpstreamConnection::Leftover::nothing);
    backend.pool.release(connection);
    auto again = backend.pool.acquire(backend.replica());
    CHECK(again == connection);
    CHECK(again->reused);
    CHECK(backend.dropped("unexpected_bytes") == 0);
    CHECK(backend.dropped("closed_by_backend") == 0);
  }

  TEST_CASE("bytes behind the end of an answer keep the connection out of the pool, and are counted") {
    Backend backend;
    auto [connection, peer] = backend.connect();
    boost::asio::write(peer, boost::asio::buffer(second_answer));
    wait_readable(*connection);
    CHECK(connection->leftover() == UpstreamConnection::Leftover::bytes);
    backend.pool.release(connection);
    CHECK(backend.pool.acquire(backend.replica()) == nullptr);
    CHECK(backend.dropped("unexpected_bytes") == 1);
    CHECK(backend.dropped("closed_by_backend") == 0);
  }

  TEST_CASE("bytes the connection's read buffer already holds count as well") {
    Backend backend;
    auto [connection, peer] = backend.connect();
    auto& buffer = connection->buffer();
    buffer.commit(boost::asio::buffer_copy(buffer.prepare(second_answer.size()), boost::asio::buffer(second_answer)));
    backend.pool.release(connection);
    CHECK(backend.pool.acquire(backend.replica()) == nullptr);
    CHECK(backend.dropped("unexpected_bytes") == 1);
  }

  TEST_CASE("bytes that arrive while the connection is idle are found before it is reused") {
    Backend backend;
    auto [connection, peer] = backend.connect();
    backend.pool.release(connection);
    boost::asio::write(peer, boost::asio::buffer(second_answer));
    wait_readable(*connection);
    CHECK(backend.pool.acquire(backend.replica()) == nullptr);
    CHECK(backend.dropped("unexpected_bytes") == 1);
    CHECK_FALSE(connection->tcp().socket().is_open());
  }

  TEST_CASE("a connection the backend closed or reset while idle is found before a request is sent on it") {
    Backend backend;
    auto [closed, closed_peer] = backend.connect();
    auto [reset, reset_peer] = backend.connect();
    backend.pool.release(closed);
    backend.pool.release(reset);
    closed_peer.close();
    reset_peer.set_option(boost::asio::socket_base::linger(true, 0));  // closing sends a reset
    reset_peer.close();
    wait_readable(*closed);
    wait_readable(*reset);
    CHECK(backend.pool.acquire(backend.replica()) == nullptr);
    CHECK(backend.dropped("closed_by_backend") == 2);
    CHECK(backend.dropped("unexpected_bytes") == 0);
  }

  TEST_CASE("a reload carries health, check counts and circuit state over by backend name and replica URL") {
    GatewayMetrics metrics;
    const auto before = config_with(backend_yaml("b", {9001, 9002}) + backend_yaml("c", {9001}));
    auto old_states = states_of(*before, metrics, nullptr);
    const auto now = std::chrono::steady_clock::now();
    ReplicaState& down = *old_states[0]->replicas[0];
    down.record_check(false);
    down.record_check(false);
    REQUIRE_FALSE(down.healthy());
    down.record_check(true);  // one of the two passes that bring it back
    ReplicaState& failing = *old_states[0]->replicas[1];
    failing.record_failure(now);
    failing.record_failure(now);
    REQUIRE(failing.circuit_open(now));

    const auto after =
        config_with(backend_yaml("b", {9002, 9001, 9003}) + backend_yaml("c", {9001}) + backend_yaml("d", {9001}));
    auto states = states_of(*after, metrics, &old_states);
    auto replica = [&](std::size_t backend, int port) -> ReplicaState& {
      for (auto& r : states[backend]->replicas)
        if (r->config().port == port) return *r;
      FAIL("no replica on port " << port);
      throw std::logic_error("unreachable");
    };
    CHECK_FALSE(replica(0, 9001).healthy());
    CHECK(replica(0, 9002).circuit_open(now));
    CHECK_FALSE(replica(0, 9002).admit(now));
    CHECK(replica(0, 9003).available(now));   // new: healthy, circuit closed
    CHECK(replica(1, 9001).available(now));   // the same URL under backend c, which was never down
    CHECK(replica(2, 9001).available(now));   // a new backend: nothing to carry
    // The pass counted before the reload still counts: one more brings the replica back.
    CHECK(replica(0, 9001).record_check(true));
    CHECK(replica(0, 9001).healthy());
  }

  TEST_CASE("what the configuration in force learns after a reload's states are built is what the reload starts from") {
    // A reload is built, then waits for its host-name lookups (up to 10 s) while the configuration
    // in force goes on checking and serving: the reload, once installed, must not start from what
    // was known when it was built.
    GatewayMetrics metrics;
    const auto config = config_with(backend_yaml("b", {9001, 9002}));
    auto old_states = states_of(*config, metrics, nullptr);
    auto states = states_of(*config, metrics, &old_states);
    const auto now = std::chrono::steady_clock::now();
    ReplicaState& went_down = *old_states[0]->replicas[0];
    went_down.record_check(false);
    went_down.record_check(false);
    ReplicaState& failing = *old_states[0]->replicas[1];
    failing.record_failure(now);
    failing.record_failure(now);
    CHECK_FALSE(states[0]->replicas[0]->healthy());
    CHECK_FALSE(states[0]->replicas[1]->admit(now));
    // And back: the checks the old configuration counts bring it back in the new one too.
    went_down.record_check(true);
    went_down.record_check(true);
    CHECK(states[0]->replicas[0]->available(now));
    // A request still finishing on the old configuration counts in the new one's circuit breaker.
    failing.record_success();
    CHECK(states[0]->replicas[1]->admit(now));
  }
}
