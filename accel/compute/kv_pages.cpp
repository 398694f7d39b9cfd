#include "accel/compute/kv_pages.hpp"

#include <stdexcept>

namespace sovereign::accel::compute {

KvPageTable::KvPageTable(std::size_t total_pages, std::size_t slots)
    : total_pages_(total_pages), slot_pages_(slots), slot_reservation_(slots, 0) {
  free_pages_.reserve(total_pages);
  for (std::size_t i = total_pages; i > 0; --i) free_pages_.push_back(static_cast<std::int32_t>(i - 1));
}

bool KvPageTable::reserve(std::size_t slot, std::size_t pages) {
  if (promised_ + pages > total_pages_) return false;
  promised_ += pages;
  slot_reservation_[slot] = pages;
  return true;
}

void KvPageTable::grow(std::size_t slot, std::size_t tokens) {
  std::vector<std::int32_t>& owned = slot_pages_[slot];
  const std::size_t needed = pages_for_tokens(tokens);
  // The scheduler never asks beyond a reservation; reaching here would be an engine bug.
  if (needed > slot_reservation_[slot]) throw std::logic_error("KV cache growth beyond reservation");
  while (owned.size() < needed) {
    owned.push_back(free_pages_.back());
    free_pages_.pop_back();
  }
}

void KvPageTable::release(std::size_t slot) {
  for (std::int32_t page : slot_pages_[slot]) free_pages_.push_back(page);
  slot_pages_[slot].clear();
  promised_ -= slot_reservation_[slot];
  slot_reservation_[slot] = 0;
}

}  // namespace sovereign::accel::compute
