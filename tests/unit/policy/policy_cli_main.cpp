// Stand-alone `sovereign policy ...` for the tests: the gateway's main dispatches to the same function.
#include <string>
#include <vector>

#include "gateway/cli/policy_command.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return sovereign::gateway::run_policy_command(args);
}
