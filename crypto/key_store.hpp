#pragma once
// KeyStore operations on a key directory (var/keys): the file names of each kind of key, first-start
// initialisation, and rotation that keeps older audit signatures and captures verifiable.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/key_file.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

// audit-signing.key / vault.key / auditor.key in the directory.
std::filesystem::path secret_key_path(const std::filesystem::path& directory, KeyKind kind);
// audit-signing.pub / auditor.pub; nullopt for the vault, which has no public half.
std::optional<std::filesystem::path> public_keyring_path(const std::filesystem::path& directory, KeyKind kind);

struct KeyInitOutcome {
  KeyKind kind = KeyKind::vault;
  std::filesystem::path path;
  std::string key_id;
  bool created = false;  // false: an existing key was kept
};

// Creates the directory (0700) and each missing key (0600, its public half appended to the
// keyring); existing keys are kept. A non-null passphrase encrypts the new keys.
[[nodiscard]] Result<std::vector<KeyInitOutcome>> initialize_keys(const std::filesystem::path& directory,
                                                                  const SecretBytes* passphrase);

struct KeyRotation {
  std::string old_key_id;
  std::string new_key_id;
  std::optional<std::filesystem::path> kept_old_key;  // auditor keys: where the old secret went
};

// Replaces a key. audit-signing and auditor public keys are appended to their keyring, so older
// checkpoints and captures stay usable; an old auditor secret is kept as auditor.<key-id>.key.
[[nodiscard]] Result<KeyRotation> rotate_key(const std::filesystem::path& directory, KeyKind kind,
                                             const SecretBytes* passphrase);

}  // namespace sovereign::crypto
