// A CUDA injection library that records when every kernel ran, for the timeline of a decode step:
// nvidia's own timeline tool (nsys) cannot write a report on the lent GPU machines, and Nsight
// Compute serialises kernels, hiding the overlap that programmatic dependent launch gives inside a
// captured graph. CUPTI's activity records keep the real start and end of each kernel, graph nodes
// included.
//
//   CUDA_INJECTION64_PATH=build/tests/bench/libkernel_trace.so KERNEL_TRACE=trace.txt PROGRAM ...
//
// The CUDA driver loads the library at the program's first CUDA call and calls InitializeInjection.
// At exit the records go to $KERNEL_TRACE (default kernel_trace.txt), one kernel per line:
//   start_ns end_ns registers_per_thread grid_x grid_y block_x mangled_name
// tests/bench/gpu/kernel_timeline.py turns them into a per-step table.
#include <cupti.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kBufferBytes = std::size_t{8} << 20;
constexpr std::size_t kMaxRecords = 4'000'000;  // about 400 MB of lines at most, then recording stops

std::mutex records_lock;
std::vector<std::string> records;
bool records_dropped = false;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid_bytes) {
  std::lock_guard<std::mutex> guard(records_lock);
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid_bytes, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
    if (records.size() >= kMaxRecords) {
      records_dropped = true;
      continue;
    }
    const auto* kernel = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
    char line[2048];
    std::snprintf(line, sizeof line, "%llu %llu %u %d %d %d %s\n", static_cast<unsigned long long>(kernel->start),
                  static_cast<unsigned long long>(kernel->end), static_cast<unsigned>(kernel->registersPerThread),
                  kernel->gridX, kernel->gridY, kernel->blockX, kernel->name != nullptr ? kernel->name : "?");
    records.emplace_back(line);
  }
  std::free(buffer);
}

void write_records() {
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  const char* path = std::getenv("KERNEL_TRACE");
  if (path == nullptr) path = "kernel_trace.txt";
  std::FILE* out = std::fopen(path, "w");
  if (out == nullptr) {
    std::fprintf(stderr, "kernel_trace: cannot write %s\n", path);
    return;
  }
  std::lock_guard<std::mutex> guard(records_lock);
  for (const std::string& line : records) std::fputs(line.c_str(), out);
  std::fclose(out);
  if (records_dropped) std::fprintf(stderr, "kernel_trace: stopped after %zu kernels\n", kMaxRecords);
}

}  // namespace

extern "C" int InitializeInjection() {
  if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
      cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
    std::fprintf(stderr, "kernel_trace: CUPTI activity tracing is not available\n");
    return 0;
  }
  std::atexit(write_records);
  return 1;
}
