#include "crypto/key_store.hpp"

namespace sovereign::crypto {

namespace {

Status store_key(const std::filesystem::path& directory, const SecretKey& key, const SecretBytes* passphrase,
                 bool replace) {
  if (Status written = write_secret_key_file(secret_key_path(directory, key.metadata.kind), key, passphrase, replace);
      !written) {
    return written;
  }
  if (auto keyring = public_keyring_path(directory, key.metadata.kind)) {
    return append_public_key(*keyring, public_key_of(key));
  }
  return {};
}

}  // namespace

std::filesystem::path secret_key_path(const std::filesystem::path& directory, KeyKind kind) {
  return directory / (std::string(key_kind_name(kind)) + ".key");
}

std::optional<std::filesystem::path> public_keyring_path(const std::filesystem::path& directory, KeyKind kind) {
  if (kind == KeyKind::vault) return std::nullopt;
  return directory / (std::string(key_kind_name(kind)) + ".pub");
}

Result<std::vector<KeyInitOutcome>> initialize_keys(const std::filesystem::path& directory,
                                                    const SecretBytes* passphrase) {
  std::error_code ec;
  if (std::filesystem::create_directories(directory, ec)) {
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all, ec);
  }
  if (ec || !std::filesystem::is_directory(directory)) {
    return make_error(directory.string() + ": cannot create the key directory" + (ec ? ": " + ec.message() : ""));
  }
  std::vector<KeyInitOutcome> outcomes;
  for (KeyKind kind : {KeyKind::audit_signing, KeyKind::vault, KeyKind::auditor}) {
    const std::filesystem::path path = secret_key_path(directory, kind);
    if (std::filesystem::exists(path)) {
      Result<KeyMetadata> metadata = read_key_metadata(path);
      if (!metadata) return metadata.error();
      if (metadata->kind != kind) {
        return make_error(path.string() + ": holds a " + std::string(key_kind_name(metadata->kind)) + " key");
      }
      outcomes.push_back({kind, path, metadata->key_id, false});
      continue;
    }
    SecretKey key = generate_key(kind);
    if (Status stored = store_key(directory, key, passphrase, false); !stored) return stored.error();
    outcomes.push_back({kind, path, key.metadata.key_id, true});
  }
  return outcomes;
}

Result<KeyRotation> rotate_key(const std::filesystem::path& directory, KeyKind kind, const SecretBytes* passphrase) {
  const std::filesystem::path path = secret_key_path(directory, kind);
  Result<KeyMetadata> old = read_key_metadata(path);
  if (!old) return make_error(old.error().message + " (run 'sovereign keys init' first)");
  KeyRotation rotation;
  rotation.old_key_id = old->key_id;
  if (kind == KeyKind::auditor) {
    const std::filesystem::path kept = directory / ("auditor." + old->key_id + ".key");
    std::error_code ec;
    std::filesystem::rename(path, kept, ec);
    if (ec) return make_error("cannot keep the old auditor key as " + kept.string() + ": " + ec.message());
    rotation.kept_old_key = kept;
  }
  SecretKey key = generate_key(kind);
  if (Status stored = store_key(directory, key, passphrase, true); !stored) return stored.error();
  rotation.new_key_id = key.metadata.key_id;
  return rotation;
}

}  // namespace sovereign::crypto
