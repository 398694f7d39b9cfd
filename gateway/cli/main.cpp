// sovereign: the gateway and its tools for operators, compliance officers and auditors.
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli/accel_command.hpp"
#include "gateway/cli/arguments.hpp"
#include "gateway/cli/audit_command.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/keys_command.hpp"
#include "gateway/cli/model_command.hpp"
#include "gateway/cli/policy_command.hpp"
#include "gateway/cli/vault_command.hpp"

namespace {

constexpr const char* usage = R"(usage: sovereign COMMAND [ARGS]

Commands:
  serve --config FILE [--passphrase-file FILE]
                               run the gateway
  config check FILE            validate a gateway.yaml without starting anything
  policy lint|test|explain     check, test and explain a policy.yaml (compliance officers)
  audit verify|query|tail|prove|prove-consistency|checkpoint|check-proof|open
                               verify, read and prove the tamper-evident audit log (auditors)
  keys init|rotate|list|export-public
                               manage the audit-signing, vault and auditor keys
  vault check DIR              check the token vault's mappings file (operators)
  model info|make-demo         inspect GGUF model files; write the demo model
  accel devices|bench          list GPUs; measure the built-in engine
  version                      print the version (also --version, -V)

Run 'sovereign COMMAND --help' for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace sovereign::gateway;
  std::vector<std::string> args(argv + 1, argv + argc);
  const CommandUsage sovereign_usage("sovereign", usage);
  if (const auto answered = sovereign_usage.answer_without_subcommand(args)) return *answered;
  std::string command = args[0];
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  if (command == "serve") return run_serve_command(rest);
  if (command == "config") return run_config_command(rest);
  if (command == "policy") return run_policy_command(rest);
  if (command == "audit") return run_audit_command(rest);
  if (command == "keys") return run_keys_command(rest);
  if (command == "vault") return run_vault_command(rest);
  if (command == "model") return run_model_command(rest);
  if (command == "accel") return run_accel_command(rest);
  // Packaging scripts and operators try `--version` before reading the usage; it is the same command.
  if (command == "version" || command == "--version" || command == "-V") {
    auto parsed = CommandUsage("sovereign version", "usage: sovereign version   (print the version)\n")
                      .parse(rest, ArgumentSpec().at_most(0));
    if (auto* answered = std::get_if<int>(&parsed)) return *answered;
    std::cout << "sovereign " << SOVEREIGN_VERSION << '\n';
    return 0;
  }
  return sovereign_usage.error("unknown command '" + command + "'");
}
