// A fixed set of worker threads that split index ranges of one kernel call between them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sovereign::accel::compute {

// The pool could not start all its threads (the process or user thread limit, or memory for their
// stacks); what() says how many were asked for and why the system refused.
class ThreadStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The most threads a pool is asked for by the engine's `threads` setting or `accel bench --threads`:
// far beyond any machine's cores, and low enough that the stacks of so many threads fit.
inline constexpr int kMaxPoolThreads = 1024;

// Starts one worker thread; throws std::system_error as std::thread does when it cannot.
using ThreadStarter = std::function<std::thread(std::function<void()>)>;

// Workers are created once (at model load) and reused for every kernel; the calling thread takes
// part in the work, so a pool of N threads starts N-1 workers.
//
// A decode step is a hundred or so short kernel calls, so how fast a worker joins matters as much as
// how it splits the work: the index range is handed out in small grains from a shared counter (a
// worker that is late, or shares its core, takes fewer; no one waits for a fixed share), and an
// idle worker spins briefly on the job word before it sleeps, so the next call of the same step
// finds it awake.
class ThreadPool {
 public:
  // threads <= 0 means one per hardware thread. Throws ThreadStartError when a thread cannot be
  // started, after stopping and joining those that were; `start_thread` replaces std::thread's
  // constructor (tests make it fail).
  explicit ThreadPool(int threads, const ThreadStarter& start_thread = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return workers_.size() + 1; }

  // Calls body(begin, end) over disjoint ranges covering [0, count) and returns when all are done.
  void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t)>& body);

 private:
  void worker_loop();
  void stop_workers();
  void run_grains();
  // Waits until the job word names a job newer than `last`; false when the pool is stopping.
  bool wait_for_job(std::uint64_t last, std::uint64_t& state);

  // The job word: generation << 32 | closed bit << 31 | workers inside the job. A worker joins
  // by incrementing it while the job is open; the caller closes it once every grain is claimed
  // and no worker is inside, and only then may the job's fields change.
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 31;
  static constexpr std::uint64_t kInsideMask = kClosed - 1;
  std::atomic<std::uint64_t> job_{kClosed};
  const std::function<void(std::size_t, std::size_t)>* body_ = nullptr;
  std::size_t count_ = 0;
  std::size_t grain_ = 1;
  std::atomic<std::size_t> next_{0};

  std::vector<std::thread> workers_;
  std::mutex mutex_;  // sleeping workers only
  std::condition_variable work_ready_;
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace sovereign::accel::compute
