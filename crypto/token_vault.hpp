#pragma once
// TokenVault: the policy's `tokenize` action. A value becomes a stable, type-tagged token such as
// ⟦EMAIL_7f3a9c⟧ per tenant and conversation scope; the mapping is kept encrypted
// (XChaCha20-Poly1305, tenant, scope, token and key id bound as associated data) until it expires,
// in memory and, when a directory is given, on disk as well.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/key_file.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

inline constexpr std::string_view token_open = "\xE2\x9F\xA6";   // U+27E6 ⟦
inline constexpr std::string_view token_close = "\xE2\x9F\xA7";  // U+27E7 ⟧
inline constexpr std::size_t max_token_type_length = 32;
inline constexpr std::size_t min_token_hex = 6;
inline constexpr std::size_t max_token_hex = 16;
inline constexpr std::size_t max_token_bytes =
    token_open.size() + max_token_type_length + 1 + max_token_hex + token_close.size();
inline constexpr std::size_t max_tokenized_value_bytes = 4096;

struct VaultOptions {
  std::int64_t ttl_seconds = 86400;
  std::size_t max_entries = 1'000'000;
  // What one tenant may hold of them, so that one tenant filling the vault cannot stop every other
  // tenant's tokenization for ttl_seconds. 0: a quarter of max_entries.
  std::size_t max_entries_per_tenant = 0;
  std::function<std::int64_t()> now_ms;  // Unix ms; defaults to the system clock (tests inject one)
  // Where mappings are kept on disk (crypto/vault_journal.hpp), so that tokens issued before a
  // restart are restored after it. Empty: in memory only.
  std::filesystem::path directory;
  // Told what opening the directory found and dropped (a record cut short, another key's mappings).
  std::function<void(const std::string&)> on_note;
};

class TokenVault {
 public:
  // Loads the vault key (passphrase from SOVEREIGN_KEY_PASSPHRASE[_FILE] if it has one).
  [[nodiscard]] static Result<std::unique_ptr<TokenVault>> open(const std::filesystem::path& key_file,
                                                                VaultOptions options);
  // The same with the passphrase given (null: none), as `serve --passphrase-file` reads it.
  [[nodiscard]] static Result<std::unique_ptr<TokenVault>> open(const std::filesystem::path& key_file,
                                                                VaultOptions options, const SecretBytes* passphrase);
  [[nodiscard]] static Result<std::unique_ptr<TokenVault>> create(const SecretKey& vault_key,
                                                                  VaultOptions options);
  ~TokenVault();

  // Thread-safe. The same (tenant, scope, type, value) always yields the same token while the
  // key is unchanged; type is [A-Z][A-Z0-9_]* (at most 32), value 1 to 4096 bytes.
  [[nodiscard]] Result<std::string> tokenize(std::string_view tenant, std::string_view scope,
                                             std::string_view type, std::string_view value);
  // The same for a scope that ends with one request (no conversation named): the mapping is kept
  // in memory only, and forget() drops it once the request's answer is done (ttl_seconds still
  // bounds it should forget never come).
  [[nodiscard]] Result<std::string> tokenize_for_request(std::string_view tenant, std::string_view scope,
                                                         std::string_view type, std::string_view value);
  // Drops the request-scoped mappings of this tenant and scope.
  void forget(std::string_view tenant, std::string_view scope);
  // The value behind a token of this tenant and scope; nullopt for unknown, expired, or another
  // tenant's or scope's tokens.
  [[nodiscard]] std::optional<std::string> restore(std::string_view tenant, std::string_view scope,
                                                   std::string_view token) const;
  std::size_t size() const;
  std::size_t capacity() const;         // max_entries
  std::uint64_t journal_bytes() const;  // the mappings file's size; 0 in memory only
  void purge_expired();
  const std::string& key_id() const;

  class Impl;

 private:
  explicit TokenVault(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether bytes form a complete token, could still become one with more bytes, or cannot.
enum class TokenMatch { complete, incomplete, not_token };
// Looks at text starting with ⟦; for `complete`, length is set to the token's byte length.
TokenMatch match_token(std::string_view text, std::size_t& length);

}  // namespace sovereign::crypto
