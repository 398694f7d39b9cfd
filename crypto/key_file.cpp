#include "crypto/key_file.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "crypto/file_io.hpp"
#include "crypto/hex.hpp"

namespace sovereign::crypto {

namespace {

constexpr std::string_view secret_format = "sovereign-secret-key-v1";
constexpr std::string_view public_format = "sovereign-public-key-v1";
constexpr std::size_t max_key_file_bytes = 4096;
constexpr std::size_t max_keyring_bytes = 1 << 20;
constexpr std::size_t max_passphrase_bytes = 4096;
constexpr std::size_t salt_size = crypto_pwhash_SALTBYTES;
constexpr std::size_t nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t tag_size = crypto_aead_xchacha20poly1305_ietf_ABYTES;
// Bounds on the cost a key file may ask for, so a crafted file cannot exhaust memory or time.
constexpr unsigned long long max_opslimit = 16;
constexpr std::size_t max_memlimit = std::size_t{1} << 30;

std::string associated_data(KeyKind kind, std::string_view key_id) {
  return std::string(secret_format) + "|" + std::string(key_kind_name(kind)) + "|" +
         std::string(key_id);
}

std::string_view trim_view(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r')) --end;
  return text.substr(begin, end - begin);
}

std::string trim(std::string_view text) { return std::string(trim_view(text)); }

// Text from a file quoted in an error: control and non-ASCII bytes as \xNN, so a garbage file
// cannot send escape sequences to the terminal.
std::string printable(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 0xf]);
    }
  }
  return out;
}

// What a command needs, named for an error about a key file of another kind given in its place.
std::string secret_key_wanted(std::optional<KeyKind> kind) {
  if (!kind) return "a secret key file (audit-signing.key, vault.key or auditor.key)";
  const std::string name(key_kind_name(*kind));
  return "the " + name + " secret key (" + name + ".key)";
}

std::string public_keyring_wanted(std::optional<KeyKind> kind) {
  if (!kind) return "a public keyring (audit-signing.pub or auditor.pub)";
  const std::string name(key_kind_name(*kind));
  return "the " + name + " public keyring (" + name + ".pub)";
}

// Calls `on_line` with each line of `text`, trimmed, until it returns true.
template <class OnLine>
void for_each_line(std::string_view text, OnLine on_line) {
  std::size_t position = 0;
  while (position < text.size()) {
    const std::size_t end = std::min(text.find('\n', position), text.size());
    if (on_line(trim_view(text.substr(position, end - position)))) return;
    position = end + 1;
  }
}

// The kind named on the first key line of a public keyring, or nullopt when `text` holds none.
std::optional<std::string> keyring_kind(std::string_view text) {
  std::optional<std::string> kind;
  const std::string prefix = std::string(public_format) + " ";
  for_each_line(text, [&](std::string_view line) {
    if (!line.starts_with(prefix)) return false;
    const std::string_view rest = trim_view(line.substr(prefix.size()));
    kind = printable(rest.substr(0, rest.find(' ')));
    return true;
  });
  return kind;
}

// The kind a secret key file names ("unknown" without a kind line), or nullopt when `text` is not
// a secret key file. Only views of the text are taken: its secret line is never copied.
std::optional<std::string> secret_file_kind(std::string_view text) {
  bool secret_file = false;
  std::string kind = "unknown";
  for_each_line(text, [&](std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view key = trim_view(line.substr(0, colon));
    const std::string_view value = trim_view(line.substr(colon + 1));
    if (key == "format") secret_file = value == secret_format;
    if (key == "kind") kind = printable(value.substr(0, 40));
    return false;
  });
  if (!secret_file) return std::nullopt;
  return kind;
}

// What kind of key file a file is, read without keeping its text (which may hold a secret).
struct IdentifiedKeyFile {
  bool public_keyring = false;  // else a secret key file
  std::string kind;             // as the file names it, printable
};

std::optional<IdentifiedKeyFile> identify_key_file(const std::filesystem::path& path) {
  Result<std::string> text = read_small_file(path, max_keyring_bytes);
  if (!text) return std::nullopt;
  std::optional<IdentifiedKeyFile> identified;
  if (std::optional<std::string> kind = keyring_kind(text.value())) {
    identified = IdentifiedKeyFile{true, std::move(*kind)};
  } else if (std::optional<std::string> secret_kind = secret_file_kind(text.value())) {
    identified = IdentifiedKeyFile{false, std::move(*secret_kind)};
  }
  sodium_memzero(text->data(), text->size());
  return identified;
}

