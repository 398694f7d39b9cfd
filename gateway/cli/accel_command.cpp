#include "gateway/cli/accel_command.hpp"

#include <charconv>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <string_view>
#include <variant>

#include "accel/compute/bench.hpp"
#include "accel/compute/devices.hpp"
#include "accel/compute/synthetic_model.hpp"
#include "accel/compute/thread_pool.hpp"
#include "accel/tokenizer/utf8.hpp"
#include "gateway/cli/arguments.hpp"
#include "gateway/cli/number_option.hpp"

namespace sovereign::gateway {
namespace {

constexpr const char* kUsage = R"(usage: sovereign accel devices
       sovereign accel bench (--model FILE | --shape NAME [--type TYPE]) [options]

bench options:
  --model FILE        a GGUF model file
  --shape NAME        a synthetic model of a published shape (weights do not change speed)
  --type TYPE         weight type of a synthetic shape: f32 f16 bf16 q8_0 q4_0 q4_k q6_k
                      (default bf16)
  --device DEVICE     cpu | cuda (cuda:0) | cuda:N | auto (default cpu)
  --threads N         CPU threads, at most 1024 (default: all)
  --prefill N         prompt tokens in the prefill measurement (default 128)
  --batches LIST      decode batch sizes, comma-separated (default 1,8,64)
  --steps N           timed decode steps per batch size, best one reported (default 4)
  --temperature T     decode sampling, timed where the device samples (CUDA): 0 is greedy
  --top-p P           (default 0 and 1: greedy; the CPU backend's host-side sampling is not timed)
  --top-k K
  --gemv-input KIND   CUDA GEMVs (steps of 1-4 tokens) of quantized weights: int16 (the input
                      coded in 16-bit integers per 32 values, the default) or float (to compare)
)";

const CommandUsage accel_usage("sovereign accel", kUsage);

int usage_error(const std::string& message) { return accel_usage.error(message); }

std::optional<float> parse_float(const std::string& text) {
  float value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An int option's value in [min, INT_MAX], or the usage error saying why not (naming the bound it is past).
std::variant<int, std::string> parse_int_option(std::string_view what, std::string_view text, int min) {
  auto parsed = parse_whole_number(what, text, static_cast<std::uint64_t>(min),
                                   static_cast<std::uint64_t>(std::numeric_limits<int>::max()));
  if (auto* problem = std::get_if<std::string>(&parsed)) return *problem;
  return static_cast<int>(std::get<std::uint64_t>(parsed));
}

std::string gigabytes(double bytes) {
  char out[32];
  std::snprintf(out, sizeof out, "%.2f GB", bytes / 1e9);
  return out;
}

int run_devices() {
  const accel::DeviceReport report = accel::list_devices();
  if (report.gpus.empty()) {
    std::cout << "no GPUs: " << report.note << "\nthe engine runs on the CPU (device: cpu)\n";
    return 0;
  }
  for (const accel::GpuDevice& gpu : report.gpus) {
    std::printf("cuda:%d  %s  %s total, %s free, compute capability %d.%d\n", gpu.index, gpu.name.c_str(),
                gigabytes(static_cast<double>(gpu.total_memory_bytes)).c_str(),
                gigabytes(static_cast<double>(gpu.free_memory_bytes)).c_str(), gpu.compute_major, gpu.compute_minor);
  }
  return 0;
}

int run_bench(std::span<const std::string> args) {
  auto parsed = accel_usage.parse(args, ArgumentSpec()
                                            .takes_values({"--model", "--shape", "--type", "--device", "--threads",
                                                           "--prefill", "--steps", "--temperature", "--top-p", "--top-k",
                                                           "--batches", "--gemv-input"})
                                            .at_most(0));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  accel::compute::BenchOptions options;
  options.model_file = arguments.value("--model").value_or("");
  options.shape = arguments.value("--shape").value_or("");
  options.device = arguments.value("--device").value_or(options.device);
  if (auto value = arguments.value("--type")) {
    std::optional<accel::gguf::TensorType> type = accel::gguf::tensor_type_from_name(value->c_str());
    if (!type) return usage_error("unknown --type '" + *value + "'");
    options.type = *type;
  }
  for (auto [flag, target] : {std::pair{"--threads", &options.threads}, std::pair{"--prefill", &options.prefill_tokens},
                              std::pair{"--steps", &options.decode_steps}}) {
    if (auto value = arguments.value(flag)) {
      auto n = parse_int_option(flag, *value, 1);
      if (auto* problem = std::get_if<std::string>(&n)) return usage_error(*problem);
      *target = std::get<int>(n);
    }
  }
  for (auto [flag, target] : {std::pair{"--temperature", &options.temperature}, std::pair{"--top-p", &options.top_p}}) {
    if (auto value = arguments.value(flag)) {
      std::optional<float> v = parse_float(*value);
      if (!v) return usage_error(std::string(flag) + " needs a number, got '" + *value + "'");
      *target = *v;
    }
  }
  if (options.threads > accel::compute::kMaxPoolThreads)
    return usage_error("--threads must be at most " + std::to_string(accel::compute::kMaxPoolThreads) + ", got " +
                       std::to_string(options.threads));
  if (auto value = arguments.value("--top-k")) {
    auto n = parse_int_option("--top-k", *value, 0);
    if (auto* problem = std::get_if<std::string>(&n)) return usage_error(*problem);
    options.top_k = std::get<int>(n);
  }
  if (auto value = arguments.value("--gemv-input")) {
    if (*value != "int16" && *value != "float") return usage_error("--gemv-input is int16 or float, got '" + *value + "'");
    options.gemv_float_input = *value == "float";
  }
  if (auto value = arguments.value("--batches")) {
    options.batches.clear();
    std::size_t start = 0;
    while (start <= value->size()) {
      const std::size_t comma = std::min(value->find(',', start), value->size());
      auto n = parse_int_option("--batches", std::string_view(*value).substr(start, comma - start), 1);
      if (auto* problem = std::get_if<std::string>(&n))
        return usage_error(*problem + " (--batches takes positive integers separated by commas)");
      options.batches.push_back(std::get<int>(n));
      start = comma + 1;
    }
  }
  if (options.model_file.empty() == options.shape.empty()) return usage_error("give exactly one of --model and --shape");

  auto result = accel::compute::run_bench(options);
  if (auto* error = std::get_if<std::string>(&result)) {
    std::cerr << "sovereign accel bench: " << *error << "\n";
    return 1;
  }
  const auto& r = std::get<accel::compute::BenchReport>(result);
  // The model's name is the file's general.name: untrusted text, shown escaped.
  std::printf("model      %s\n", accel::utf8::printable(r.model).c_str());
  std::printf("device     %s\n", r.device.c_str());
  std::printf("weights    %s read per forward step\n", gigabytes(static_cast<double>(r.weight_bytes_per_token)).c_str());
  std::printf("bandwidth  %s/s measured (%s)\n", gigabytes(r.bandwidth_bytes_per_second).c_str(), r.bandwidth_method.c_str());
  if (options.temperature > 0.0f)
    std::printf("sampling   temperature %g, top_p %g, top_k %d\n", options.temperature, options.top_p, options.top_k);
  else
    std::printf("sampling   greedy\n");
  std::printf("\n");
  std::printf("%-8s %6s %12s %10s %9s\n", "phase", "batch", "tokens/s", "step ms", "roofline");
  std::printf("%-8s %6d %12.1f %10s %9s\n", "prefill", options.prefill_tokens, r.prefill_tokens_per_second, "-", "-");
  for (const auto& d : r.decode)
    std::printf("%-8s %6d %12.1f %10.1f %8.0f%%\n", "decode", d.batch, d.tokens_per_second, d.step_seconds * 1e3,
                d.roofline_fraction * 100);
  std::printf("\nroofline: weight bytes per decode step / step time, as a share of the measured bandwidth\n");
  return 0;
}

}  // namespace

int run_accel_command(std::span<const std::string> args) {
  if (const auto answered = accel_usage.answer_without_subcommand(args)) return *answered;
  if (args[0] == "devices") {
    auto parsed = accel_usage.parse(args.subspan(1), ArgumentSpec().at_most(0));
    if (auto* answered = std::get_if<int>(&parsed)) return *answered;
    return run_devices();
  }
  if (args[0] == "bench") return run_bench(args.subspan(1));
  return usage_error("unknown subcommand '" + args[0] + "'");
}

}  // namespace sovereign::gateway
