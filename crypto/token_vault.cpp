#include "crypto/token_vault.hpp"

#include <sodium.h>

#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "crypto/file_io.hpp"
#include "crypto/hex.hpp"
#include "crypto/secret_bytes.hpp"
#include "crypto/vault_journal.hpp"

namespace sovereign::crypto {

namespace {

constexpr std::size_t max_tenant_or_scope_bytes = 256;
constexpr std::size_t nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t tag_size = crypto_aead_xchacha20poly1305_ietf_ABYTES;

bool is_type_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
bool is_hex_char(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void append_field(std::string& out, std::string_view field) {
  const auto length = static_cast<std::uint32_t>(field.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out.append(field);
}

// Length-prefixed, so no two (tenant, scope, token) triples share an encoding.
std::string entry_key(std::string_view tenant, std::string_view scope, std::string_view token) {
  std::string key;
  append_field(key, tenant);
  append_field(key, scope);
  append_field(key, token);
  return key;
}

std::string scope_key(std::string_view tenant, std::string_view scope) {
  std::string key;
  append_field(key, tenant);
  append_field(key, scope);
  return key;
}

// The fields entry_key encoded, back.
struct EntryNames {
  std::string_view tenant, scope, token;
};
EntryNames entry_names(std::string_view key) {
  std::string_view fields[3];
  for (auto& field : fields) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= static_cast<std::uint32_t>(static_cast<unsigned char>(key[i])) << (8 * i);
    field = key.substr(4, length);
    key.remove_prefix(4 + length);
  }
  return {fields[0], fields[1], fields[2]};
}

struct Entry {
  std::array<std::uint8_t, nonce_size> nonce{};
  std::string ciphertext;
  std::int64_t expires_ms = 0;
  std::string tenant;  // counted against its tenant's share while it lives
  std::int64_t written_expires_ms = 0;  // the expiry the journal holds
  bool request_scoped = false;          // memory only, dropped by forget()
};
static_assert(nonce_size == vault_nonce_size);

}  // namespace

TokenMatch match_token(std::string_view text, std::size_t& length) {
  if (text.substr(0, token_open.size()) != token_open.substr(0, std::min(text.size(), token_open.size()))) {
    return TokenMatch::not_token;
  }
  if (text.size() < token_open.size()) return TokenMatch::incomplete;
  std::size_t i = token_open.size();
  const std::size_t body_start = i;
  while (i < text.size() && i - body_start <= max_token_type_length + 1 + max_token_hex &&
         (is_type_char(text[i]) || is_hex_char(text[i]))) {
    ++i;
  }
  const std::string_view body = text.substr(body_start, i - body_start);
  if (body.size() > max_token_type_length + 1 + max_token_hex) return TokenMatch::not_token;
  const std::string_view rest = text.substr(i);
  if (rest.empty()) return TokenMatch::incomplete;
  if (rest.substr(0, token_close.size()) != token_close.substr(0, std::min(rest.size(), token_close.size()))) {
    return TokenMatch::not_token;
  }
  const std::size_t separator = body.rfind('_');
  if (separator == std::string_view::npos || separator == 0) return TokenMatch::not_token;
  const std::string_view type = body.substr(0, separator);
  const std::string_view hex = body.substr(separator + 1);
  if (type.size() > max_token_type_length || hex.size() < min_token_hex || hex.size() > max_token_hex ||
      type[0] < 'A' || type[0] > 'Z') {
    return TokenMatch::not_token;
  }
  for (char c : type) {
    if (!is_type_char(c)) return TokenMatch::not_token;
  }
  for (char c : hex) {
    if (!is_hex_char(c)) return TokenMatch::not_token;
  }
  if (rest.size() < token_close.size()) return TokenMatch::incomplete;
  length = i + token_close.size();
  return TokenMatch::complete;
}

class TokenVault::Impl {
 public:
  Impl(const SecretKey& key, VaultOptions options)
      : options_(std::move(options)),
        key_id_(key.metadata.key_id),
        token_key_(crypto_auth_hmacsha256_KEYBYTES),
        value_key_(crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
    // Separate subkeys for naming tokens and for encrypting values.
    crypto_kdf_derive_from_key(token_key_.data(), token_key_.size(), 1, "sgvault1", key.secret.data());
    crypto_kdf_derive_from_key(value_key_.data(), value_key_.size(), 2, "sgvault1", key.secret.data());
    if (!options_.now_ms) options_.now_ms = unix_time_ms;
  }

