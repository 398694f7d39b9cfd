#include "accel/compute/synthetic_model.hpp"

#include <cstddef>
#include <cstring>
#include <new>

#include "accel/compute/block_formats.hpp"
#include "accel/gguf/quantize.hpp"

namespace sovereign::accel::compute {
namespace {

struct Shape {
  std::string_view name;
  Architecture architecture;
  int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, n_ff, context;
  float rope_theta;
  bool tied;
};

// Published hyper-parameters of each model family member.
constexpr Shape kShapes[] = {
    {"llama-3.2-1b", Architecture::llama, 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, true},
    {"llama-3.2-3b", Architecture::llama, 128256, 3072, 28, 24, 8, 8192, 131072, 500000.0f, true},
    {"llama-3.1-8b", Architecture::llama, 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f, false},
    {"mistral-7b", Architecture::llama, 32768, 4096, 32, 32, 8, 14336, 32768, 1000000.0f, false},
    {"tinyllama-1.1b", Architecture::llama, 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f, false},
    {"smollm2-135m", Architecture::llama, 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f, true},
    {"qwen2.5-0.5b", Architecture::qwen2, 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f, true},
    {"qwen2.5-7b", Architecture::qwen2, 152064, 3584, 28, 28, 4, 18944, 32768, 1000000.0f, false},
};

// Cheap deterministic filler: a 64-bit xorshift, bytes masked into valid small values per type.
class Filler {
 public:
  void fill(gguf::TensorType type, std::byte* out, std::size_t bytes) {
    switch (type) {
      case gguf::TensorType::f32:
        for (std::size_t i = 0; i + 4 <= bytes; i += 4) {
          const float v = static_cast<float>(static_cast<std::int32_t>(next() & 0xffff) - 0x8000) * 1e-6f;
          std::memcpy(out + i, &v, 4);
        }
        break;
      case gguf::TensorType::f16:
      case gguf::TensorType::bf16: {
        // Small magnitudes with random mantissa and sign; never NaN, Inf or subnormal.
        const std::uint16_t base = type == gguf::TensorType::f16 ? 0x2000 : 0x3c00;
        const std::uint16_t mask = type == gguf::TensorType::f16 ? 0x83ff : 0x807f;
        for (std::size_t i = 0; i + 2 <= bytes; i += 2) {
          const std::uint16_t v = static_cast<std::uint16_t>(base | (next() & mask));
          std::memcpy(out + i, &v, 2);
        }
        break;
      }
      default: {
        // Quantized blocks: random payload, then a small valid f16 scale at each block start.
        for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
          const std::uint64_t v = next();
          std::memcpy(out + i, &v, 8);
        }
        // Where each block keeps its f16 scales: at the start (q8_0, q4_0; q4_k's d and dmin), or at
        // the end (q6_k's d).
        std::size_t block = sizeof(BlockQ4_0);
        std::vector<std::size_t> scale_offsets{0};
        if (type == gguf::TensorType::q8_0) block = sizeof(BlockQ8_0);
        if (type == gguf::TensorType::q4_k) block = sizeof(BlockQ4_K), scale_offsets = {0, 2};
        if (type == gguf::TensorType::q6_k) block = sizeof(BlockQ6_K), scale_offsets = {offsetof(BlockQ6_K, d)};
        const std::uint16_t scale = gguf::float_to_half(1e-3f);
        for (std::size_t i = 0; i + block <= bytes; i += block)
          for (std::size_t offset : scale_offsets) std::memcpy(out + i + offset, &scale, 2);
      }
    }
  }

 private:
  std::uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  std::uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace

std::vector<std::string_view> synthetic_shape_names() {
  std::vector<std::string_view> names;
  for (const Shape& s : kShapes) names.push_back(s.name);
  return names;
}

std::variant<std::unique_ptr<SyntheticModel>, std::string> make_synthetic_model(std::string_view shape_name,
                                                                                gguf::TensorType type) {
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes)
    if (s.name == shape_name) shape = &s;
  if (shape == nullptr) {
    std::string known;
    for (std::string_view n : synthetic_shape_names()) known += (known.empty() ? "" : ", ") + std::string(n);
    return "unknown shape '" + std::string(shape_name) + "'; known shapes: " + known;
  }
  if (type != gguf::TensorType::f32 && type != gguf::TensorType::f16 && type != gguf::TensorType::bf16 &&
      type != gguf::TensorType::q8_0 && type != gguf::TensorType::q4_0 && type != gguf::TensorType::q4_k &&
      type != gguf::TensorType::q6_k)
    return std::string("--type must be f32, f16, bf16, q8_0, q4_0, q4_k or q6_k");

