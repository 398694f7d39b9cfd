#pragma once
// `sovereign audit verify|query|tail|prove|prove-consistency|checkpoint|check-proof|open`: the
// auditor's tools for the signed Merkle audit log and sealed payload captures.

#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign audit". Returns the process exit status: 0 valid / done,
// 1 verification or proof failed, 2 usage or input errors.
int run_audit_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
