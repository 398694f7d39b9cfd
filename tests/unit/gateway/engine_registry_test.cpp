// Engines of local backends across reloads: shared while the model file is the same, loaded anew
// once the file is replaced.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "accel/gguf/demo_model.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"

using namespace sovereign;
using namespace sovereign::gateway;

namespace {

std::shared_ptr<accel::Engine> engine_of(EngineRegistry& engines, const BackendConfig& backend) {
  auto result = engines.engine_for(backend);
  auto* engine = std::get_if<std::shared_ptr<accel::Engine>>(&result);
  REQUIRE_MESSAGE(engine != nullptr, std::get<std::string>(result));
  return *engine;
}

void write_demo(const std::filesystem::path& path, std::uint32_t seed) {
  accel::gguf::DemoModelOptions options;
  options.seed = seed;
  auto error = accel::gguf::write_demo_model(options, path);
  REQUIRE_MESSAGE(!error, error.value_or(""));
}

}  // namespace

TEST_SUITE("engines") {
  TEST_CASE("a reload shares the engine of an unchanged model file and loads a replaced one anew") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sovereign-engine-registry-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto model = dir / "model.gguf";
    write_demo(model, 1);

    BackendConfig backend;
    backend.name = "site";
    backend.type = BackendType::local;
    backend.model_file = model;
    backend.device = "cpu";
    backend.context_length = 64;
    backend.max_batch = 1;
    backend.threads = 1;

    EngineRegistry engines;
    const auto first = engine_of(engines, backend);
    CHECK(engine_of(engines, backend) == first);

    // Replaced the way docs/MODELS.md recommends: a new file renamed over the old one.
    const auto incoming = dir / "model.gguf.new";
    write_demo(incoming, 2);
    std::filesystem::rename(incoming, model);
    const auto second = engine_of(engines, backend);
    CHECK(second != first);
    CHECK(engine_of(engines, backend) == second);

    std::filesystem::remove_all(dir);
  }
}
