#include <csignal>
#include <iostream>

#include "crypto/key_file.hpp"
#include "gateway/cli/arguments.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/runtime/config_check.hpp"
#include "gateway/runtime/gateway_runtime.hpp"

namespace sovereign::gateway {

namespace {

constexpr const char* serve_usage = R"(usage: sovereign serve --config FILE [--passphrase-file FILE]

  --config FILE           the gateway.yaml to run
  --passphrase-file FILE  the passphrase of passphrase-protected audit-signing and vault keys
                          (keys init --passphrase-file): one line, mode 0600; without it the
                          SOVEREIGN_KEY_PASSPHRASE_FILE / SOVEREIGN_KEY_PASSPHRASE variables are read
)";

}  // namespace

int run_serve_command(std::span<const std::string> args) {
  const CommandUsage usage("sovereign serve", serve_usage);
  if (args.size() == 1 && args[0] == "help") return usage.help();
  auto parsed = usage.parse(args, ArgumentSpec().takes_values({"--config", "--passphrase-file"}).at_most(0));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  const std::string config_file = arguments.value("--config").value_or("");
  if (config_file.empty()) return usage.error("--config FILE is required");
  // Read before anything starts, so a bad passphrase file is named at once, never after a listener
  // was opened.
  crypto::Result<std::optional<crypto::SecretBytes>> passphrase =
      crypto::passphrase_from_file_or_environment(arguments.value("--passphrase-file"));
  if (!passphrase) {
    std::cerr << "sovereign serve: " << passphrase.error().message << "; nothing was started\n";
    return 2;
  }
  auto loaded = load_gateway_config(config_file);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
    for (const auto& error : *errors) std::cerr << error.to_string() << '\n';
    std::cerr << "sovereign serve: the configuration has " << errors->size() << " problem(s); nothing was started\n";
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Under a file-size limit (systemd's LimitFSIZE, ulimit -f) a write past it is a failed write the
  // audit writer reports (EFBIG, answered 503 like a full disk), not a signal that kills the gateway.
  std::signal(SIGXFSZ, SIG_IGN);
  GatewayRuntime runtime(config_file, std::get<std::shared_ptr<const GatewayConfig>>(loaded),
                         std::move(passphrase.value()));
  return runtime.run();
}

int run_config_command(std::span<const std::string> args) {
  const CommandUsage usage("sovereign config", "usage: sovereign config check FILE   (or --config FILE, as serve takes it)\n");
  if (const auto answered = usage.answer_without_subcommand(args)) return *answered;
  if (args[0] != "check") return usage.error("unknown command '" + args[0] + "'");
  auto parsed = usage.parse(args.subspan(1), ArgumentSpec().takes_values({"--config"}).at_most(1));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  const auto option = arguments.value("--config");
  if (option.has_value() == !arguments.positionals().empty())
    return usage.error("name the file once, as FILE or as --config FILE");
  const std::string file = option.value_or(arguments.positionals().empty() ? "" : arguments.positionals()[0]);
  auto loaded = load_gateway_config(file);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
    for (const auto& error : *errors) std::cout << error.to_string() << '\n';
    return 1;
  }
  const auto& config = *std::get<std::shared_ptr<const GatewayConfig>>(loaded);
  std::vector<std::string> warnings;
  const std::vector<std::string> problems = check_deployment(config, &warnings);
  for (const auto& problem : problems) std::cout << problem << '\n';
  for (const auto& warning : warnings) std::cout << warning << '\n';
  if (!problems.empty()) {
    std::cout << file << ": " << problems.size() << " problem(s) beyond the file itself\n";
    return 1;
  }
  std::cout << file << ": ok (" << config.listeners.size() << " listener(s), " << config.tenants.size()
            << " tenant(s), " << config.backends.size() << " backend(s))\n";
  return 0;
}

}  // namespace sovereign::gateway
