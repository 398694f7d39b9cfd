#include "accel/compute/model_weights.hpp"

#include <algorithm>
#include <cmath>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel::compute {
namespace {

std::string dims_text(const std::vector<std::uint64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

class Binder {
 public:
  explicit Binder(const TensorLookup& lookup) : lookup_(lookup) {}

  const std::string& error() const { return error_; }

  WeightMatrix matrix(const std::string& name, std::size_t rows, std::size_t cols) {
    WeightMatrix m;
    const gguf::TensorInfo* info = find(name, {cols, rows});
    if (info == nullptr) return m;
    const gguf::TypeTraits* traits = gguf::type_traits(info->type);
    if (!is_supported_matrix_type(info->type)) {
      fail(name, std::string("has type ") + (traits ? traits->name : "unknown") +
                     "; the engine runs F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K matrices");
      return m;
    }
    if (cols % traits->block_elems != 0) {
      fail(name, "row length " + std::to_string(cols) + " is not a multiple of the " + traits->name +
                     " block size");
      return m;
    }
    m.data = info->data.data();
    m.type = info->type;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = cols / traits->block_elems * traits->block_bytes;
    if (info->data.size() < m.total_bytes()) {
      fail(name, "holds " + std::to_string(info->data.size()) + " bytes, expected " + std::to_string(m.total_bytes()));
      return WeightMatrix{};
    }
    return m;
  }

  std::vector<float> vector(const std::string& name, std::size_t n) {
    const gguf::TensorInfo* info = find(name, {n});
    if (info == nullptr) return {};
    const gguf::TypeTraits* traits = gguf::type_traits(info->type);
    if (traits == nullptr || n % traits->block_elems != 0 ||
        info->data.size() < n / traits->block_elems * traits->block_bytes) {
      fail(name, "has an unsupported type or too few bytes for " + std::to_string(n) + " values");
      return {};
    }
    std::vector<float> out(n);
    gguf::dequantize_row(info->type, info->data.data(), out.data(), n);
    // Norm weights and biases are small enough to check whole at load (the matrices are not: a NaN
    // there shows up as non-finite logits, which end the request). Every value of these reaches every
    // token, so one NaN or infinity would make every answer garbage.
    const auto bad = std::find_if(out.begin(), out.end(), [](float v) { return !std::isfinite(v); });
    if (bad != out.end()) {
      fail(name, "holds " + std::string(std::isnan(*bad) ? "NaN" : "an infinity") + " at index " +
                     std::to_string(bad - out.begin()) + "; the model file is corrupt");
      return {};
    }
    return out;
  }

 private:
  const gguf::TensorInfo* find(const std::string& name, std::vector<std::uint64_t> expected) {
    if (!error_.empty()) return nullptr;
    const gguf::TensorInfo* info = lookup_(name);
    if (info == nullptr) {
      fail(name, "is missing");
      return nullptr;
    }
    if (info->dims != expected) {
      fail(name, "has dims " + dims_text(info->dims) + ", expected " + dims_text(expected));
      return nullptr;
    }
    return info;
  }

  void fail(const std::string& name, const std::string& what) {
    if (error_.empty()) error_ = "tensor " + utf8::quoted(name) + " " + what;
  }

  const TensorLookup& lookup_;
  std::string error_;
};

}  // namespace

bool is_supported_matrix_type(gguf::TensorType type) {
  switch (type) {
    case gguf::TensorType::f32:
    case gguf::TensorType::f16:
    case gguf::TensorType::bf16:
    case gguf::TensorType::q8_0:
    case gguf::TensorType::q4_0:
    case gguf::TensorType::q4_k:
    case gguf::TensorType::q6_k:
      return true;
    default:
      return false;
  }
}

std::vector<const WeightMatrix*> ModelWeights::matrices() const {
  std::vector<const WeightMatrix*> all{&output};
  for (const LayerWeights& l : layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) all.push_back(m);
  return all;
}

std::size_t ModelWeights::bytes_per_token() const {
  std::size_t total = 0;
  for (const WeightMatrix* m : matrices()) total += m->total_bytes();
  return total;
}

std::variant<ModelWeights, std::string> bind_model_weights(const ModelConfig& c,
                                                           const TensorLookup& lookup) {
  Binder bind(lookup);
  ModelWeights w;
  const std::size_t embd = static_cast<std::size_t>(c.n_embd);
  const std::size_t q_dim = static_cast<std::size_t>(c.q_dim());
  const std::size_t kv_dim = static_cast<std::size_t>(c.kv_dim());
  const std::size_t ff = static_cast<std::size_t>(c.n_ff);
  w.token_embedding = bind.matrix("token_embd.weight", static_cast<std::size_t>(c.n_vocab), embd);
  w.output_norm = bind.vector("output_norm.weight", embd);
  w.output = c.tied_embeddings ? w.token_embedding
                               : bind.matrix("output.weight", static_cast<std::size_t>(c.n_vocab), embd);
  if (c.has_rope_freqs)
    w.rope_freq_divisors = bind.vector("rope_freqs.weight", static_cast<std::size_t>(c.rope_dims / 2));
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers && bind.error().empty(); ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    l.attn_norm = bind.vector(p + "attn_norm.weight", embd);
    l.wq = bind.matrix(p + "attn_q.weight", q_dim, embd);
    l.wk = bind.matrix(p + "attn_k.weight", kv_dim, embd);
    l.wv = bind.matrix(p + "attn_v.weight", kv_dim, embd);
    if (c.has_qkv_bias) {
      l.bq = bind.vector(p + "attn_q.bias", q_dim);
      l.bk = bind.vector(p + "attn_k.bias", kv_dim);
      l.bv = bind.vector(p + "attn_v.bias", kv_dim);
    }
    l.wo = bind.matrix(p + "attn_output.weight", embd, q_dim);
    l.ffn_norm = bind.vector(p + "ffn_norm.weight", embd);
    l.w_gate = bind.matrix(p + "ffn_gate.weight", ff, embd);
    l.w_up = bind.matrix(p + "ffn_up.weight", ff, embd);
    l.w_down = bind.matrix(p + "ffn_down.weight", embd, ff);
  }
  if (!bind.error().empty()) return bind.error();
  return w;
}

}  // namespace sovereign::accel::compute
