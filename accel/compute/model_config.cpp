#include "accel/compute/model_config.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel::compute {
namespace {

// Upper bounds keep a corrupt header from making the engine allocate absurd buffers.
constexpr std::int64_t kMaxVocab = 1 << 21;
constexpr std::int64_t kMaxWidth = 1 << 17;
constexpr std::int64_t kMaxLayers = 1024;
constexpr std::int64_t kMaxHeads = 1024;
constexpr std::int64_t kMaxContext = 1 << 24;

// "1e-05", "500000", "nan": the shortest text that reads back as `value`.
std::string format_real(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

struct MetadataReader {
  const gguf::File& file;
  std::string prefix;
  std::string error;

  std::string key(std::string_view suffix) const { return prefix + std::string(suffix); }

  std::optional<int> integer(std::string_view suffix, std::int64_t lo, std::int64_t hi,
                             std::optional<std::int64_t> fallback = std::nullopt) {
    const std::string name = key(suffix);
    std::optional<std::int64_t> value = file.get_int(name);
    if (!value) {
      // Only an absent key takes the default: a value of the wrong kind (a per-layer array, a string)
      // would otherwise be replaced by it without a word, and the model run with the wrong shape.
      if (fallback && file.find(name) == nullptr) return static_cast<int>(*fallback);
      if (error.empty()) error = gguf::metadata_type_error(file, name, "an integer");
      return std::nullopt;
    }
    if (*value < lo || *value > hi) {
      if (error.empty())
        error = gguf::metadata_key_label(file, name) + " is " + std::to_string(*value) + ", expected " +
                std::to_string(lo) + ".." + std::to_string(hi);
      return std::nullopt;
    }
    return static_cast<int>(*value);
  }

  // A value in [lo, hi], or (lo, hi] when lo_exclusive.
  float real(std::string_view suffix, double lo, double hi, double fallback, bool lo_exclusive = false) {
    const std::string name = key(suffix);
    if (file.find(name) == nullptr) return static_cast<float>(fallback);
    std::optional<double> value = file.get_float(name);
    if (!value) {
      // A rope base written as an integer or a string must not silently become the default base.
      if (error.empty()) error = gguf::metadata_type_error(file, name, "f32");
      return static_cast<float>(fallback);
    }
    if (!std::isfinite(*value) || *value < lo || (lo_exclusive && *value == lo) || *value > hi) {
      if (error.empty())
        error = gguf::metadata_key_label(file, name) + " is " + format_real(*value) + ", expected " +
                (lo_exclusive ? "more than " + format_real(lo) + " and at most " + format_real(hi)
                              : format_real(lo) + ".." + format_real(hi));
      return static_cast<float>(fallback);
    }
    return static_cast<float>(*value);
  }
};

// Where the head size comes from: key_length when the file sets it, else embedding_length / head_count.
std::string head_size_source(const MetadataReader& read) {
  const gguf::File& file = read.file;
  if (file.find(read.key("attention.key_length")) != nullptr)
    return gguf::metadata_key_label(file, read.key("attention.key_length"));
  return gguf::metadata_key_label(file, read.key("embedding_length")) + " / " +
         gguf::metadata_key_label(file, read.key("attention.head_count"));
}

// Relations between hyper-parameters (heads divide the width, RoPE fits the head, limits), each
// error naming the keys involved and where their values lie, as the single-key checks do.
std::string check_relations(const MetadataReader& read, const ModelConfig& c) {
  const gguf::File& file = read.file;
  const auto label = [&](std::string_view suffix) { return gguf::metadata_key_label(file, read.key(suffix)); };
  if (c.n_heads % c.n_kv_heads != 0)
    return label("attention.head_count") + " is " + std::to_string(c.n_heads) + ", not a multiple of " +
           label("attention.head_count_kv") + ", " + std::to_string(c.n_kv_heads) +
           ": each key/value head must serve a whole number of query heads";
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    if (file.find(read.key("rope.dimension_count")) != nullptr)
      return label("rope.dimension_count") + " is " + std::to_string(c.rope_dims) +
             ", expected an even number at most the head size " + std::to_string(c.head_dim) + " (" +
             head_size_source(read) + ")";
    return "the head size " + std::to_string(c.head_dim) + " (" + head_size_source(read) +
           ") is odd: rotary position embedding turns pairs of values, so it needs an even head size";
  }
  if (static_cast<std::int64_t>(c.n_heads) * c.head_dim > kMaxWidth)
    return label("attention.head_count") + " is " + std::to_string(c.n_heads) + " and the head size " +
           std::to_string(c.head_dim) + " (" + head_size_source(read) + "): their product exceeds " +
           std::to_string(kMaxWidth);
  return {};
}

}  // namespace

const char* architecture_name(Architecture architecture) {
  return architecture == Architecture::qwen2 ? "qwen2" : "llama";
}

