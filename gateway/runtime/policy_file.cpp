#include "gateway/runtime/policy_file.hpp"

#include "policy/policy.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::gateway {

std::optional<std::string> read_policy_file(const GatewayConfig& config, std::string& problem) {
  const std::filesystem::path& file = *config.policy_file;
  std::string error;
  auto text = policy::read_text_file(file, policy::max_yaml_file_bytes, error);
  if (!text) {
    // read_text_file places its reason at the file's 1:1; the reason is about the file as a whole,
    // so it is told at the setting that names the file instead.
    const std::string at_file = file.string() + ":1:1: ";
    const std::string reason = error.starts_with(at_file) ? error.substr(at_file.size()) : error;
    problem = config.problem_at("policy", "policy: '" + file.string() + "': " + reason);
  }
  return text;
}

}  // namespace sovereign::gateway
