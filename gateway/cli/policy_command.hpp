#pragma once
// `sovereign policy lint|test|explain`: the command-line tools for people who write policies.

#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign policy". Returns the process exit status: 0 clean / passed,
// 1 problems found / tests failed, 2 usage or input errors.
int run_policy_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
