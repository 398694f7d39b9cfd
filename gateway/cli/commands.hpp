#pragma once
// The `sovereign` command line: one function per top-level command; args exclude the command word.
#include <span>
#include <string>

namespace sovereign::gateway {

int run_serve_command(std::span<const std::string> args);
int run_config_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
