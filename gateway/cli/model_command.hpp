#pragma once
// `sovereign model info FILE | make-demo OUT.gguf`: inspect a GGUF model, or write a small offline demo model.

#include <iosfwd>
#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign model". Returns the process exit status: 0 done,
// 1 the work failed (bad model file, cannot write), 2 usage errors.
int run_model_command(std::span<const std::string> args);

// The same, writing to the given streams (tests).
int run_model_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

}  // namespace sovereign::gateway
