// Timestamps of log lines and audit records: RFC 3339 in UTC with milliseconds.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <regex>
#include <thread>

#include "gateway/log/access_log.hpp"

using namespace sovereign::gateway;

TEST_SUITE("log") {
  TEST_CASE("rfc3339_now is UTC with milliseconds and agrees with the clock, also across seconds") {
    const std::regex shape(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    for (int i = 0; i < 3; ++i) {
      auto before = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      std::string stamp = rfc3339_now();
      auto after = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      CHECK(std::regex_match(stamp, shape));
      std::tm parsed{};
      REQUIRE(strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%S", &parsed) != nullptr);
      auto seconds = timegm(&parsed);
      CHECK(seconds >= before);
      CHECK(seconds <= after);
      if (i < 2) std::this_thread::sleep_for(std::chrono::milliseconds(600));
    }
  }
}