  // Reads the mappings the directory holds: live ones of this key are restored from now on.
  Status load() {
    std::vector<std::string> notes;
    const std::int64_t now = options_.now_ms();
    std::size_t other_key = 0;
    std::size_t other_key_live = 0;
    std::size_t records = 0;
    auto take = [&](JournalRecord& record) {
      ++records;
      if (record.key_id != key_id_) {
        ++other_key;
        if (record.expires_ms > now) ++other_key_live;
        return;
      }
      // A mapping's later records only move its expiry on: an expired record has no live one before it.
      if (record.expires_ms <= now || record.tenant.empty() || record.ciphertext.size() < tag_size) return;
      auto [it, inserted] = entries_.try_emplace(entry_key(record.tenant, record.scope, record.token));
      if (inserted) ++per_tenant_[record.tenant];
      it->second = Entry{record.nonce, std::move(record.ciphertext), record.expires_ms, std::move(record.tenant),
                         record.expires_ms};
    };
    auto journal = VaultJournal::open(options_.directory, take, notes);
    if (!journal) return journal.error();
    journal_ = std::move(journal.value());
    if (other_key > 0) {
      // The gateway cannot tell a rotated key from a wrong one (another site's, an old backup's): the
      // file as it was stays beside it while live mappings would go, so a start with the wrong key
      // loses nothing for good.
      std::string kept;
      if (other_key_live > 0) {
        Result<std::filesystem::path> copy = journal_->keep_as("before-key-" + key_id_);
        if (!copy) return make_error("token vault: " + copy.error().message);
        kept = " (" + std::to_string(other_key_live) + " not expired); the file as it was is kept as " +
               copy.value().string() + ": if this is not the key they were made with, stop the gateway, put that "
               "file back as " + std::string(VaultJournal::file_name) + " and start with the right key; after a "
               "rotation, delete it";
      }
      notes.push_back(journal_->path().string() + ": " + std::to_string(other_key) +
                      " mapping records were made with another vault key (rotated since) and can no longer be "
                      "restored; dropped" + kept);
    }
    for (const auto& note : notes)
      if (options_.on_note) options_.on_note(note);
    journal_records_ = records;
    if (journal_records_ > entries_.size()) return compact_locked();
    return {};
  }

  ~Impl() {
    if (journal_) (void)journal_->sync();
  }

  // The journal is synced (at most once a second) after the lock is released: a slow disk must not
  // stall every other tokenize and restore.
  Result<std::string> tokenize(std::string_view tenant, std::string_view scope, std::string_view type,
                               std::string_view value, bool request_scoped) {
    Result<std::string> token = tokenize_value(tenant, scope, type, value, request_scoped);
    if (journal_ && journal_->sync_due())
      if (Status synced = journal_->sync(); !synced) return make_error("token vault: " + synced.error().message);
    return token;
  }

