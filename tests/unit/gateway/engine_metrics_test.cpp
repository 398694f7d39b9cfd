// Engine gauges in /metrics follow the engines that serve, and a network backend's or replica's
// series live as long as a configuration that has it: a backend removed by a reload leaves no frozen
// series behind.
#include <doctest/doctest.h>

#include "gateway/metrics/gateway_metrics.hpp"

using namespace sovereign::gateway;

TEST_SUITE("metrics") {
  TEST_CASE("the engine series of a backend no longer serving are removed at the next sample") {
    GatewayMetrics metrics;
    metrics.set_engines({{"kept", "cpu", 1, 2, 30, 0.5, 0}, {"removed", "cpu", 3, 4, 50, 0.25, 0}});
    std::string text = metrics.serialize();
    CHECK(text.find(R"(sovereign_engine_queue_depth{backend="kept",device="cpu"} 1)") != std::string::npos);
    CHECK(text.find(R"(sovereign_engine_tokens_per_second{backend="removed",device="cpu"} 50)") != std::string::npos);

    metrics.set_engines({{"kept", "cpu", 0, 1, 20, 0.125, 0}});
    text = metrics.serialize();
    CHECK(text.find(R"(sovereign_engine_queue_depth{backend="kept",device="cpu"} 0)") != std::string::npos);
    CHECK(text.find(R"(backend="removed")") == std::string::npos);

    // A backend that moves to another device keeps only its new series.
    metrics.set_engines({{"kept", "cuda:0", 0, 1, 20, 0.125, 1024}});
    text = metrics.serialize();
    CHECK(text.find(R"(sovereign_engine_gpu_memory_bytes{backend="kept",device="cuda:0"} 1024)") != std::string::npos);
    CHECK(text.find(R"(device="cpu")") == std::string::npos);

    metrics.set_engines({});
    CHECK(metrics.serialize().find("backend=\"kept\"") == std::string::npos);
  }

  TEST_CASE("a backend's and a replica's series last while a configuration holds them, values and all") {
    GatewayMetrics metrics;
    auto old_config = metrics.backend_series("b");
    auto replica = metrics.replica_series("b", "http://10.0.0.1:8000");
    old_config->retries.Increment(3);
    replica->healthy.Set(1);
    std::string text = metrics.serialize();
    CHECK(text.find(R"(sovereign_upstream_retries_total{backend="b"} 3)") != std::string::npos);
    CHECK(text.find(R"(sovereign_upstream_pool_connections{backend="b",state="idle"} 0)") != std::string::npos);
    CHECK(text.find(R"(sovereign_upstream_healthy{backend="b",replica="http://10.0.0.1:8000"} 1)") != std::string::npos);

    // A reload that keeps the backend: the new configuration shares its series; the old one going
    // away removes nothing.
    auto new_config = metrics.backend_series("b");
    CHECK(new_config == old_config);
    old_config.reset();
    CHECK(metrics.serialize().find(R"(sovereign_upstream_retries_total{backend="b"} 3)") != std::string::npos);

    // The last holder gone (a reload removed the replica, then the backend): their series go.
    replica.reset();
    CHECK(metrics.serialize().find("replica=") == std::string::npos);
    new_config.reset();
    text = metrics.serialize();
    CHECK(text.find(R"(backend="b")") == std::string::npos);

    auto again = metrics.backend_series("b");
    CHECK(again->retries.Value() == 0);  // a backend added back starts afresh
  }

  TEST_CASE("a backend's request counts and durations last while a configuration holds it, then go") {
    GatewayMetrics metrics;
    auto kept = metrics.request_series("kept");
    auto dropped = metrics.request_series("dropped");
    metrics.request_finished("t", "m", "kept", 200, 0.01);
    metrics.request_finished("t", "m2", "dropped", 200, 0.01);
    metrics.request_finished("t", "m2", "dropped", 503, 0.02);
    metrics.request_finished("", "", "", 401, 0.001);  // refused before any backend
    std::string text = metrics.serialize();
    CHECK(text.find(R"(sovereign_http_requests_total{backend="dropped",model="m2",status="503",tenant="t"} 1)") !=
          std::string::npos);

    // A reload that keeps "dropped" shares its series; the last holder gone, they go, and the cached
    // series of this thread are not used again.
    auto reloaded = metrics.request_series("dropped");
    CHECK(reloaded == dropped);
    dropped.reset();
    CHECK(metrics.serialize().find(R"(backend="dropped")") != std::string::npos);
    reloaded.reset();
    text = metrics.serialize();
    CHECK(text.find(R"(backend="dropped")") == std::string::npos);
    CHECK(text.find(R"(sovereign_http_requests_total{backend="kept",model="m",status="200",tenant="t"} 1)") !=
          std::string::npos);
    CHECK(text.find(R"(sovereign_http_requests_total{backend="",model="",status="401",tenant=""} 1)") != std::string::npos);
    metrics.request_finished("t", "m", "kept", 200, 0.01);
    CHECK(metrics.serialize().find(R"(sovereign_http_requests_total{backend="kept",model="m",status="200",tenant="t"} 2)") !=
          std::string::npos);

    // Added back, it counts afresh.
    auto again = metrics.request_series("dropped");
    metrics.request_finished("t", "m2", "dropped", 200, 0.01);
    text = metrics.serialize();
    CHECK(text.find(R"(sovereign_http_requests_total{backend="dropped",model="m2",status="200",tenant="t"} 1)") !=
          std::string::npos);
    CHECK(text.find(R"(status="503")") == std::string::npos);
  }
}