std::variant<ModelConfig, std::string> read_model_config(const gguf::File& file) {
  ModelConfig config;
  std::optional<std::string_view> arch = file.get_string("general.architecture");
  if (!arch) return std::string("metadata key 'general.architecture' is missing");
  if (*arch == "llama") {
    config.architecture = Architecture::llama;
    config.rope_style = RopeStyle::adjacent_pairs;
  } else if (*arch == "qwen2") {
    config.architecture = Architecture::qwen2;
    config.rope_style = RopeStyle::neox;
    config.has_qkv_bias = true;
  } else {
    return gguf::metadata_key_label(file, "general.architecture") + " is " + utf8::quoted(*arch) +
           "; this engine runs 'llama' (Llama, Mistral, SmolLM, TinyLlama) and 'qwen2'";
  }
  if (auto name = file.get_string("general.name")) config.name = std::string(*name);
  if (config.name.empty()) config.name = std::string(*arch);

  MetadataReader read{file, std::string(*arch) + ".", {}};
  const std::optional<int> n_embd = read.integer("embedding_length", 1, kMaxWidth);
  const std::optional<int> n_layers = read.integer("block_count", 1, kMaxLayers);
  const std::optional<int> n_ff = read.integer("feed_forward_length", 1, kMaxWidth * 8);
  const std::optional<int> n_heads = read.integer("attention.head_count", 1, kMaxHeads);
  const std::optional<int> context = read.integer("context_length", 1, kMaxContext, 2048);
  if (!read.error.empty()) return read.error;
  // Without attention.key_length the head size is embedding_length / head_count; check it before
  // anything (rope.dimension_count, value_length) is compared with it.
  if (!file.find(read.key("attention.key_length")) && *n_embd < *n_heads)
    return gguf::metadata_key_label(file, read.key("embedding_length")) + " is " + std::to_string(*n_embd) + " but " +
           gguf::metadata_key_label(file, read.key("attention.head_count")) + " is " + std::to_string(*n_heads) +
           ": the head size, embedding_length / head_count, would be 0";
  const std::optional<int> n_kv = read.integer("attention.head_count_kv", 1, kMaxHeads, *n_heads);
  const std::optional<int> head_dim =
      read.integer("attention.key_length", 1, kMaxWidth, *n_embd / *n_heads);
  if (!read.error.empty()) return read.error;
  const std::optional<int> value_dim = read.integer("attention.value_length", 1, kMaxWidth, *head_dim);
  const std::optional<int> rope_dims = read.integer("rope.dimension_count", 2, kMaxWidth, *head_dim);
  // 0 would divide by zero for an all-zero activation: exclusive lower bound.
  config.rms_eps = read.real("attention.layer_norm_rms_epsilon", 0.0, 1.0, 1e-5, true);
  config.rope_theta = read.real("rope.freq_base", 1.0, 1e12, 10000.0);
  if (!read.error.empty()) return read.error;
  if (*value_dim != *head_dim)
    return gguf::metadata_key_label(file, read.key("attention.value_length")) +
           " differs from the key length; the engine needs equal key and value head sizes";

  if (file.find(read.key("rope.scaling.type")) != nullptr && !file.get_string(read.key("rope.scaling.type")))
    return gguf::metadata_type_error(file, read.key("rope.scaling.type"), "string");
  if (auto scaling = file.get_string(read.key("rope.scaling.type"))) {
    if (*scaling == "linear") {
      const float factor = read.real("rope.scaling.factor", 1e-3, 1e3, 1.0);
      if (!read.error.empty()) return read.error;
      config.rope_position_scale = 1.0f / factor;
    } else if (*scaling != "none") {
      return gguf::metadata_key_label(file, read.key("rope.scaling.type")) + " is " + utf8::quoted(*scaling) +
             "; supported: none, linear, and llama3 frequency factors (rope_freqs.weight)";
    }
  }

  config.n_embd = *n_embd;
  config.n_layers = *n_layers;
  config.n_ff = *n_ff;
  config.n_heads = *n_heads;
  config.n_kv_heads = *n_kv;
  config.head_dim = *head_dim;
  config.rope_dims = *rope_dims;
  config.trained_context = *context;

  const gguf::TensorInfo* embeddings = file.tensor("token_embd.weight");
  if (embeddings == nullptr) return std::string("tensor 'token_embd.weight' is missing");
  if (embeddings->dims.size() != 2)
    return std::string("tensor 'token_embd.weight' must have 2 dimensions");
  if (embeddings->dims[1] < 1 || embeddings->dims[1] > static_cast<std::uint64_t>(kMaxVocab))
    return "tensor 'token_embd.weight' has " + std::to_string(embeddings->dims[1]) +
           " rows; expected 1.." + std::to_string(kMaxVocab);
  config.n_vocab = static_cast<int>(embeddings->dims[1]);
  // vocab_size is optional (llama.cpp's converter writes it equal to the embedding's rows, padding
  // included); one that disagrees says the metadata and the weights come from different models.
  if (file.find(read.key("vocab_size")) != nullptr) {
    const std::optional<int> vocab_size = read.integer("vocab_size", 1, kMaxVocab);
    if (!read.error.empty()) return read.error;
    if (*vocab_size != config.n_vocab)
      return gguf::metadata_key_label(file, read.key("vocab_size")) + " is " + std::to_string(*vocab_size) +
             " but tensor 'token_embd.weight' (data at byte " + std::to_string(embeddings->offset_in_file) +
             ") has " + std::to_string(config.n_vocab) + " rows";
  }
  config.tied_embeddings = file.tensor("output.weight") == nullptr;
  config.has_rope_freqs = file.tensor("rope_freqs.weight") != nullptr;

  std::string problem = check_relations(read, config);
  if (!problem.empty()) return problem;
  return config;
}

}  // namespace sovereign::accel::compute
