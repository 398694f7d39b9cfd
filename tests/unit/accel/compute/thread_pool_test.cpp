// The thread pool hands every index of every call to exactly one thread, whatever the count, the
// number of threads and how quickly calls follow each other (workers spinning or asleep).
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "accel/compute/thread_pool.hpp"

using sovereign::accel::compute::ThreadPool;
using sovereign::accel::compute::ThreadStartError;

namespace {

// Runs one call and checks that [0, count) was covered exactly once, in ranges inside it.
void check_covered(ThreadPool& pool, std::size_t count) {
  std::vector<std::atomic<int>> hits(count);
  std::atomic<bool> bad_range{false};
  pool.parallel_for(count, [&](std::size_t begin, std::size_t end) {
    if (begin >= end || end > count) bad_range = true;
    for (std::size_t i = begin; i < end && i < count; ++i) hits[i].fetch_add(1);
  });
  CHECK_FALSE(bad_range.load());
  std::size_t wrong = 0;
  for (auto& h : hits) wrong += h.load() != 1;
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("every index of every call is run exactly once, for any count and thread count") {
  for (int threads : {1, 2, 3, 5}) {
    CAPTURE(threads);
    ThreadPool pool(threads);
    CHECK(pool.size() == static_cast<std::size_t>(threads));
    for (std::size_t count : {0u, 1u, 2u, 3u, 7u, 16u, 100u, 1000u, 8017u}) {
      CAPTURE(count);
      check_covered(pool, count);
    }
  }
}

TEST_CASE("thousands of back-to-back calls, as in a decode step, never lose or repeat work") {
  ThreadPool pool(3);
  std::atomic<std::uint64_t> total{0};
  std::uint64_t expected = 0;
  for (std::size_t call = 0; call < 20000; ++call) {
    const std::size_t count = 1 + call % 37;
    expected += count * (count - 1) / 2;
    pool.parallel_for(count, [&](std::size_t begin, std::size_t end) {
      std::uint64_t sum = 0;
      for (std::size_t i = begin; i < end; ++i) sum += i;
      total.fetch_add(sum);
    });
  }
  CHECK(total.load() == expected);
}

TEST_CASE("workers that went to sleep wake for the next call, and the pool stops cleanly") {
  ThreadPool pool(2);
  check_covered(pool, 64);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the polling time: workers sleep
  // The worker must take part again: the body waits (boundedly) until two threads are inside it.
  std::atomic<int> inside{0};
  std::atomic<bool> met{false};
  pool.parallel_for(2, [&](std::size_t, std::size_t) {
    inside.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (inside.load() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    if (inside.load() == 2) met = true;
  });
  CHECK(met.load());
  check_covered(pool, 1000);
}

TEST_CASE("a pool that cannot start all its threads stops those it started and says why") {
  // As std::thread does when the process limit is reached: the fourth worker fails with EAGAIN.
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  const auto start_three = [&](std::function<void()> body) {
    if (started.load() == 3) throw std::system_error(EAGAIN, std::generic_category(), "pthread_create");
    started.fetch_add(1);
    return std::thread([&finished, body = std::move(body)] {
      body();
      finished.fetch_add(1);
    });
  };
  std::string message;
  try {
    ThreadPool pool(8, start_three);
  } catch (const ThreadStartError& e) {
    message = e.what();
  }
  CHECK(message == "cannot start 8 CPU threads (" + std::generic_category().message(EAGAIN) + ")");
  // The three workers were told to stop and joined before the error left the constructor.
  CHECK(started.load() == 3);
  CHECK(finished.load() == 3);

  // The first thread failing leaves nothing behind either, and a later pool starts normally.
  started = 3;
  CHECK_THROWS_AS(ThreadPool(2, start_three), ThreadStartError);
  ThreadPool pool(3);
  check_covered(pool, 100);
}
