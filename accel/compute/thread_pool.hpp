// A fixed set of worker threads that split index ranges of one kernel call between them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sovereign::accel::compute {

// Workers are created once (at model load) and reused for every kernel; the calling thread takes
// part in the work, so a pool of N threads starts N-1 workers.
class ThreadPool {
 public:
  // threads <= 0 means one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return workers_.size() + 1; }

  // Calls body(begin, end) over disjoint chunks covering [0, count) and returns when all are done.
  void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t)>& body);

 private:
  void worker_loop(std::size_t index);
  void run_share(std::size_t share);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(std::size_t, std::size_t)>* body_ = nullptr;
  std::size_t count_ = 0;
  std::size_t generation_ = 0;
  std::size_t pending_ = 0;
  bool stopping_ = false;
};

}  // namespace sovereign::accel::compute
