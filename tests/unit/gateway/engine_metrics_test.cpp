// Engine gauges in /metrics follow the engines that serve: a backend removed by a reload leaves no
// frozen series behind.
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
}
