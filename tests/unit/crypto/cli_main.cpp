// A stand-alone `audit`/`keys` command for end-to-end tests and benchmarks before the gateway's
// main dispatches to them: sovereign_crypto_cli audit ... | sovereign_crypto_cli keys ...
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli/audit_command.hpp"
#include "gateway/cli/keys_command.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || (args[0] != "audit" && args[0] != "keys")) {
    std::cerr << "usage: sovereign_crypto_cli audit|keys ...\n";
    return 2;
  }
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  return args[0] == "audit" ? sovereign::gateway::run_audit_command(rest)
                            : sovereign::gateway::run_keys_command(rest);
}