// Derives the public half of a stored secret, and for signing keys the 64-byte libsodium secret.
void derive_public(KeyKind kind, const SecretBytes& secret, PublicKeyBytes& public_key) {
  if (kind == KeyKind::audit_signing) {
    SecretBytes expanded(crypto_sign_SECRETKEYBYTES);
    crypto_sign_seed_keypair(public_key.data(), expanded.data(), secret.data());
  } else if (kind == KeyKind::auditor) {
    crypto_scalarmult_base(public_key.data(), secret.data());
  } else {
    public_key.fill(0);
  }
}

// The fields of a key file. Values include the secret, so they are wiped before they are freed.
struct ParsedFields {
  std::map<std::string, std::pair<std::string, int>> values;  // name -> (value, line)

  ParsedFields() = default;
  ParsedFields(ParsedFields&&) = default;
  ParsedFields& operator=(ParsedFields&&) = default;
  ~ParsedFields() {
    for (auto& [key, value] : values) sodium_memzero(value.first.data(), value.first.size());
  }
};

Result<ParsedFields> parse_fields(std::string_view text, const std::string& name) {
  ParsedFields fields;
  int line_number = 0;
  std::size_t position = 0;
  while (position <= text.size()) {
    const std::size_t end = std::min(text.find('\n', position), text.size());
    // Views into the file's text, never copies: the secret line is copied only into fields.values.
    const std::string_view line = trim_view(text.substr(position, end - position));
    ++line_number;
    position = end + 1;
    if (line.empty() || line[0] == '#') {
      if (end == text.size()) break;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      return make_error(name + ":" + std::to_string(line_number) +
                        ": expected 'field: value', found '" + printable(line.substr(0, 40)) + "'");
    }
    std::string key = trim(line.substr(0, colon));
    if (fields.values.count(key) != 0) {
      return make_error(name + ":" + std::to_string(line_number) + ": field '" + printable(key) +
                        "' appears twice");
    }
    fields.values.emplace(std::move(key), std::pair(std::string(trim_view(line.substr(colon + 1))), line_number));
    if (end == text.size()) break;
  }
  return fields;
}

// The field's value in place (the secret's is never copied), or nullptr.
const std::string* find_field(const ParsedFields& fields, const std::string& key) {
  auto it = fields.values.find(key);
  return it == fields.values.end() ? nullptr : &it->second.first;
}

Error missing_field(const std::string& name, const std::string& key) {
  return make_error(name + ": missing field '" + key + "'");
}

Result<std::string> field(const ParsedFields& fields, const std::string& name,
                          const std::string& key) {
  const std::string* value = find_field(fields, key);
  if (value == nullptr) return missing_field(name, key);
  return *value;
}

std::string at_line(const ParsedFields& fields, const std::string& name, const std::string& key) {
  auto it = fields.values.find(key);
  return name + ":" + std::to_string(it == fields.values.end() ? 0 : it->second.second);
}

Result<unsigned long long> parse_number(const std::string& text, const std::string& where) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(where + ": expected a decimal number, found '" + printable(text) + "'");
  }
  return std::stoull(text);
}

