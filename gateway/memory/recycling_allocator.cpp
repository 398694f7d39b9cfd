#include "gateway/memory/recycling_allocator.hpp"

#include <array>
#include <utility>

namespace sovereign::gateway {
namespace {

// Size classes: 64-byte steps up to 1 KiB (header fields, small objects), then powers of two up
// to 16 KiB (exchanges, forwarders). Larger blocks are not cached.
constexpr std::size_t step = 64;
constexpr std::size_t small_classes = 1024 / step;  // 64, 128, ..., 1024
constexpr std::size_t large_classes = 4;            // 2048, 4096, 8192, 16384
constexpr std::size_t class_count = small_classes + large_classes;
constexpr std::size_t no_class = class_count;
// What one thread keeps at most; beyond it freed blocks go back to the general allocator.
constexpr std::size_t max_cached_bytes = 4u << 20;

constexpr std::size_t class_of(std::size_t bytes) {
  if (bytes <= small_classes * step) return bytes == 0 ? 0 : (bytes - 1) / step;
  std::size_t size = 2048;
  for (std::size_t c = small_classes; c < class_count; ++c, size *= 2)
    if (bytes <= size) return c;
  return no_class;
}

constexpr std::size_t class_bytes(std::size_t c) {
  return c < small_classes ? (c + 1) * step : std::size_t{2048} << (c - small_classes);
}

static_assert(class_of(1) == 0 && class_of(64) == 0 && class_of(65) == 1 && class_of(1024) == small_classes - 1);
static_assert(class_of(1025) == small_classes && class_bytes(small_classes) == 2048);
static_assert(class_of(16384) == class_count - 1 && class_of(16385) == no_class);

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so still readable while (and after) the thread's cache is destroyed.
thread_local bool cache_gone = false;

struct Cache {
  std::array<FreeBlock*, class_count> free{};
  std::size_t cached_bytes = 0;

  ~Cache() {
    cache_gone = true;
    for (FreeBlock*& head : free)
      while (head != nullptr) ::operator delete(std::exchange(head, head->next));
  }
};

thread_local Cache cache;

}  // namespace

void* recycled_allocate(std::size_t bytes) {
  std::size_t c = class_of(bytes);
  if (c == no_class) return ::operator new(bytes);
  if (!cache_gone) {
    if (FreeBlock* block = cache.free[c]) {
      cache.free[c] = block->next;
      cache.cached_bytes -= class_bytes(c);
      return block;
    }
  }
  // Always the whole class size: the block may later be cached and handed out for any request
  // of its class.
  return ::operator new(class_bytes(c));
}

void recycled_deallocate(void* block, std::size_t bytes) noexcept {
  std::size_t c = class_of(bytes);
  if (c == no_class || cache_gone || cache.cached_bytes + class_bytes(c) > max_cached_bytes) {
    ::operator delete(block);
    return;
  }
  cache.free[c] = new (block) FreeBlock{cache.free[c]};
  cache.cached_bytes += class_bytes(c);
}

}  // namespace sovereign::gateway
