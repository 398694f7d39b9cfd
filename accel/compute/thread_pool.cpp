#include "accel/compute/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SOVEREIGN_CPU_RELAX() _mm_pause()
#else
#define SOVEREIGN_CPU_RELAX() std::this_thread::yield()
#endif

namespace sovereign::accel::compute {
namespace {

// How long an idle worker polls before it sleeps: longer than the gaps between the kernel calls of
// one step, far shorter than the gaps between requests.
constexpr std::chrono::microseconds kSpinTime{100};
// Grains per thread: small enough that a late thread costs little, large enough that claiming one
// (an atomic increment) is noise next to the work in it.
constexpr std::size_t kGrainsPerThread = 8;

std::uint64_t generation_of(std::uint64_t state) { return state >> 32; }

}  // namespace

ThreadPool::ThreadPool(int threads, const ThreadStarter& start_thread) {
  std::size_t n = threads > 0 ? static_cast<std::size_t>(threads)
                              : std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n - 1);
  try {
    for (std::size_t i = 1; i < n; ++i) {
      std::function<void()> body = [this] { worker_loop(); };
      workers_.push_back(start_thread ? start_thread(std::move(body)) : std::thread(std::move(body)));
    }
  } catch (const std::system_error& e) {
    // The destructor does not run for a constructor that throws, and a joinable std::thread that is
    // destroyed calls std::terminate: the workers already running are stopped and joined here.
    stop_workers();
    throw ThreadStartError("cannot start " + std::to_string(n) + " CPU threads (" + e.code().message() + ")");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_grains() {
  for (;;) {
    const std::size_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= count_) return;
    (*body_)(begin, std::min(count_, begin + grain_));
  }
}

void ThreadPool::parallel_for(std::size_t count,
                              const std::function<void(std::size_t, std::size_t)>& body) {
  if (count == 0) return;
  if (workers_.empty() || count == 1) {
    body(0, count);
    return;
  }
  // The previous job is closed, so no worker reads these fields now.
  body_ = &body;
  count_ = count;
  grain_ = std::max<std::size_t>(1, count / (size() * kGrainsPerThread));
  next_.store(0, std::memory_order_relaxed);
  const std::uint64_t generation = generation_of(job_.load(std::memory_order_relaxed)) + 1;
  job_.store(generation << 32);  // open, nobody inside (seq_cst: see wait_for_job)
  if (sleeping_.load() > 0) {
    std::lock_guard lock(mutex_);  // a worker between its check and its wait sees the new job
    work_ready_.notify_all();
  }
  run_grains();
  // Every grain is claimed; close the job once no worker is inside it (one may still be finishing
  // its last grain, or have joined just now and will find nothing left).
  std::uint64_t open = generation << 32;
  while (!job_.compare_exchange_weak(open, open | kClosed, std::memory_order_acq_rel)) {
    open = (open & ~kInsideMask) & ~kClosed;  // expect nobody inside
    SOVEREIGN_CPU_RELAX();
  }
}

bool ThreadPool::wait_for_job(std::uint64_t last, std::uint64_t& state) {
  const auto ready = [&](std::uint64_t now) { return generation_of(now) != last && (now & kClosed) == 0; };
  auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
  for (unsigned round = 1;; ++round) {
    state = job_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_relaxed)) return false;
    if (ready(state)) return true;
    if (round % 256 != 0 || std::chrono::steady_clock::now() < spin_until) {
      SOVEREIGN_CPU_RELAX();
      continue;
    }
    // Sleep. The job word and the sleeper count are read and written in sequentially consistent
    // order on both sides, so either parallel_for sees this worker asleep and wakes it, or the
    // worker sees the new job before it waits.
    std::unique_lock lock(mutex_);
    sleeping_.fetch_add(1);
    work_ready_.wait(lock, [&] { return stopping_.load() || ready(job_.load()); });
    sleeping_.fetch_sub(1);
    spin_until = std::chrono::steady_clock::now() + kSpinTime;
  }
}

void ThreadPool::worker_loop() {
  std::uint64_t last = 0;
  for (;;) {
    std::uint64_t state = 0;
    if (!wait_for_job(last, state)) return;
    // Join the job unless it closed (or a newer one opened) since it was seen.
    if (!job_.compare_exchange_strong(state, state + 1, std::memory_order_acq_rel)) continue;
    last = generation_of(state);
    run_grains();
    job_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace sovereign::accel::compute
