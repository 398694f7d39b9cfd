// Loads a policy file as the gateway does and says whether it loads: exit 0, or its problems as
// FILE:LINE:COL: message and exit 1. check_schema.mjs --agree-with holds the JSON Schema to it.

#include <iostream>

#include "policy/diagnostic.hpp"
#include "policy/policy.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: policy_loads FILE.yaml\n";
        return 2;
    }
    const auto loaded = sovereign::policy::load_policy_file(argv[1]);
    for (const auto& d : loaded.diagnostics) std::cout << sovereign::policy::format_diagnostic(d) << '\n';
    return loaded.policy ? 0 : 1;
}