Result<KeyMetadata> metadata_from(const ParsedFields& fields, const std::string& name) {
  static const char* known[] = {"format", "kind", "key-id", "created", "protection", "kdf-opslimit",
                                "kdf-memlimit", "kdf-salt", "nonce", "secret"};
  for (const auto& [key, value] : fields.values) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) {
      return make_error(name + ":" + std::to_string(value.second) + ": unknown field '" + printable(key) + "'");
    }
  }
  Result<std::string> format = field(fields, name, "format");
  if (!format) {
    return make_error(name + ": not a Sovereign secret key file (no 'format: " +
                      std::string(secret_format) + "' line)");
  }
  if (format.value() != secret_format) {
    return make_error(at_line(fields, name, "format") + ": unsupported format '" + printable(format.value()) +
                      "', expected '" + std::string(secret_format) + "'");
  }
  KeyMetadata metadata;
  Result<std::string> kind = field(fields, name, "kind");
  if (!kind) return kind.error();
  std::optional<KeyKind> parsed_kind = parse_key_kind(kind.value());
  if (!parsed_kind) {
    return make_error(at_line(fields, name, "kind") + ": unknown key kind '" + printable(kind.value()) +
                      "' (audit-signing, vault or auditor)");
  }
  metadata.kind = *parsed_kind;
  Result<std::string> key_id = field(fields, name, "key-id");
  if (!key_id) return key_id.error();
  std::array<std::uint8_t, 8> id_bytes{};
  if (!from_hex_into(key_id.value(), id_bytes)) {
    return make_error(at_line(fields, name, "key-id") + ": key-id must be 16 hex digits");
  }
  metadata.key_id = key_id.value();
  Result<std::string> created = field(fields, name, "created");
  if (!created) return created.error();
  if (!is_utc_ms_time(created.value())) {
    return make_error(at_line(fields, name, "created") + ": created '" + printable(created.value().substr(0, 40)) +
                      "' is not a UTC time like 2026-11-22T02:30:00.000Z");
  }
  metadata.created = created.value();
  Result<std::string> protection = field(fields, name, "protection");
  if (!protection) return protection.error();
  if (protection.value() == "argon2id") {
    metadata.passphrase_protected = true;
  } else if (protection.value() != "none") {
    return make_error(at_line(fields, name, "protection") + ": protection must be 'none' or " +
                      "'argon2id', found '" + printable(protection.value()) + "'");
  }
  return metadata;
}

Result<SecretBytes> decode_secret_hex(const std::string& text, std::size_t size,
                                      const std::string& where) {
  SecretBytes out(size);
  if (!from_hex_into(text, out.span())) {
    return make_error(where + ": expected " + std::to_string(size * 2) + " hex digits");
  }
  return out;
}

