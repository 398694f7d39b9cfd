#include "tiny_model.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>
#include <unistd.h>
#include <vector>

#include "accel/gguf/gguf_writer.hpp"
#include "accel/gguf/quantize.hpp"

namespace sovereign::accel::test {
namespace {

const char* const kExtraWords[] = {"\xe2\x96\x81" "hello", "\xe2\x96\x81" "world", "\xe2\x96\x81" "the", "ing",
                                   "\xe2\x96\x81" "a",     "er",                 "\xe2\x96\x81" "is",  "."};

// Makes greedy decoding follow spec.script: the attention and feed-forward outputs are zero, so the
// residual stream stays the token's embedding, a unit vector on a dimension of the script's own; the
// norms' weights are one, and the successor's output row reads that dimension. A scripted token's
// logits are then sqrt(n_embd) for its successor and 0 for every other token.
void script_weights(const TinyModelSpec& spec, const std::string& name, std::vector<float>& values) {
  if (spec.script.empty()) return;
  const bool embedding = name == "token_embd.weight";
  const bool output = name == "output.weight";
  if (embedding || output || name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight"))
    std::fill(values.begin(), values.end(), 0.0f);
  if (name.ends_with("norm.weight")) std::fill(values.begin(), values.end(), 1.0f);
  const auto width = static_cast<std::size_t>(spec.n_embd);
  for (std::size_t dim = 0; dim < spec.script.size(); ++dim) {
    const auto [from, to] = spec.script[dim];
    if (embedding) values[static_cast<std::size_t>(from) * width + dim] = 1.0f;
    if (output) values[static_cast<std::size_t>(to) * width + dim] = 1.0f;
  }
}

class RandomTensors {
 public:
  RandomTensors(gguf::Writer& writer, const TinyModelSpec& spec)
      : writer_(writer), spec_(spec), rng_(spec.seed) {}

  void matrix(const std::string& name, int rows, int cols, gguf::TensorType type, float scale) {
    std::vector<float> values(static_cast<std::size_t>(rows) * cols);
    std::uniform_real_distribution<float> dist(-scale, scale);
    for (float& v : values) v = dist(rng_);
    if (omitted(name)) return;
    script_weights(spec_, name, values);
    writer_.add_tensor(name, {static_cast<std::uint64_t>(cols), static_cast<std::uint64_t>(rows)}, type,
                       gguf::quantize(type, values));
  }

  void vector(const std::string& name, int n, float center, float spread) {
    std::vector<float> values(static_cast<std::size_t>(n));
    std::uniform_real_distribution<float> dist(center - spread, center + spread);
    for (float& v : values) v = dist(rng_);
    if (omitted(name)) return;
    script_weights(spec_, name, values);
    writer_.add_tensor(name, {static_cast<std::uint64_t>(n)}, gguf::TensorType::f32,
                       gguf::quantize(gguf::TensorType::f32, values));
  }

 private:
  bool omitted(const std::string& name) const {
    for (const std::string& o : spec_.omit_tensors)
      if (o == name) return true;
    return false;
  }

  gguf::Writer& writer_;
  const TinyModelSpec& spec_;
  std::mt19937_64 rng_;
};

void write_tokenizer(gguf::Writer& w) {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>"};
  std::vector<float> scores{0.0f, 0.0f, 0.0f};
  std::vector<std::int32_t> types{2, 3, 3};
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.emplace_back(name);
    scores.push_back(0.0f);
    types.push_back(6);
  }
  float score = -1.0f;
  for (const char* word : kExtraWords) {
    tokens.emplace_back(word);
    scores.push_back(score);
    score -= 1.0f;
    types.push_back(1);
  }
  w.set("tokenizer.ggml.model", std::string("llama"));
  w.set("tokenizer.ggml.tokens", tokens);
  w.set("tokenizer.ggml.scores", scores);
  w.set("tokenizer.ggml.token_type", types);
  w.set("tokenizer.ggml.bos_token_id", std::uint32_t{1});
  w.set("tokenizer.ggml.eos_token_id", std::uint32_t{2});
  w.set("tokenizer.ggml.unknown_token_id", std::uint32_t{0});
  w.set("tokenizer.ggml.add_bos_token", true);
  w.set("tokenizer.chat_template",
        std::string("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"));
}

}  // namespace

std::string write_tiny_model(const std::filesystem::path& path, const TinyModelSpec& s) {
  gguf::Writer w;
  const std::string a = s.architecture;
  const int head_dim = s.n_embd / s.n_heads;
  w.set("general.architecture", a);
  w.set("general.name", std::string("tiny-") + a);
  w.set(a + ".context_length", std::uint32_t(s.context_length));
  w.set(a + ".embedding_length", std::uint32_t(s.n_embd));
  w.set(a + ".block_count", std::uint32_t(s.n_layers));
  w.set(a + ".feed_forward_length", std::uint32_t(s.n_ff));
  w.set(a + ".attention.head_count", std::uint32_t(s.n_heads));
  w.set(a + ".attention.head_count_kv", std::uint32_t(s.n_kv_heads));
  w.set(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.set(a + ".rope.freq_base", 10000.0f);
  w.set(a + ".rope.dimension_count", std::uint32_t(head_dim));
  if (s.rope_linear_factor > 0) {
    w.set(a + ".rope.scaling.type", std::string("linear"));
    w.set(a + ".rope.scaling.factor", s.rope_linear_factor);
  }
  write_tokenizer(w);

  if (s.script.size() > static_cast<std::size_t>(s.n_embd) || (!s.script.empty() && s.tied_embeddings))
    return "a script needs at most n_embd pairs and an output matrix of its own";
  RandomTensors r(w, s);
  const int q_dim = s.n_heads * head_dim;
  const int kv_dim = s.n_kv_heads * head_dim;
  const float in_scale = 1.0f / static_cast<float>(std::sqrt(s.n_embd));
  r.matrix("token_embd.weight", kTinyVocab, s.n_embd, s.type, 1.0f);
  r.vector("output_norm.weight", s.n_embd, 1.0f, 0.2f);
  if (!s.tied_embeddings) r.matrix("output.weight", kTinyVocab, s.n_embd, s.type, in_scale);
  if (s.rope_freqs) r.vector("rope_freqs.weight", head_dim / 2, 2.0f, 1.0f);
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    r.vector(p + "attn_norm.weight", s.n_embd, 1.0f, 0.2f);
    r.matrix(p + "attn_q.weight", q_dim, s.n_embd, s.type, in_scale * 2);
    r.matrix(p + "attn_k.weight", kv_dim, s.n_embd, s.type, in_scale * 2);
    r.matrix(p + "attn_v.weight", kv_dim, s.n_embd, s.type, in_scale);
    if (a == "qwen2") {
      r.vector(p + "attn_q.bias", q_dim, 0.0f, 0.3f);
      r.vector(p + "attn_k.bias", kv_dim, 0.0f, 0.3f);
      r.vector(p + "attn_v.bias", kv_dim, 0.0f, 0.3f);
    }
    r.matrix(p + "attn_output.weight", s.n_embd, q_dim, s.type, in_scale);
    r.vector(p + "ffn_norm.weight", s.n_embd, 1.0f, 0.2f);
    r.matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, s.type, in_scale * 2);
    r.matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, s.type, in_scale * 2);
    r.matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, s.type, 1.0f / static_cast<float>(std::sqrt(s.n_ff)));
  }
  if (s.tamper) s.tamper(w);
  std::optional<std::string> error = w.write(path);
  return error ? *error : std::string();
}

std::filesystem::path temporary_model_path(const std::string& stem) {
  static std::atomic<int> counter{0};
  return std::filesystem::temp_directory_path() /
         (stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".gguf");
}

TinyModelSpec smallest_tiny_model(gguf::TensorType type) {
  TinyModelSpec spec;
  spec.type = type;
  spec.n_embd = 32;
  spec.n_layers = 1;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  spec.n_ff = 32;
  spec.context_length = 32;
  return spec;
}

}  // namespace sovereign::accel::test
