// The per-thread recycling allocator and swept deadlines: the small pieces the hot path rests on.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/http/messages.hpp"
#include "gateway/memory/callback.hpp"
#include "gateway/memory/recycling_allocator.hpp"
#include "gateway/net/deadline.hpp"

using namespace sovereign::gateway;

TEST_SUITE("memory") {
  TEST_CASE("a freed block is handed out again for a request of its size class") {
    RecyclingAllocator<char> allocator;
    char* first = allocator.allocate(100);
    std::memset(first, 'x', 100);
    allocator.deallocate(first, 100);
    char* again = allocator.allocate(120);  // same 128-byte class
    CHECK(again == first);
    std::memset(again, 'y', 128);           // the whole class size is usable
    allocator.deallocate(again, 120);
    char* other = allocator.allocate(300);  // another class: not that block
    CHECK(other != first);
    allocator.deallocate(other, 300);
  }

  TEST_CASE("large blocks are not cached, and every size round-trips") {
    RecyclingAllocator<unsigned char> allocator;
    for (std::size_t size : {1u, 63u, 64u, 65u, 1023u, 1024u, 1025u, 2048u, 4097u, 16384u, 16385u, 1u << 20}) {
      CAPTURE(size);
      unsigned char* block = allocator.allocate(size);
      REQUIRE(block != nullptr);
      std::memset(block, 0xAB, size);
      allocator.deallocate(block, size);
    }
  }

  TEST_CASE("a block freed on another thread is safe to use there and here") {
    RecyclingAllocator<int> allocator;
    std::vector<int*> blocks;
    for (int i = 0; i < 64; ++i) blocks.push_back(allocator.allocate(10));
    std::thread other([&] {
      for (int* block : blocks) allocator.deallocate(block, 10);
      int* reused = allocator.allocate(10);  // from the other thread's cache
      reused[9] = 7;
      allocator.deallocate(reused, 10);
    });
    other.join();
    int* fresh = allocator.allocate(10);
    fresh[0] = 1;
    allocator.deallocate(fresh, 10);
  }

  TEST_CASE("Beast messages work with the recycling allocator") {
    HttpResponse response{boost::beast::http::status::ok, 11};
    for (int i = 0; i < 50; ++i) response.set("X-Field-" + std::to_string(i), std::string(static_cast<std::size_t>(i) * 7, 'v'));
    response.erase("X-Field-3");
    CHECK(response["X-Field-49"].size() == 343);
    CHECK(response.find("X-Field-3") == response.end());
    HttpResponse moved = std::move(response);
    CHECK(moved["X-Field-10"].size() == 70);
  }
}

TEST_SUITE("callback") {
  TEST_CASE("a callback holding a shared_ptr is copied, moved, called and cleared as std::function is") {
    auto owner = std::make_shared<int>(7);
    int calls = 0;
    Callback<int(int)> callback = [owner, &calls](int x) { return *owner + x + ++calls * 0; };
    REQUIRE(callback);
    CHECK(owner.use_count() == 2);
    CHECK(callback(3) == 10);
    Callback<int(int)> copy = callback;
    CHECK(owner.use_count() == 3);
    Callback<int(int)> moved = std::move(callback);
    CHECK(owner.use_count() == 3);
    CHECK_FALSE(callback);
    CHECK(callback == nullptr);
    CHECK(moved(1) == 8);
    copy = nullptr;
    CHECK(owner.use_count() == 2);
    moved = copy;  // assigning an empty one releases what it held
    CHECK(owner.use_count() == 1);
    CHECK(calls == 2);
  }

  TEST_CASE("a mutable callable keeps its state between calls, and a callable larger than the room is held too") {
    Callback<int()> counter = [n = 0]() mutable { return ++n; };
    CHECK(counter() == 1);
    CHECK(counter() == 2);
    auto owner = std::make_shared<int>(1);
    std::array<char, Callback<void()>::inline_bytes * 2> big{};
    big[0] = 'b';
    Callback<char()> large = [owner, big] { return big[0]; };
    CHECK(owner.use_count() == 2);
    Callback<char()> large_copy = large;
    CHECK(owner.use_count() == 3);
    Callback<char()> large_moved = std::move(large);
    CHECK(owner.use_count() == 3);
    CHECK(large_moved() == 'b');
    CHECK(large_copy() == 'b');
    large_moved = nullptr;
    large_copy = nullptr;
    CHECK(owner.use_count() == 1);
  }

  TEST_CASE("a callback takes move-constructed arguments and assigns a new callable over an old one") {
    auto first = std::make_shared<int>(1);
    auto second = std::make_shared<int>(2);
    Callback<std::size_t(std::string)> callback = [first](std::string s) { return s.size() + *first; };
    CHECK(callback(std::string(40, 'x')) == 41);
    callback = [second](std::string s) { return s.size() + *second; };
    CHECK(first.use_count() == 1);
    CHECK(second.use_count() == 2);
    CHECK(callback("ab") == 4);
  }
}

TEST_SUITE("deadline") {
  TEST_CASE("a deadline passes at its time, not before, and a cleared one never") {
    Deadline deadline;
    auto now = Deadline::coarse_now();
    CHECK_FALSE(deadline.passed(now + std::chrono::hours(24 * 365)));  // never set
    deadline.expires_at(now + std::chrono::seconds(5));
    CHECK_FALSE(deadline.passed(now + std::chrono::seconds(4)));
    CHECK(deadline.passed(now + std::chrono::seconds(5)));
    deadline.clear();
    CHECK_FALSE(deadline.passed(now + std::chrono::seconds(6)));
    deadline.expires_after(std::chrono::milliseconds(0));
    CHECK(deadline.passed(Deadline::coarse_now()));
  }

  TEST_CASE("the coarse clock is the steady clock, within its tick") {
    auto precise = Deadline::Clock::now();
    auto coarse = Deadline::coarse_now();
    CHECK(coarse <= precise + std::chrono::milliseconds(1));
    CHECK(coarse >= precise - std::chrono::milliseconds(50));
  }
}
