#pragma once
// An allocator that keeps freed blocks in per-thread caches, by size class, for the next request.
//
// A request allocates the same few dozen blocks every time (Beast's header fields, the exchange,
// the forwarder) and frees them a moment later, 32 and more requests interleaved per worker.
// glibc's per-thread cache holds only 7 blocks per size, so most of these went through the
// general allocator (about a fifth of a worker's CPU time, measured). Asio's recycling_allocator
// has the same idea with a cache of two blocks; std::pmr pools may not be freed from another
// thread. Here any thread may free a block: it goes to that thread's cache.
#include <cstddef>
#include <new>

namespace sovereign::gateway {

void* recycled_allocate(std::size_t bytes);
void recycled_deallocate(void* block, std::size_t bytes) noexcept;

template <class T>
class RecyclingAllocator {
 public:
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned types are not supported");
  using value_type = T;

  RecyclingAllocator() noexcept = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) { return static_cast<T*>(recycled_allocate(n * sizeof(T))); }
  void deallocate(T* block, std::size_t n) noexcept { recycled_deallocate(block, n * sizeof(T)); }

  template <class U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;  // every instance can free what any other allocated
  }
};

}  // namespace sovereign::gateway
