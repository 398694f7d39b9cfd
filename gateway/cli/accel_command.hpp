#pragma once
// `sovereign accel devices|bench`: what accelerators the engine sees, and how fast it runs on them.

#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign accel". Returns the process exit status: 0 done,
// 1 the work failed (model or device error), 2 usage errors.
int run_accel_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