Result<SecretBytes> derive_passphrase_key(const SecretBytes& passphrase,
                                          std::span<const std::uint8_t> salt,
                                          unsigned long long opslimit, std::size_t memlimit,
                                          const std::string& name) {
  SecretBytes key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  if (crypto_pwhash(key.data(), key.size(), reinterpret_cast<const char*>(passphrase.data()),
                    passphrase.size(), salt.data(), opslimit, memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return make_error(name + ": Argon2id key derivation ran out of memory (memlimit " +
                      std::to_string(memlimit) + " bytes)");
  }
  return key;
}

// A key file read and checked as far as it can be without the passphrase: every field's shape,
// and the secret of an unprotected key.
struct StoredKey {
  KeyMetadata metadata;
  std::string key_id_at;  // FILE:LINE of the key-id, named when it does not match the key
  SecretBytes secret;     // unprotected: the secret itself
  // Protected: the Argon2id parameters and the encrypted secret.
  unsigned long long opslimit = 0;
  std::size_t memlimit = 0;
  std::array<std::uint8_t, salt_size> salt{};
  std::array<std::uint8_t, nonce_size> nonce{};
  std::array<std::uint8_t, key_secret_size + tag_size> sealed{};
};

Result<StoredKey> read_stored_key(const std::filesystem::path& path, std::optional<KeyKind> expected_kind) {
  ensure_sodium();
  const std::string name = path.string();
  if (Status permissions = check_secret_key_permissions(path, expected_kind); !permissions) {
    return permissions.error();
  }
  Result<std::string> text = read_small_file(path, max_key_file_bytes);
  if (!text) return text.error();
  Result<ParsedFields> parsed = parse_fields(text.value(), name);
  sodium_memzero(text->data(), text->size());
  if (!parsed) return parsed.error();
  ParsedFields& fields = parsed.value();
  Result<KeyMetadata> metadata = metadata_from(fields, name);
  if (!metadata) return metadata.error();
  if (expected_kind && metadata->kind != *expected_kind) {
    return make_error(at_line(fields, name, "kind") + ": this is the " +
                      std::string(key_kind_name(metadata->kind)) + " secret key; this command needs " +
                      secret_key_wanted(expected_kind));
  }
  const std::string* secret_text = find_field(fields, "secret");
  if (secret_text == nullptr) return missing_field(name, "secret");

  StoredKey stored;
  stored.metadata = metadata.value();
  stored.key_id_at = at_line(fields, name, "key-id");
  if (!metadata->passphrase_protected) {
    Result<SecretBytes> secret =
        decode_secret_hex(*secret_text, key_secret_size, at_line(fields, name, "secret"));
    if (!secret) return secret.error();
    stored.secret = std::move(secret.value());
    return stored;
  }
  Result<std::string> ops_text = field(fields, name, "kdf-opslimit");
  Result<std::string> mem_text = field(fields, name, "kdf-memlimit");
  Result<std::string> salt_text = field(fields, name, "kdf-salt");
  Result<std::string> nonce_text = field(fields, name, "nonce");
  for (const auto* r : {&ops_text, &mem_text, &salt_text, &nonce_text}) {
    if (!*r) return r->error();
  }
  Result<unsigned long long> ops = parse_number(ops_text.value(), at_line(fields, name, "kdf-opslimit"));
  if (!ops) return ops.error();
  Result<unsigned long long> mem = parse_number(mem_text.value(), at_line(fields, name, "kdf-memlimit"));
  if (!mem) return mem.error();
  if (ops.value() < crypto_pwhash_OPSLIMIT_MIN || ops.value() > max_opslimit) {
    return make_error(at_line(fields, name, "kdf-opslimit") + ": must be between " +
                      std::to_string(crypto_pwhash_OPSLIMIT_MIN) + " and " + std::to_string(max_opslimit));
  }
  if (mem.value() < crypto_pwhash_MEMLIMIT_MIN || mem.value() > max_memlimit) {
    return make_error(at_line(fields, name, "kdf-memlimit") + ": must be between " +
                      std::to_string(crypto_pwhash_MEMLIMIT_MIN) + " and " + std::to_string(max_memlimit));
  }
  stored.opslimit = ops.value();
  stored.memlimit = static_cast<std::size_t>(mem.value());
  if (!from_hex_into(salt_text.value(), stored.salt)) {
    return make_error(at_line(fields, name, "kdf-salt") + ": expected " + std::to_string(salt_size * 2) + " hex digits");
  }
  if (!from_hex_into(nonce_text.value(), stored.nonce)) {
    return make_error(at_line(fields, name, "nonce") + ": expected " + std::to_string(nonce_size * 2) + " hex digits");
  }
  if (!from_hex_into(*secret_text, stored.sealed)) {
    return make_error(at_line(fields, name, "secret") + ": expected " +
                      std::to_string(stored.sealed.size() * 2) + " hex digits (encrypted secret)");
  }
  return stored;
}

// The key of a stored key file: decrypted with the passphrase where it is protected, and checked
// against its key-id (derived from the public key, or from the secret of a vault key).
Result<SecretKey> open_stored_key(StoredKey stored, const SecretBytes* passphrase, const std::string& name) {
  SecretKey key;
  key.metadata = stored.metadata;
  if (!stored.metadata.passphrase_protected) {
    key.secret = std::move(stored.secret);
  } else {
    if (passphrase == nullptr) {
      return make_error(name + ": the key is passphrase-protected; pass --passphrase-file FILE (serve, keys, " +
                        "audit open) or set SOVEREIGN_KEY_PASSPHRASE_FILE (or SOVEREIGN_KEY_PASSPHRASE)");
    }
    Result<SecretBytes> wrap = derive_passphrase_key(*passphrase, stored.salt, stored.opslimit, stored.memlimit, name);
    if (!wrap) return wrap.error();
    key.secret = SecretBytes(key_secret_size);
    const std::string ad = associated_data(key.metadata.kind, key.metadata.key_id);
    unsigned long long length = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            key.secret.data(), &length, nullptr, stored.sealed.data(), stored.sealed.size(),
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), stored.nonce.data(),
            wrap->data()) != 0) {
      return make_error(name + ": wrong passphrase, or the key file was modified");
    }
  }
  derive_public(key.metadata.kind, key.secret, key.public_key);
  const std::string derived_id = key.metadata.kind == KeyKind::vault
                                     ? key_id_for(key.metadata.kind, key.secret.span())
                                     : key_id_for(key.metadata.kind, key.public_key);
  if (derived_id != key.metadata.key_id) {
    return make_error(stored.key_id_at + ": key-id " + key.metadata.key_id +
                      " does not match the key (" + derived_id + "); the file was modified");
  }
  return key;
}

}  // namespace

