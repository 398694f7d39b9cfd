#pragma once
// The API key a backend requires of its clients (vLLM's --api-key, an authenticating proxy in
// front of TGI or Triton), read from the file the operator's configuration names.
#include <filesystem>
#include <string>

#include "crypto/result.hpp"

namespace sovereign::gateway {

// The value of the Authorization header the gateway sends the backend: "Bearer KEY". The file holds
// the key alone (one trailing line end allowed), readable by its owner only, as the gateway's other
// secret files are; the error says what is wrong with it, never what it holds.
[[nodiscard]] crypto::Result<std::string> read_backend_authorization(const std::filesystem::path& file);

}  // namespace sovereign::gateway
