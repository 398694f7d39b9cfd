#pragma once
// Signed checkpoints of the audit log: (log id, tree size, root, time, key id) signed with Ed25519,
// and the signer/verifier pair that names the key behind every signature.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "crypto/key_file.hpp"
#include "crypto/merkle.hpp"
#include "crypto/result.hpp"
#include "crypto/secret_bytes.hpp"

namespace sovereign::crypto {

inline constexpr std::size_t log_id_size = 16;
inline constexpr std::size_t key_id_bytes = 8;
inline constexpr std::size_t signature_size = 64;
using LogId = std::array<std::uint8_t, log_id_size>;
using Signature = std::array<std::uint8_t, signature_size>;

// A signed statement: "log `log_id` had `tree_size` records with Merkle root `root` at `time_ms`".
struct Checkpoint {
  LogId log_id{};
  std::uint64_t tree_size = 0;
  Hash root{};
  std::int64_t time_ms = 0;     // Unix milliseconds
  std::string key_id;           // 16 hex digits of the signing key
  Signature signature{};

  // The exact bytes that are signed; auditors can rebuild them with any tool.
  std::string signed_message() const;
};

// Signs checkpoints with an audit-signing key held in sodium memory.
class CheckpointSigner {
 public:
  [[nodiscard]] static Result<CheckpointSigner> from_key(const SecretKey& key);
  void sign(Checkpoint& checkpoint) const;  // sets key_id and signature
  const std::string& key_id() const { return key_id_; }

 private:
  SecretBytes secret_;  // 64-byte Ed25519 secret key
  std::string key_id_;
};

// The audit-signing public keys an auditor trusts, by key id.
class TrustedKeys {
 public:
  void add(const PublicKey& key);
  [[nodiscard]] static Result<TrustedKeys> from_keyring_files(const std::vector<std::string>& paths);
  bool empty() const { return keys_.empty(); }
  // Checks that the key is trusted and the signature is valid; errors say which failed.
  [[nodiscard]] Status verify(const Checkpoint& checkpoint) const;

 private:
  std::map<std::string, PublicKeyBytes> keys_;
};

}  // namespace sovereign::crypto