std::string_view key_kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::audit_signing: return "audit-signing";
    case KeyKind::vault: return "vault";
    case KeyKind::auditor: return "auditor";
  }
  return "unknown";
}

std::optional<KeyKind> parse_key_kind(std::string_view name) {
  if (name == "audit-signing") return KeyKind::audit_signing;
  if (name == "vault") return KeyKind::vault;
  if (name == "auditor") return KeyKind::auditor;
  return std::nullopt;
}

std::string key_id_for(KeyKind kind, std::span<const std::uint8_t> public_or_secret) {
  ensure_sodium();
  const std::string label = "sovereign-key-id|" + std::string(key_kind_name(kind)) + "|";
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_hash_sha256_update(&state, public_or_secret.data(), public_or_secret.size());
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state, digest.data());
  return to_hex(std::span<const std::uint8_t>(digest.data(), 8));
}

Result<SecretKey> key_from_secret(KeyKind kind, SecretBytes secret) {
  if (secret.size() != key_secret_size) {
    return make_error("a " + std::string(key_kind_name(kind)) + " secret has " + std::to_string(key_secret_size) +
                      " bytes, not " + std::to_string(secret.size()));
  }
  SecretKey key;
  key.metadata.kind = kind;
  key.metadata.created = format_utc_ms(unix_time_ms());
  key.secret = std::move(secret);
  derive_public(kind, key.secret, key.public_key);
  key.metadata.key_id = kind == KeyKind::vault ? key_id_for(kind, key.secret.span())
                                               : key_id_for(kind, key.public_key);
  return key;
}

SecretKey generate_key(KeyKind kind) {
  ensure_sodium();
  SecretBytes secret(key_secret_size);
  randombytes_buf(secret.data(), secret.size());
  return std::move(key_from_secret(kind, std::move(secret)).value());
}

PublicKey public_key_of(const SecretKey& key) {
  return PublicKey{key.metadata.kind, key.metadata.key_id, key.public_key, key.metadata.created};
}

Status write_secret_key_file(const std::filesystem::path& path, const SecretKey& key,
                             const SecretBytes* passphrase, bool replace) {
  ensure_sodium();
  std::string text = "# Sovereign Gateway secret key. Keep it private (mode 0600); never commit it.\n";
  text += "format: " + std::string(secret_format) + "\n";
  text += "kind: " + std::string(key_kind_name(key.metadata.kind)) + "\n";
  text += "key-id: " + key.metadata.key_id + "\n";
  text += "created: " + key.metadata.created + "\n";
  if (passphrase == nullptr) {
    text += "protection: none\n";
    // The hex digits are written straight into room reserved beforehand, so no temporary string
    // and no reallocation leaves a copy of the secret behind (text is wiped below).
    const std::size_t hex_at = text.size() + 8;
    text.reserve(hex_at + key.secret.size() * 2 + 1);
    text += "secret: ";
    text.resize(hex_at + key.secret.size() * 2 + 1);
    sodium_bin2hex(text.data() + hex_at, key.secret.size() * 2 + 1, key.secret.data(), key.secret.size());
    text.back() = '\n';
  } else {
    if (passphrase->empty()) return make_error(path.string() + ": the passphrase is empty");
    std::array<std::uint8_t, salt_size> salt{};
    std::array<std::uint8_t, nonce_size> nonce{};
    randombytes_buf(salt.data(), salt.size());
    randombytes_buf(nonce.data(), nonce.size());
    const unsigned long long opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    const std::size_t memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    Result<SecretBytes> wrap = derive_passphrase_key(*passphrase, salt, opslimit, memlimit, path.string());
    if (!wrap) return wrap.error();
    const std::string ad = associated_data(key.metadata.kind, key.metadata.key_id);
    std::vector<std::uint8_t> sealed(key.secret.size() + tag_size);
    unsigned long long sealed_length = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        sealed.data(), &sealed_length, key.secret.data(), key.secret.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce.data(),
        wrap->data());
    text += "protection: argon2id\n";
    text += "kdf-opslimit: " + std::to_string(opslimit) + "\n";
    text += "kdf-memlimit: " + std::to_string(memlimit) + "\n";
    text += "kdf-salt: " + to_hex(salt) + "\n";
    text += "nonce: " + to_hex(nonce) + "\n";
    text += "secret: " + to_hex(sealed) + "\n";
  }
  Status status = write_file_atomically(path, text, 0600, replace);
  sodium_memzero(text.data(), text.size());
  return status;
}

