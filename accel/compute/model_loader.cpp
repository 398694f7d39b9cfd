#include "accel/compute/model_loader.hpp"

namespace sovereign::accel::compute {

std::variant<std::unique_ptr<LoadedModel>, std::string> load_model(const std::filesystem::path& path) {
  const std::string where = path.string() + ": ";
  std::variant<gguf::File, gguf::Error> opened = gguf::File::open(path);
  if (auto* error = std::get_if<gguf::Error>(&opened)) return where + error->to_string();
  gguf::File file = std::move(std::get<gguf::File>(opened));

  std::variant<ModelConfig, std::string> config = read_model_config(file);
  if (auto* error = std::get_if<std::string>(&config)) return where + *error;

  const gguf::File& mapped = file;
  std::variant<ModelWeights, std::string> weights = bind_model_weights(
      std::get<ModelConfig>(config), [&mapped](std::string_view name) { return mapped.tensor(name); });
  if (auto* error = std::get_if<std::string>(&weights)) return where + *error;

  // The weight views point into the mapping owned by File's heap state, which a move keeps in place.
  return std::make_unique<LoadedModel>(LoadedModel{std::move(file), std::move(std::get<ModelConfig>(config)),
                                                   std::move(std::get<ModelWeights>(weights))});
}

}  // namespace sovereign::accel::compute
