// Paged KV cache bookkeeping: reservations cap what a slot may take; releases return everything.
#include <doctest/doctest.h>

#include <set>
#include <stdexcept>

#include "accel/compute/kv_pages.hpp"

using sovereign::accel::compute::KvPageTable;
using sovereign::accel::compute::kKvPageTokens;

TEST_CASE("a reservation larger than the unpromised pages is refused") {
  KvPageTable table(10, 3);
  CHECK(table.reserve(0, 6));
  CHECK_FALSE(table.reserve(1, 5));
  CHECK(table.reserve(1, 4));
  CHECK(table.pages_promised() == 10);
  table.release(0);
  CHECK(table.reserve(2, 6));
}

TEST_CASE("growing takes whole pages, distinct across slots, and never past the reservation") {
  KvPageTable table(8, 2);
  REQUIRE(table.reserve(0, 3));
  REQUIRE(table.reserve(1, 2));
  table.grow(0, 1);
  CHECK(table.pages(0).size() == 1);
  table.grow(0, kKvPageTokens + 1);
  table.grow(1, 2 * kKvPageTokens);
  CHECK(table.pages(0).size() == 2);
  CHECK(table.pages(1).size() == 2);
  std::set<int> distinct(table.pages(0).begin(), table.pages(0).end());
  distinct.insert(table.pages(1).begin(), table.pages(1).end());
  CHECK(distinct.size() == 4);
  CHECK(table.pages_in_use() == 4);
  CHECK_THROWS_AS(table.grow(1, 2 * kKvPageTokens + 1), std::logic_error);
  table.release(0);
  table.release(1);
  CHECK(table.pages_in_use() == 0);
  CHECK(table.pages_promised() == 0);
}