Result<KeyMetadata> read_key_metadata(const std::filesystem::path& path) {
  Result<std::string> text = read_small_file(path, max_key_file_bytes);
  if (!text) return text.error();
  Result<ParsedFields> fields = parse_fields(text.value(), path.string());
  sodium_memzero(text->data(), text->size());
  if (!fields) return fields.error();
  return metadata_from(fields.value(), path.string());
}

Result<SecretKey> read_secret_key_file(const std::filesystem::path& path,
                                       const SecretBytes* passphrase,
                                       std::optional<KeyKind> expected_kind) {
  Result<StoredKey> stored = read_stored_key(path, expected_kind);
  if (!stored) return stored.error();
  return open_stored_key(std::move(stored.value()), passphrase, path.string());
}

Status check_secret_key_file(const std::filesystem::path& path, std::optional<KeyKind> expected_kind) {
  Result<StoredKey> stored = read_stored_key(path, expected_kind);
  if (!stored) return stored.error();
  // Unprotected, the key is all there: read it to the end, as the gateway does.
  if (stored->metadata.passphrase_protected) return {};
  Result<SecretKey> opened = open_stored_key(std::move(stored.value()), nullptr, path.string());
  if (!opened) return opened.error();
  return {};
}

std::string format_public_key(const PublicKey& key) {
  return std::string(public_format) + " " + std::string(key_kind_name(key.kind)) + " " + key.key_id +
         " " + to_hex(key.key) + " " + key.created;
}

std::optional<std::string> key_file_description(const std::filesystem::path& path) {
  const std::optional<IdentifiedKeyFile> identified = identify_key_file(path);
  if (!identified) return std::nullopt;
  return "the " + identified->kind + (identified->public_keyring ? " public keyring" : " secret key");
}

Status check_secret_key_permissions(const std::filesystem::path& path, std::optional<KeyKind> expected_kind) {
  // A public keyring is 0644 by design: refused for its permissions, it would send the operator to
  // chmod the wrong file, so the mix-up is named first.
  if (const std::optional<IdentifiedKeyFile> identified = identify_key_file(path); identified && identified->public_keyring) {
    return make_error(path.string() + ": this is the " + identified->kind + " public keyring; this command needs " +
                      secret_key_wanted(expected_kind));
  }
  return check_private_permissions(path);
}

Result<std::vector<PublicKey>> parse_public_keys(std::string_view text, std::string_view source_name,
                                                 std::optional<KeyKind> wanted) {
  std::vector<PublicKey> keys;
  const std::string name(source_name);
  int line_number = 0;
  std::size_t position = 0;
  while (position < text.size()) {
    const std::size_t end = std::min(text.find('\n', position), text.size());
    const std::string line = trim(text.substr(position, end - position));
    position = end + 1;
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = name + ":" + std::to_string(line_number);
    std::vector<std::string> words;
    std::size_t p = 0;
    while (p < line.size()) {
      const std::size_t q = std::min(line.find(' ', p), line.size());
      if (q > p) words.push_back(line.substr(p, q - p));
      p = q + 1;
    }
    if (words.size() != 5 || words[0] != public_format) {
      if (const std::optional<std::string> kind = secret_file_kind(text)) {
        return make_error(name + ": this is the " + *kind + " secret key; this command needs " +
                          public_keyring_wanted(wanted) + ", which holds no secret");
      }
      return make_error(where + ": expected '" + std::string(public_format) +
                        " KIND KEY-ID PUBLIC-KEY-HEX CREATED'");
    }
    PublicKey key;
    std::optional<KeyKind> kind = parse_key_kind(words[1]);
    if (!kind || *kind == KeyKind::vault) {
      return make_error(where + ": '" + words[1] + "' is not a public key kind (audit-signing or auditor)");
    }
    key.kind = *kind;
    if (!from_hex_into(words[3], key.key)) {
      return make_error(where + ": public key must be 64 hex digits");
    }
    key.key_id = words[2];
    if (key_id_for(key.kind, key.key) != key.key_id) {
      return make_error(where + ": key-id " + key.key_id + " does not match the public key");
    }
    if (!is_utc_ms_time(words[4])) {
      return make_error(where + ": CREATED '" + printable(words[4].substr(0, 40)) +
                        "' is not a UTC time like 2026-11-22T02:30:00.000Z");
    }
    key.created = words[4];
    keys.push_back(key);
  }
  if (keys.empty()) return make_error(name + ": contains no public key");
  return keys;
}