  Result<std::string> tokenize_value(std::string_view tenant, std::string_view scope, std::string_view type,
                                     std::string_view value, bool request_scoped) {
    if (Status valid = check_names(tenant, scope); !valid) return valid.error();
    if (type.empty() || type.size() > max_token_type_length || type[0] < 'A' || type[0] > 'Z') {
      return make_error("token type '" + std::string(type.substr(0, 40)) +
                        "' must start with A-Z and be at most 32 characters");
    }
    for (char c : type) {
      if (!is_type_char(c)) {
        return make_error("token type '" + std::string(type) + "' may only contain A-Z, 0-9 and _");
      }
    }
    if (value.empty() || value.size() > max_tokenized_value_bytes) {
      return make_error("value to tokenize has " + std::to_string(value.size()) +
                        " bytes; it must have 1 to " + std::to_string(max_tokenized_value_bytes));
    }
    std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
    {
      std::string input;
      append_field(input, tenant);
      append_field(input, scope);
      append_field(input, type);
      append_field(input, value);
      crypto_auth_hmacsha256(mac.data(), reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                             token_key_.data());
      sodium_memzero(input.data(), input.size());
    }
    const std::string hex = to_hex(mac);
    const std::int64_t now = options_.now_ms();
    std::unique_lock lock(mutex_);
    // A different value may already hold the short name; lengthen until the name is ours or free.
    for (std::size_t digits = min_token_hex; digits <= max_token_hex; digits += 2) {
      std::string token = std::string(token_open) + std::string(type) + "_" + hex.substr(0, digits) +
                          std::string(token_close);
      const std::string key = entry_key(tenant, scope, token);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.expires_ms > now) {
        std::optional<std::string> existing = decrypt(tenant, scope, token, it->second);
        if (existing && existing->size() == value.size() &&
            sodium_memcmp(existing->data(), value.data(), value.size()) == 0) {
          it->second.expires_ms = now + options_.ttl_seconds * 1000;
          // On disk the expiry moves on once half the time to live has passed, not at every use.
          if (journal_ && !it->second.request_scoped &&
              it->second.expires_ms - it->second.written_expires_ms >= options_.ttl_seconds * 500) {
            if (Status written = write_locked(key, it->second); !written) return written.error();
          }
          return token;
        }
        continue;
      }
      if (it == entries_.end()) {
        auto held = [&] {
          auto count = per_tenant_.find(std::string(tenant));
          return count == per_tenant_.end() ? std::size_t{0} : count->second;
        };
        if (entries_.size() >= options_.max_entries || held() >= tenant_limit_) purge_locked(now);
        if (held() >= tenant_limit_)
          return make_error("tenant '" + std::string(tenant) + "' holds its limit of " + std::to_string(tenant_limit_) +
                            " live token mappings (vault max_entries_per_tenant); they expire after ttl_seconds");
        if (entries_.size() >= options_.max_entries)
          return make_error("token vault full (" + std::to_string(options_.max_entries) +
                            " live mappings); raise vault max_entries or shorten ttl_seconds");
      }
      Entry entry = encrypt(tenant, scope, token, value, now + options_.ttl_seconds * 1000);
      entry.tenant = std::string(tenant);
      entry.request_scoped = request_scoped;
      // Kept on disk before it is handed out: a token is only issued if a restart can restore it.
      // A request's own mappings are not: the request does not outlive the process.
      if (journal_ && !request_scoped) {
        if (Status written = write_locked(key, entry); !written) return written.error();
      }
      if (it == entries_.end()) ++per_tenant_[std::string(tenant)];
      if (request_scoped) request_scoped_[scope_key(tenant, scope)].push_back(key);
      entries_[key] = std::move(entry);
      // Every few thousand new mappings the expired ones go, and the journal is rewritten once
      // most of its records are dead.
      if (++added_since_purge_ >= purge_every) {
        added_since_purge_ = 0;
        purge_locked(now);
        if (journal_ && journal_records_ > 2 * entries_.size() + purge_every)
          if (Status compacted = compact_locked(); !compacted) return compacted.error();
      }
      return token;
    }
    return make_error("token vault: no free token name for this value (hash prefix collisions)");
  }

  std::optional<std::string> restore(std::string_view tenant, std::string_view scope,
                                     std::string_view token) const {
    if (!check_names(tenant, scope)) return std::nullopt;
    std::shared_lock lock(mutex_);
    const Entry* entry = live_locked(tenant, scope, token);
    if (entry == nullptr) return std::nullopt;
    return decrypt(tenant, scope, token, *entry);
  }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return entries_.size();
  }

  std::size_t capacity() const { return options_.max_entries; }

