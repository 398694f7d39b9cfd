#include "accel/compute/backend_factory.hpp"

#include <charconv>
#include <new>

#include "accel/compute/cpu_backend.hpp"
#include "accel/compute/devices.hpp"
#include "accel/compute/thread_pool.hpp"

namespace sovereign::accel::compute {
namespace {

std::variant<std::unique_ptr<ForwardBackend>, std::string> make_cpu_backend(const ModelConfig& config,
                                                                            const ModelWeights& weights,
                                                                            const BackendPlan& plan,
                                                                            std::string* option_at_fault) {
  CpuBackendOptions options;
  options.threads = plan.threads;
  options.kv_pages = plan.kv_pages;
  options.max_step_tokens = plan.max_step_tokens;
  options.max_logit_rows = plan.max_logit_rows;
  try {
    return std::make_unique<CpuBackend>(config, weights, options);
  } catch (const std::bad_alloc&) {
    return "cannot allocate " + std::to_string(CpuBackend::planned_bytes(config, options) >> 20) +
           " MiB for activations and the KV cache; lower context_length or max_batch";
  } catch (const ThreadStartError& e) {
    if (option_at_fault != nullptr) *option_at_fault = "threads";
    return std::string(e.what()) + "; lower 'threads'";
  }
}

}  // namespace

std::variant<DeviceChoice, std::string> choose_device(const std::string& device) {
  if (device == "cpu") return DeviceChoice{};
  if (device == "cuda") return choose_device("cuda:0");
  if (device == "auto") {
    const DeviceReport report = list_devices();
    if (report.gpus.empty()) return DeviceChoice{};
    return DeviceChoice{true, report.gpus.front().index};
  }
  constexpr std::string_view kCudaPrefix = "cuda:";
  if (device.rfind(kCudaPrefix, 0) == 0) {
    int index = -1;
    const char* first = device.data() + kCudaPrefix.size();
    const char* last = device.data() + device.size();
    auto [end, error] = std::from_chars(first, last, index);
    if (error != std::errc() || end != last || index < 0)
      return "device '" + device + "': expected cuda:N with N a GPU index";
    const DeviceReport report = list_devices();
    if (static_cast<std::size_t>(index) >= report.gpus.size())
      return "device '" + device + "' is not available: " +
             (report.gpus.empty() ? report.note : std::to_string(report.gpus.size()) + " GPU(s) found");
    return DeviceChoice{true, index};
  }
  return "device '" + device + "': expected auto, cpu, cuda or cuda:N";
}

std::variant<std::unique_ptr<ForwardBackend>, std::string> make_backend(const std::string& device,
                                                                        const ModelConfig& config,
                                                                        const ModelWeights& weights,
                                                                        const BackendPlan& plan,
                                                                        std::string* option_at_fault) {
  auto chosen = choose_device(device);
  if (auto* error = std::get_if<std::string>(&chosen)) return *error;
  const DeviceChoice& choice = std::get<DeviceChoice>(chosen);
  if (!choice.cuda) return make_cpu_backend(config, weights, plan, option_at_fault);
  return make_cuda_backend(choice.gpu_index, config, weights, plan);
}

}  // namespace sovereign::accel::compute
