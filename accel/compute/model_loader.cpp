#include "accel/compute/model_loader.hpp"

#include <charconv>
#include <set>

#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel::compute {
namespace {

// Why the engine has no use for a tensor the file carries. A layer beyond block_count, or a tensor
// of another architecture (a qwen2 file relabelled llama keeps its attention biases), means the
// file's metadata and its tensors disagree: running it would silently drop weights.
std::string unused_tensor_reason(const gguf::File& file, const ModelConfig& config, const std::string& name) {
  const std::string arch = architecture_name(config.architecture);
  constexpr std::string_view kBlock = "blk.";
  if (name.starts_with(kBlock)) {
    int layer = -1;
    const char* first = name.data() + kBlock.size();
    const char* last = name.data() + name.size();
    auto [end, error] = std::from_chars(first, last, layer);
    if (error == std::errc() && end != last && *end == '.' && layer >= config.n_layers)
      return "is not used by a " + std::to_string(config.n_layers) + "-layer " + arch + " model (" +
             gguf::metadata_key_label(file, arch + ".block_count") + ")";
  }
  return "is not used by a " + arch + " model (" + gguf::metadata_key_label(file, "general.architecture") + ")";
}

// Every tensor in the file must be one the engine bound; the first that is not is named.
std::string check_every_tensor_used(const gguf::File& file, const ModelConfig& config,
                                    const std::set<std::string, std::less<>>& bound) {
  for (const gguf::TensorInfo& tensor : file.tensors())
    if (!bound.contains(tensor.name))
      return "tensor " + utf8::quoted(tensor.name) + " (data at byte " + std::to_string(tensor.offset_in_file) + ") " +
             unused_tensor_reason(file, config, tensor.name);
  return {};
}

}  // namespace

std::variant<std::unique_ptr<LoadedModel>, std::string> load_model(const std::filesystem::path& path) {
  const std::string where = path.string() + ": ";
  std::variant<gguf::File, gguf::Error> opened = gguf::File::open(path);
  if (auto* error = std::get_if<gguf::Error>(&opened)) return where + error->to_string();
  std::variant<std::unique_ptr<LoadedModel>, std::string> loaded = load_model(std::move(std::get<gguf::File>(opened)));
  if (auto* error = std::get_if<std::string>(&loaded)) *error = where + *error;
  return loaded;
}

std::variant<std::unique_ptr<LoadedModel>, std::string> load_model(gguf::File file) {
  std::variant<ModelConfig, std::string> config = read_model_config(file);
  if (auto* error = std::get_if<std::string>(&config)) return *error;

  const gguf::File& mapped = file;
  std::set<std::string, std::less<>> bound;
  std::variant<ModelWeights, std::string> weights = bind_model_weights(
      std::get<ModelConfig>(config), [&mapped, &bound](std::string_view name) {
        const gguf::TensorInfo* tensor = mapped.tensor(name);
        if (tensor != nullptr) bound.emplace(name);
        return tensor;
      });
  if (auto* error = std::get_if<std::string>(&weights)) return *error;
  if (std::string unused = check_every_tensor_used(file, std::get<ModelConfig>(config), bound); !unused.empty())
    return unused;

  // The weight views point into the mapping owned by File's heap state, which a move keeps in place.
  return std::make_unique<LoadedModel>(LoadedModel{std::move(file), std::move(std::get<ModelConfig>(config)),
                                                   std::move(std::get<ModelWeights>(weights))});
}

}  // namespace sovereign::accel::compute