  void forget(std::string_view tenant, std::string_view scope) {
    std::unique_lock lock(mutex_);
    auto scoped = request_scoped_.find(scope_key(tenant, scope));
    if (scoped == request_scoped_.end()) return;
    for (const auto& key : scoped->second) {
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.request_scoped) erase_locked(it);
    }
    request_scoped_.erase(scoped);
  }

  std::uint64_t journal_bytes() const {
    std::shared_lock lock(mutex_);
    return journal_ ? journal_->size_bytes() : 0;
  }

  void purge_expired() {
    std::unique_lock lock(mutex_);
    purge_locked(options_.now_ms());
  }

  const std::string& key_id() const { return key_id_; }

 private:
  static Status check_names(std::string_view tenant, std::string_view scope) {
    if (tenant.empty() || tenant.size() > max_tenant_or_scope_bytes || scope.size() > max_tenant_or_scope_bytes) {
      return make_error("tenant must have 1 to 256 bytes and scope at most 256");
    }
    return {};
  }

  // The mapping of this token that has not expired; the caller holds the lock.
  const Entry* live_locked(std::string_view tenant, std::string_view scope, std::string_view token) const {
    auto it = entries_.find(entry_key(tenant, scope, token));
    if (it == entries_.end() || it->second.expires_ms <= options_.now_ms()) return nullptr;
    return &it->second;
  }

  std::string associated_data(std::string_view tenant, std::string_view scope, std::string_view token) const {
    std::string ad = "sovereign-vault-v1";
    append_field(ad, key_id_);
    append_field(ad, tenant);
    append_field(ad, scope);
    append_field(ad, token);
    return ad;
  }

  Entry encrypt(std::string_view tenant, std::string_view scope, std::string_view token,
                std::string_view value, std::int64_t expires_ms) const {
    Entry entry;
    entry.expires_ms = expires_ms;
    randombytes_buf(entry.nonce.data(), entry.nonce.size());
    entry.ciphertext.resize(value.size() + tag_size);
    const std::string ad = associated_data(tenant, scope, token);
    unsigned long long length = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(entry.ciphertext.data()), &length,
        reinterpret_cast<const unsigned char*>(value.data()), value.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, entry.nonce.data(),
        value_key_.data());
    return entry;
  }

  std::optional<std::string> decrypt(std::string_view tenant, std::string_view scope, std::string_view token,
                                     const Entry& entry) const {
    std::string value(entry.ciphertext.size() - tag_size, '\0');
    const std::string ad = associated_data(tenant, scope, token);
    unsigned long long length = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(value.data()), &length, nullptr,
            reinterpret_cast<const unsigned char*>(entry.ciphertext.data()), entry.ciphertext.size(),
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), entry.nonce.data(),
            value_key_.data()) != 0) {
      return std::nullopt;
    }
    return value;
  }

  Status write_locked(const std::string& key, Entry& entry) {
    const EntryNames names = entry_names(key);
    JournalRecord record{key_id_, std::string(names.tenant), std::string(names.scope), std::string(names.token),
                         entry.nonce, entry.ciphertext, entry.expires_ms};
    if (Status appended = journal_->append(record); !appended)
      return make_error("token vault: " + appended.error().message);
    entry.written_expires_ms = entry.expires_ms;
    ++journal_records_;
    return {};
  }

  // Rewrites the journal with the live mappings only.
  Status compact_locked() {
    std::vector<JournalRecord> live;
    live.reserve(entries_.size());
    for (auto& [key, entry] : entries_) {
      if (entry.request_scoped) continue;
      const EntryNames names = entry_names(key);
      live.push_back({key_id_, std::string(names.tenant), std::string(names.scope), std::string(names.token),
                      entry.nonce, entry.ciphertext, entry.expires_ms});
      entry.written_expires_ms = entry.expires_ms;
    }
    if (Status written = journal_->compact(live); !written) return make_error("token vault: " + written.error().message);
    journal_records_ = live.size();
    return {};
  }

  void purge_locked(std::int64_t now) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.expires_ms > now) ++it;
      else it = erase_locked(it);
    }
    // A request that never said it was done leaves names of erased mappings behind: drop those lists.
    std::erase_if(request_scoped_, [this](const auto& scoped) {
      return std::none_of(scoped.second.begin(), scoped.second.end(), [this](const std::string& key) { return entries_.contains(key); });
    });
  }

  std::unordered_map<std::string, Entry>::iterator erase_locked(std::unordered_map<std::string, Entry>::iterator it) {
    if (auto count = per_tenant_.find(it->second.tenant); count != per_tenant_.end() && --count->second == 0)
      per_tenant_.erase(count);
    return entries_.erase(it);
  }

  VaultOptions options_;
  std::string key_id_;
  SecretBytes token_key_;
  SecretBytes value_key_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::size_t> per_tenant_;  // live entries by tenant
  std::unique_ptr<VaultJournal> journal_;  // null: in memory only
  // The keys of request-scoped mappings by tenant and scope, for forget().
  std::unordered_map<std::string, std::vector<std::string>> request_scoped_;
  std::size_t journal_records_ = 0;        // records in the journal, live or not
  std::size_t added_since_purge_ = 0;
  static constexpr std::size_t purge_every = 4096;
  std::size_t tenant_limit_ = options_.max_entries_per_tenant != 0 ? options_.max_entries_per_tenant
                                                                    : std::max<std::size_t>(1, options_.max_entries / 4);
};

