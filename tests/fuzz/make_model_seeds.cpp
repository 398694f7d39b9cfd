// Writes the model_fuzz seeds: small GGUF models that load, one for each architecture feature and
// weight type the forward pass has a path for, written by the unit tests' model writer.
// usage: make_model_seeds DIR
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tiny_model.hpp"

using sovereign::accel::gguf::TensorType;
using sovereign::accel::test::TinyModelSpec;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_model_seeds DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const auto tiny = sovereign::accel::test::smallest_tiny_model;
  std::vector<std::pair<std::string, TinyModelSpec>> seeds;
  for (const auto& [name, type] : {std::pair{"f32", TensorType::f32}, {"f16", TensorType::f16},
                                   {"bf16", TensorType::bf16}, {"q8_0", TensorType::q8_0}, {"q4_0", TensorType::q4_0}})
    seeds.emplace_back(std::string("llama_") + name, tiny(type));
  TinyModelSpec qwen = tiny(TensorType::q8_0);
  qwen.architecture = "qwen2";
  seeds.emplace_back("qwen2_q8_0", qwen);
  TinyModelSpec tied = tiny(TensorType::f16);
  tied.tied_embeddings = true;
  seeds.emplace_back("llama_tied_f16", tied);
  TinyModelSpec rope = tiny(TensorType::q4_0);
  rope.rope_freqs = true;
  rope.rope_linear_factor = 2.0f;
  seeds.emplace_back("llama_rope_scaled_q4_0", rope);
  for (const auto& [name, spec] : seeds) {
    const std::filesystem::path path = dir / (name + ".gguf");
    if (const std::string error = sovereign::accel::test::write_tiny_model(path, spec); !error.empty()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), error.c_str());
      return 1;
    }
    std::printf("%s: %ju bytes\n", path.c_str(), static_cast<std::uintmax_t>(std::filesystem::file_size(path)));
  }
  return 0;
}