Result<std::vector<PublicKey>> read_public_keys(const std::filesystem::path& path, std::optional<KeyKind> wanted) {
  Result<std::string> text = read_small_file(path, max_keyring_bytes);
  if (!text) return text.error();
  Result<std::vector<PublicKey>> keys = parse_public_keys(text.value(), path.string(), wanted);
  sodium_memzero(text->data(), text->size());  // a secret key given in place of a keyring
  return keys;
}

Status append_public_key(const std::filesystem::path& path, const PublicKey& key) {
  std::string text;
  if (std::filesystem::exists(path)) {
    Result<std::string> existing = read_small_file(path, max_keyring_bytes);
    if (!existing) return existing.error();
    text = existing.value();
    if (!text.empty() && text.back() != '\n') text += '\n';
  } else {
    text = "# Sovereign Gateway public keys (" + std::string(key_kind_name(key.kind)) +
           "); share freely. Older keys stay so older records still verify.\n";
  }
  text += format_public_key(key) + "\n";
  return write_file_atomically(path, text, 0644, true);
}

Result<SecretBytes> read_passphrase_file(const std::filesystem::path& path) {
  // Checked like the key files it opens: a passphrase others can read protects nothing.
  if (Status permissions = check_private_permissions(path); !permissions) return permissions.error();
  Result<std::string> text = read_small_file(path, max_passphrase_bytes);
  if (!text) return text.error();
  std::string& value = text.value();
  // One line: the newline an editor or `echo` adds is not part of the passphrase. Any other line
  // break would be, which is never meant, so it is refused rather than used.
  std::size_t length = value.size();
  if (length > 0 && value[length - 1] == '\n') {
    --length;
    if (length > 0 && value[length - 1] == '\r') --length;  // written on Windows
  }
  if (length == 0 || value.find_first_of("\r\n") < length) {
    sodium_memzero(value.data(), value.size());
    if (length == 0) return make_error(path.string() + ": the passphrase file is empty");
    return make_error(path.string() + ": the passphrase file holds more than one line; write the passphrase " +
                      "on one line (one trailing newline is allowed)");
  }
  SecretBytes secret(length);
  std::copy_n(value.data(), length, secret.data());
  sodium_memzero(value.data(), value.size());
  return secret;
}

Result<std::optional<SecretBytes>> passphrase_from_environment() {
  if (const char* file = std::getenv("SOVEREIGN_KEY_PASSPHRASE_FILE"); file != nullptr && *file != 0) {
    Result<SecretBytes> secret = read_passphrase_file(file);
    if (!secret) return make_error("SOVEREIGN_KEY_PASSPHRASE_FILE: " + secret.error().message);
    return std::optional<SecretBytes>(std::move(secret.value()));
  }
  if (const char* value = std::getenv("SOVEREIGN_KEY_PASSPHRASE"); value != nullptr && *value != 0) {
    const std::size_t length = std::char_traits<char>::length(value);
    if (length > max_passphrase_bytes) return make_error("SOVEREIGN_KEY_PASSPHRASE is too long");
    SecretBytes secret(length);
    std::copy_n(value, length, secret.data());
    return std::optional<SecretBytes>(std::move(secret));
  }
  return std::optional<SecretBytes>();
}

Result<std::optional<SecretBytes>> passphrase_from_file_or_environment(
    const std::optional<std::string>& passphrase_file) {
  if (!passphrase_file) return passphrase_from_environment();
  Result<SecretBytes> secret = read_passphrase_file(*passphrase_file);
  if (!secret) return make_error("--passphrase-file: " + secret.error().message);
  return std::optional<SecretBytes>(std::move(secret.value()));
}

}  // namespace sovereign::crypto
