#pragma once
// Key files for the audit signing key, the vault key and the auditor's key pair: generation,
// 0600 files (refused if group/world readable), optional Argon2id passphrase, public keyrings.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"
#include "crypto/secret_bytes.hpp"

namespace sovereign::crypto {

enum class KeyKind { audit_signing, vault, auditor };
std::string_view key_kind_name(KeyKind kind);  // "audit-signing", "vault", "auditor"
std::optional<KeyKind> parse_key_kind(std::string_view name);

inline constexpr std::size_t key_secret_size = 32;   // every kind stores a 32-byte secret
inline constexpr std::size_t public_key_size = 32;   // Ed25519 and X25519 public keys
using PublicKeyBytes = std::array<std::uint8_t, public_key_size>;

// What a key file says about its key, readable without the passphrase.
struct KeyMetadata {
  KeyKind kind = KeyKind::vault;
  std::string key_id;   // 16 hex digits derived from the public key (vault: from the key itself)
  std::string created;  // UTC, ISO 8601
  bool passphrase_protected = false;
};

// A secret key in sodium memory. secret: the 32-byte seed (signing), key (vault) or X25519 secret
// (auditor); public_key is all zero for the vault kind, which has none.
struct SecretKey {
  KeyMetadata metadata;
  SecretBytes secret;
  PublicKeyBytes public_key{};
};

// One line of a public keyring file.
struct PublicKey {
  KeyKind kind = KeyKind::audit_signing;
  std::string key_id;
  PublicKeyBytes key{};
  std::string created;
};

[[nodiscard]] SecretKey generate_key(KeyKind kind);
// Builds a key from an existing 32-byte secret (import, known-answer tests): derives its public
// half and key id; created is set to now.
[[nodiscard]] Result<SecretKey> key_from_secret(KeyKind kind, SecretBytes secret);
PublicKey public_key_of(const SecretKey& key);
std::string key_id_for(KeyKind kind, std::span<const std::uint8_t> public_or_secret);

// Writes the key file with mode 0600. With replace=false an existing file is an error.
// A non-null passphrase encrypts the secret (Argon2id + XChaCha20-Poly1305).
[[nodiscard]] Status write_secret_key_file(const std::filesystem::path& path, const SecretKey& key,
                                           const SecretBytes* passphrase, bool replace);
// Reads and checks a key file: permissions, format, kind (if expected_kind), passphrase.
[[nodiscard]] Result<SecretKey> read_secret_key_file(const std::filesystem::path& path,
                                                     const SecretBytes* passphrase,
                                                     std::optional<KeyKind> expected_kind);
// Checks a key file as read_secret_key_file reads it, short of the passphrase: permissions, format,
// kind (if expected_kind) and the shape of every field; an unprotected key is read whole, its
// key-id checked against the key. What `config check` runs on the keys serve will open.
[[nodiscard]] Status check_secret_key_file(const std::filesystem::path& path, std::optional<KeyKind> expected_kind);
// "the auditor public keyring", "the vault secret key": what a key file is, for a command given one
// where it takes something else; nullopt when `path` is not a key file (or cannot be read).
std::optional<std::string> key_file_description(const std::filesystem::path& path);
// What read_secret_key_file checks before it reads the key: that the file is not a public keyring
// given in its place (named as such, with the key the command needs), then its permissions (0600).
[[nodiscard]] Status check_secret_key_permissions(const std::filesystem::path& path,
                                                  std::optional<KeyKind> expected_kind);
// Metadata only: works without the passphrase.
[[nodiscard]] Result<KeyMetadata> read_key_metadata(const std::filesystem::path& path);

std::string format_public_key(const PublicKey& key);
// Parses a keyring: one key per line, '#' comments; errors name FILE:LINE. A secret key file given
// in its place is named as such, with `wanted` (the keyring the command needs, where it knows it).
[[nodiscard]] Result<std::vector<PublicKey>> parse_public_keys(std::string_view text,
                                                               std::string_view source_name,
                                                               std::optional<KeyKind> wanted = std::nullopt);
[[nodiscard]] Result<std::vector<PublicKey>> read_public_keys(const std::filesystem::path& path,
                                                              std::optional<KeyKind> wanted = std::nullopt);
// Appends one key line to a keyring (created 0644: public keys are meant to be shared).
[[nodiscard]] Status append_public_key(const std::filesystem::path& path, const PublicKey& key);

// The passphrase from SOVEREIGN_KEY_PASSPHRASE_FILE (a file holding it) or
// SOVEREIGN_KEY_PASSPHRASE (the passphrase itself); nullopt when neither is set.
[[nodiscard]] Result<std::optional<SecretBytes>> passphrase_from_environment();
// A passphrase file: private like a key file (0600), at most 4 KiB, one line (one trailing newline,
// or CRLF, is not part of the passphrase); errors name the file and what to fix.
[[nodiscard]] Result<SecretBytes> read_passphrase_file(const std::filesystem::path& path);
// What the commands that read secret keys use: the --passphrase-file FILE given, else the environment.
[[nodiscard]] Result<std::optional<SecretBytes>> passphrase_from_file_or_environment(
    const std::optional<std::string>& passphrase_file);

}  // namespace sovereign::crypto
