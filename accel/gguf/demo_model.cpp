#include "accel/gguf/demo_model.hpp"

#include <cmath>
#include <random>

#include "accel/tokenizer/demo_vocabulary.hpp"

namespace sovereign::accel::gguf {
namespace {

// Random rows, quantized to `type`; dims as ggml writes them: {cols, rows}.
void add_matrix(Writer& writer, std::mt19937& rng, const std::string& name, std::uint64_t cols, std::uint64_t rows,
                TensorType type) {
  // 1/sqrt(cols) keeps activations at unit scale through the random layers.
  std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
  std::vector<float> values(cols * rows);
  for (auto& v : values) v = dist(rng);
  writer.add_tensor(name, {cols, rows}, type, quantize(type, values));
}

void add_norm(Writer& writer, const std::string& name, std::uint64_t n) {
  const std::vector<float> ones(n, 1.0f);
  writer.add_tensor(name, {n}, TensorType::f32, quantize(TensorType::f32, ones));
}

}  // namespace

std::optional<std::string> build_demo_model(const DemoModelOptions& o, Writer& writer) {
  switch (o.matrix_type) {
    case TensorType::f32:
    case TensorType::f16:
    case TensorType::bf16:
    case TensorType::q8_0:
    case TensorType::q4_0: break;
    default: return std::string("the demo model's matrices can be f32, f16, bf16, q8_0 or q4_0");
  }
  const std::uint32_t block = type_traits(o.matrix_type)->block_elems;
  if (o.heads == 0 || o.kv_heads == 0 || o.heads % o.kv_heads != 0 || o.embedding % o.heads != 0 ||
      (o.embedding / o.heads) % 2 != 0) {
    return std::string("heads must divide the embedding width (into an even head size) and be a multiple of kv_heads");
  }
  if (o.embedding % block != 0 || o.feed_forward % block != 0 || o.layers == 0) {
    return "embedding and feed-forward widths must be multiples of " + std::to_string(block) + " for " +
           type_traits(o.matrix_type)->name;
  }
  writer.set("general.architecture", std::string("llama"));
  writer.set("general.name", std::string("sovereign-demo"));
  writer.set("general.description",
             std::string("Random weights for trying the engine offline; its output is gibberish."));
  writer.set("general.alignment", std::uint32_t{32});
  writer.set("llama.context_length", o.context);
  writer.set("llama.embedding_length", o.embedding);
  writer.set("llama.block_count", o.layers);
  writer.set("llama.feed_forward_length", o.feed_forward);
  writer.set("llama.attention.head_count", o.heads);
  writer.set("llama.attention.head_count_kv", o.kv_heads);
  writer.set("llama.rope.dimension_count", o.embedding / o.heads);
  writer.set("llama.rope.freq_base", 10000.0f);
  writer.set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const std::size_t vocab = accel::write_demo_vocabulary(writer);
  writer.set("llama.vocab_size", static_cast<std::uint32_t>(vocab));

  std::mt19937 rng(o.seed);
  const std::uint64_t embd = o.embedding;
  const std::uint64_t kv_dim = embd / o.heads * o.kv_heads;
  add_matrix(writer, rng, "token_embd.weight", embd, vocab, o.matrix_type);
  for (std::uint32_t layer = 0; layer < o.layers; ++layer) {
    const std::string p = "blk." + std::to_string(layer) + ".";
    add_norm(writer, p + "attn_norm.weight", embd);
    add_matrix(writer, rng, p + "attn_q.weight", embd, embd, o.matrix_type);
    add_matrix(writer, rng, p + "attn_k.weight", embd, kv_dim, o.matrix_type);
    add_matrix(writer, rng, p + "attn_v.weight", embd, kv_dim, o.matrix_type);
    add_matrix(writer, rng, p + "attn_output.weight", embd, embd, o.matrix_type);
    add_norm(writer, p + "ffn_norm.weight", embd);
    add_matrix(writer, rng, p + "ffn_gate.weight", embd, o.feed_forward, o.matrix_type);
    add_matrix(writer, rng, p + "ffn_up.weight", embd, o.feed_forward, o.matrix_type);
    add_matrix(writer, rng, p + "ffn_down.weight", o.feed_forward, embd, o.matrix_type);
  }
  add_norm(writer, "output_norm.weight", embd);
  add_matrix(writer, rng, "output.weight", embd, vocab, o.matrix_type);
  return std::nullopt;
}

std::optional<std::string> write_demo_model(const DemoModelOptions& options, const std::filesystem::path& path,
                                            Writer::Replace replace) {
  Writer writer;
  if (auto error = build_demo_model(options, writer)) return error;
  return writer.write(path, replace);
}

}  // namespace sovereign::accel::gguf
