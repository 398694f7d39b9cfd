#pragma once
// `sovereign vault check DIR`: the token vault's mappings file read as an operator would, without
// the key and without changing it: checksums, live mappings by key and tenant, damage by byte.

#include <span>
#include <string>

namespace sovereign::gateway {

// args excludes the words "sovereign vault". Returns 0 when the file is sound (a record cut short
// at the end, which the gateway cuts away at start, is reported, not failed), 1 when it is damaged
// or cannot be read, 2 on usage errors.
int run_vault_command(std::span<const std::string> args);

}  // namespace sovereign::gateway