  auto model = std::make_unique<SyntheticModel>();
  ModelConfig& c = model->config;
  c.architecture = shape->architecture;
  c.name = std::string(shape->name) + " (synthetic)";
  c.n_vocab = shape->n_vocab;
  c.n_embd = shape->n_embd;
  c.n_layers = shape->n_layers;
  c.n_heads = shape->n_heads;
  c.n_kv_heads = shape->n_kv_heads;
  c.head_dim = shape->n_embd / shape->n_heads;
  c.n_ff = shape->n_ff;
  c.trained_context = shape->context;
  c.rope_theta = shape->rope_theta;
  c.rope_dims = c.head_dim;
  c.rope_style = shape->architecture == Architecture::qwen2 ? RopeStyle::neox : RopeStyle::adjacent_pairs;
  c.has_qkv_bias = shape->architecture == Architecture::qwen2;
  c.tied_embeddings = shape->tied;

  // The tensor list mirrors a GGUF file's, so binding reuses the file path's checks.
  const auto add = [&](std::string name, std::vector<std::uint64_t> dims, gguf::TensorType t) {
    std::uint64_t elements = 1;
    for (std::uint64_t d : dims) elements *= d;
    const std::uint64_t bytes = *gguf::bytes_for_elements(t, elements);
    model->storage.emplace_back(bytes);
    Filler().fill(t, model->storage.back().data(), bytes);
    gguf::TensorInfo info;
    info.name = std::move(name);
    info.dims = std::move(dims);
    info.type = t;
    info.n_bytes = bytes;
    info.data = std::span<const std::byte>(model->storage.back().data(), bytes);
    model->tensors.push_back(std::move(info));
  };
  const auto ones = [&](const std::string& name, int n) {
    add(name, {static_cast<std::uint64_t>(n)}, gguf::TensorType::f32);
    const std::vector<std::byte> one = gguf::quantize(gguf::TensorType::f32, std::vector<float>(static_cast<std::size_t>(n), 1.0f));
    std::memcpy(model->storage.back().data(), one.data(), one.size());
  };
  const auto u = [](int v) { return static_cast<std::uint64_t>(v); };
  try {
    add("token_embd.weight", {u(c.n_embd), u(c.n_vocab)}, type);
    ones("output_norm.weight", c.n_embd);
    if (!c.tied_embeddings) add("output.weight", {u(c.n_embd), u(c.n_vocab)}, type);
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      ones(p + "attn_norm.weight", c.n_embd);
      add(p + "attn_q.weight", {u(c.n_embd), u(c.q_dim())}, type);
      add(p + "attn_k.weight", {u(c.n_embd), u(c.kv_dim())}, type);
      add(p + "attn_v.weight", {u(c.n_embd), u(c.kv_dim())}, type);
      if (c.has_qkv_bias) {
        ones(p + "attn_q.bias", c.q_dim());
        ones(p + "attn_k.bias", c.kv_dim());
        ones(p + "attn_v.bias", c.kv_dim());
      }
      add(p + "attn_output.weight", {u(c.q_dim()), u(c.n_embd)}, type);
      ones(p + "ffn_norm.weight", c.n_embd);
      add(p + "ffn_gate.weight", {u(c.n_embd), u(c.n_ff)}, type);
      add(p + "ffn_up.weight", {u(c.n_embd), u(c.n_ff)}, type);
      add(p + "ffn_down.weight", {u(c.n_ff), u(c.n_embd)}, type);
    }
  } catch (const std::bad_alloc&) {
    return "not enough memory for the " + std::string(shape_name) + " weights";
  }
  const std::vector<gguf::TensorInfo>& tensors = model->tensors;
  auto weights = bind_model_weights(c, [&tensors](std::string_view name) -> const gguf::TensorInfo* {
    for (const gguf::TensorInfo& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  });
  if (auto* error = std::get_if<std::string>(&weights)) return *error;
  model->weights = std::move(std::get<ModelWeights>(weights));
  return model;
}

}  // namespace sovereign::accel::compute
