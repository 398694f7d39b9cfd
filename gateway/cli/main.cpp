// sovereign: the gateway and its tools for operators, compliance officers and auditors.
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli/commands.hpp"

namespace {

constexpr const char* usage = R"(usage: sovereign COMMAND [ARGS]

Commands:
  serve --config FILE          run the gateway
  config check FILE            validate a gateway.yaml without starting anything
  version                      print the version
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  using namespace sovereign::gateway;
  if (command == "serve") return run_serve_command(rest);
  if (command == "config") return run_config_command(rest);
  if (command == "version") {
    std::cout << "sovereign " << SOVEREIGN_VERSION << '\n';
    return 0;
  }
  std::cerr << "sovereign: unknown command '" << command << "'\n" << usage;
  return 2;
}
