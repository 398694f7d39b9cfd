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

// A secret key file as rotation accepts one: not a symbolic link (rotation renames or replaces the
// file), and not readable by group or others (the error says how to fix it).
[[nodiscard]] Status checked_secret_file(const std::filesystem::path& path);

// The old auditor secrets that rotation kept (auditor.<key-id>.key), sorted.
std::vector<std::filesystem::path> kept_auditor_keys(const std::filesystem::path& directory);

// What a command did to a keyring that did not hold the public key of a secret it keeps or replaces
// (a keyring lost, or copied from another site): it added that key, derived from the secret.
enum class KeyringRepair {
  none,      // the keyring held it already (or the kind has no keyring)
  created,   // the keyring did not exist: it now holds this key alone
  appended,  // the keyring held other keys only
};

struct KeyInitOutcome {
  KeyKind kind = KeyKind::vault;
  std::filesystem::path path;
  std::string key_id;
  bool created = false;  // false: an existing key was kept
  // auditor: auditor.key is not here but auditor.pub holds its public key (the secret was moved off
  // the host); the key is kept, and path names the keyring.
  bool secret_elsewhere = false;
  KeyringRepair keyring_repair = KeyringRepair::none;  // a kept key whose public half was not in its keyring
};

// Creates the directory (0700) and each missing key (0600, its public half appended to the
// keyring); existing keys are kept, an auditor key whose public half is in auditor.pub too (its
// secret is held elsewhere). A kept key whose public half is not in its keyring has it added
// (opening a protected key with the passphrase). A non-null passphrase encrypts the new keys.
[[nodiscard]] Result<std::vector<KeyInitOutcome>> initialize_keys(const std::filesystem::path& directory,
                                                                  const SecretBytes* passphrase);

struct KeyRotation {
  std::string old_key_id;
  std::string new_key_id;
  std::optional<std::filesystem::path> kept_old_key;  // auditor keys: where the old secret went
  bool old_secret_elsewhere = false;                  // auditor keys: the old secret was not on this host
  bool passphrase_protected = false;                  // the new key, like the one it replaced
  KeyringRepair old_key_recorded = KeyringRepair::none;  // the old public key was missing from the keyring
};

// Replaces a key. audit-signing and auditor public keys are appended to their keyring, so older
// checkpoints and captures stay usable: a keyring lacking the replaced key's public half first gets
// it, derived from the old secret (a secret that cannot be opened is refused, nothing changed). An
// old auditor secret is kept as auditor.<key-id>.key, and an auditor key whose secret is held
// elsewhere is rotated from auditor.pub alone. The new key keeps
// the protection of the one it replaces (an auditor key held elsewhere: of the other keys there): a
// protected key needs a passphrase that opens it; an unprotected one takes none.
[[nodiscard]] Result<KeyRotation> rotate_key(const std::filesystem::path& directory, KeyKind kind,
                                             const SecretBytes* passphrase);

}  // namespace sovereign::crypto
