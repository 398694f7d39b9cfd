// Bookkeeping of the paged KV cache: which fixed-size pages each sequence slot owns, and how many
// pages admitted requests have been promised, so a running sequence never finds the cache full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sovereign::accel::compute {

inline constexpr int kKvPageTokens = 16;

class KvPageTable {
 public:
  KvPageTable(std::size_t total_pages, std::size_t slots);

  static std::size_t pages_for_tokens(std::size_t tokens) {
    return (tokens + kKvPageTokens - 1) / kKvPageTokens;
  }

  // Promises `pages` to `slot` (which must be empty) if they are not promised elsewhere.
  [[nodiscard]] bool reserve(std::size_t slot, std::size_t pages);
  // Makes the slot able to hold `tokens` positions, taking pages from its reservation.
  void grow(std::size_t slot, std::size_t tokens);
  // Returns the slot's pages and reservation to the pool.
  void release(std::size_t slot);

  std::span<const std::int32_t> pages(std::size_t slot) const { return slot_pages_[slot]; }
  std::size_t total_pages() const { return total_pages_; }
  std::size_t pages_in_use() const { return total_pages_ - free_pages_.size(); }
  std::size_t pages_promised() const { return promised_; }

 private:
  std::size_t total_pages_;
  std::vector<std::int32_t> free_pages_;
  std::vector<std::vector<std::int32_t>> slot_pages_;
  std::vector<std::size_t> slot_reservation_;
  std::size_t promised_ = 0;
};

}  // namespace sovereign::accel::compute
