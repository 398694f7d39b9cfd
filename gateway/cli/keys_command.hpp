#pragma once
// `sovereign keys init|rotate|list|export-public`: the audit signing key, the vault key and the
// auditor's key pair, as 0600 files in a key directory (var/keys by default).

#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign keys". Returns 0 on success, 1 when a key operation fails,
// 2 on usage errors.
int run_keys_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