TokenVault::TokenVault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenVault::~TokenVault() = default;

Result<std::unique_ptr<TokenVault>> TokenVault::open(const std::filesystem::path& key_file, VaultOptions options) {
  Result<std::optional<SecretBytes>> passphrase = passphrase_from_environment();
  if (!passphrase) return passphrase.error();
  return open(key_file, std::move(options), passphrase->has_value() ? &passphrase->value() : nullptr);
}

Result<std::unique_ptr<TokenVault>> TokenVault::open(const std::filesystem::path& key_file, VaultOptions options,
                                                     const SecretBytes* passphrase) {
  Result<SecretKey> key = read_secret_key_file(key_file, passphrase, KeyKind::vault);
  if (!key) return make_error("vault key: " + key.error().message);
  return create(key.value(), std::move(options));
}

Result<std::unique_ptr<TokenVault>> TokenVault::create(const SecretKey& vault_key, VaultOptions options) {
  ensure_sodium();
  if (vault_key.metadata.kind != KeyKind::vault) {
    return make_error("the token vault needs a vault key, got a " +
                      std::string(key_kind_name(vault_key.metadata.kind)) + " key");
  }
  if (options.ttl_seconds <= 0) return make_error("vault: ttl_seconds must be at least 1");
  if (options.max_entries == 0) return make_error("vault: max_entries must be at least 1");
  const bool persistent = !options.directory.empty();
  auto impl = std::make_unique<Impl>(vault_key, std::move(options));
  if (persistent)
    if (Status loaded = impl->load(); !loaded) return loaded.error();
  return std::unique_ptr<TokenVault>(new TokenVault(std::move(impl)));
}

Result<std::string> TokenVault::tokenize(std::string_view tenant, std::string_view scope, std::string_view type,
                                         std::string_view value) {
  return impl_->tokenize(tenant, scope, type, value, false);
}
Result<std::string> TokenVault::tokenize_for_request(std::string_view tenant, std::string_view scope,
                                                     std::string_view type, std::string_view value) {
  return impl_->tokenize(tenant, scope, type, value, true);
}
void TokenVault::forget(std::string_view tenant, std::string_view scope) { impl_->forget(tenant, scope); }
std::optional<std::string> TokenVault::restore(std::string_view tenant, std::string_view scope,
                                               std::string_view token) const {
  return impl_->restore(tenant, scope, token);
}
std::size_t TokenVault::size() const { return impl_->size(); }
std::size_t TokenVault::capacity() const { return impl_->capacity(); }
std::uint64_t TokenVault::journal_bytes() const { return impl_->journal_bytes(); }
void TokenVault::purge_expired() { impl_->purge_expired(); }
const std::string& TokenVault::key_id() const { return impl_->key_id(); }

}  // namespace sovereign::crypto
