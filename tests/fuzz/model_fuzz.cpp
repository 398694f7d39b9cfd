// libFuzzer target: any byte string given to the model loader as a GGUF file must be refused with a
// message or load as a model whose forward pass runs: the hyper-parameters, tensor shapes and types
// checked at load must be all the CPU forward pass relies on, so no input may crash it, read outside
// the file or its buffers, or hang. Values the weights hold (NaN, infinities, huge numbers) are the
// model's own business: they may give meaningless logits, never undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>

#include "accel/compute/model_loader.hpp"
#include "forward_probe.hpp"

namespace compute = sovereign::accel::compute;
namespace gguf = sovereign::accel::gguf;

namespace {
volatile float g_sink;  // keeps the logits observable so the optimiser cannot drop the forward pass
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = gguf::File::parse(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  auto* file = std::get_if<gguf::File>(&parsed);
  if (file == nullptr) return 0;
  auto loaded = compute::load_model(std::move(*file));
  if (auto* model = std::get_if<std::unique_ptr<compute::LoadedModel>>(&loaded)) {
    g_sink = sovereign::accel::test::forward_probe(**model);
  } else if (std::get<std::string>(loaded).empty()) {
    __builtin_trap();  // a refusal always says why
  }
  return 0;
}
