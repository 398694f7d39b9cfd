#include "crypto/key_store.hpp"

#include <algorithm>

#include "crypto/file_io.hpp"

namespace sovereign::crypto {

namespace {

// The keyring a new public key goes into must be readable and hold keys of its kind only: appended
// to a damaged one, the new key would be as unreadable as the rest (audit verify, captures), and
// the secret it belongs to would already have replaced the old one. Checked before anything is
// written.
Status check_keyring(const std::filesystem::path& directory, KeyKind kind) {
  const std::optional<std::filesystem::path> keyring = public_keyring_path(directory, kind);
  if (!keyring || !std::filesystem::exists(*keyring)) return {};
  Result<std::vector<PublicKey>> keys = read_public_keys(*keyring);
  if (!keys) {
    return make_error(keys.error().message + "; nothing was changed: restore " + keyring->string() +
                      " (its public keys verify older records) before adding a key to it");
  }
  for (const PublicKey& key : keys.value()) {
    if (key.kind != kind) {
      return make_error(keyring->string() + ": holds " + std::string(key_kind_name(key.kind)) + " key " + key.key_id +
                        ", but it is the keyring of " + std::string(key_kind_name(kind)) +
                        " keys; nothing was changed");
    }
  }
  return {};
}

// Whether the keyring holds the key `key_id`; false when the keyring does not exist. A keyring's
// key ids are checked against their keys as it is read, so the id stands for the key.
Result<bool> keyring_holds(const std::filesystem::path& keyring, const std::string& key_id) {
  if (!std::filesystem::exists(keyring)) return false;
  Result<std::vector<PublicKey>> keys = read_public_keys(keyring);
  if (!keys) return keys.error();
  return std::any_of(keys->begin(), keys->end(), [&](const PublicKey& key) { return key.key_id == key_id; });
}

// Makes sure the keyring of `kind` holds the public key of the secret key `key_id` in the directory,
// which is kept (keys init) or about to be replaced (rotate): what that key signed (checkpoints) or
// sealed (captures) is checked with the keyring alone, so a key missing from it leaves its records
// unverifiable for good once the secret is gone. Where the keyring lacks it (lost, or copied from
// another site), the secret is opened as serve opens it (a protected key with the passphrase) and
// its public half is added; it is not opened otherwise, so a complete directory of protected keys
// needs no passphrase. The keyring has passed check_keyring.
Result<KeyringRepair> keep_public_key_in_keyring(const std::filesystem::path& directory, KeyKind kind,
                                                 const std::string& key_id, const SecretBytes* passphrase) {
  const std::optional<std::filesystem::path> keyring = public_keyring_path(directory, kind);
  if (!keyring) return KeyringRepair::none;
  Result<bool> holds = keyring_holds(*keyring, key_id);
  if (!holds) return holds.error();
  if (holds.value()) return KeyringRepair::none;
  const std::filesystem::path path = secret_key_path(directory, kind);
  Result<SecretKey> key = read_secret_key_file(path, passphrase, kind);
  if (!key) {
    return make_error(keyring->string() + " does not hold the public key of " + path.string() + " (key " + key_id +
                      "), and it cannot be derived from that file: " + key.error().message);
  }
  const bool existed = std::filesystem::exists(*keyring);
  if (Status appended = append_public_key(*keyring, public_key_of(key.value())); !appended) return appended.error();
  return existed ? KeyringRepair::appended : KeyringRepair::created;
}

Status store_key(const std::filesystem::path& directory, const SecretKey& key, const SecretBytes* passphrase,
                 bool replace) {
  if (Status keyring = check_keyring(directory, key.metadata.kind); !keyring) return keyring;
  if (Status written = write_secret_key_file(secret_key_path(directory, key.metadata.kind), key, passphrase, replace);
      !written) {
    return written;
  }
  if (auto keyring = public_keyring_path(directory, key.metadata.kind)) {
    return append_public_key(*keyring, public_key_of(key));
  }
  return {};
}

// The auditor's public key kept in auditor.pub after its secret was moved off the host, as keys init
// tells the operator to do; nullopt when the keyring does not exist.
Result<std::optional<PublicKey>> auditor_key_held_elsewhere(const std::filesystem::path& directory) {
  const std::filesystem::path keyring = *public_keyring_path(directory, KeyKind::auditor);
  if (!std::filesystem::exists(keyring)) return std::optional<PublicKey>();
  Result<std::vector<PublicKey>> keys = read_public_keys(keyring);
  if (!keys) return keys.error();
  return std::optional<PublicKey>(keys->back());
}

// A new key (from rotation, or from init filling in a missing one) keeps the protection of the keys
// already in the directory (rotation: of the key it replaces first), and a passphrase must open
// them, since the gateway reads one passphrase for all of its keys. `rotation`: which command asks,
// for the messages.
Status check_passphrase_fits_keys(const std::filesystem::path& directory, std::optional<KeyKind> replaced,
                                  const SecretBytes* passphrase, bool rotation) {
  std::optional<std::filesystem::path> reference;
  for (KeyKind candidate : {replaced.value_or(KeyKind::audit_signing), KeyKind::audit_signing, KeyKind::vault,
                            KeyKind::auditor}) {
    if (std::filesystem::exists(secret_key_path(directory, candidate))) {
      reference = secret_key_path(directory, candidate);
      break;
    }
  }
  if (!reference) return {};
  const std::string keeps = rotation ? "rotation keeps" : "keys init gives the keys it adds";
  Result<KeyMetadata> metadata = read_key_metadata(*reference);
  if (!metadata) return metadata.error();
  if (!metadata->passphrase_protected) {
    if (passphrase == nullptr) return {};
    return make_error(reference->string() + " is not passphrase-protected, and " + keeps + " the protection of the " +
                      "keys there; run it without --passphrase-file, with SOVEREIGN_KEY_PASSPHRASE_FILE and " +
                      "SOVEREIGN_KEY_PASSPHRASE unset");
  }
  if (passphrase == nullptr) {
    return make_error(reference->string() + " is passphrase-protected, and " + keeps + " that protection; pass " +
                      "--passphrase-file FILE (or set SOVEREIGN_KEY_PASSPHRASE_FILE) with the passphrase of the " +
                      "keys there");
  }
  if (Result<SecretKey> opened = read_secret_key_file(*reference, passphrase, metadata->kind); !opened) {
    return make_error("the passphrase given does not open " + reference->string() + " (" + opened.error().message +
                      "); the gateway reads one passphrase for all of its keys, so " +
                      (rotation ? "rotate" : "run keys init") + " with the one they use");
  }
  return {};
}

}  // namespace

Status checked_secret_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_symlink(path, ec)) {
    return make_error(path.string() + ": is a symbolic link; rotation renames or replaces the key file, which " +
                      "would act on the link and leave the secret it points to where it is: replace the link with " +
                      "that file (mode 0600)");
  }
  return check_private_permissions(path);
}

std::vector<std::filesystem::path> kept_auditor_keys(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> kept;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("auditor.") && name.ends_with(".key") && name != "auditor.key") kept.push_back(entry.path());
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

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
  bool checked_passphrase = false;  // before the first key is added
  for (KeyKind kind : {KeyKind::audit_signing, KeyKind::vault, KeyKind::auditor}) {
    const std::filesystem::path path = secret_key_path(directory, kind);
    if (kind == KeyKind::auditor && !std::filesystem::exists(path)) {
      Result<std::optional<PublicKey>> elsewhere = auditor_key_held_elsewhere(directory);
      if (!elsewhere) return elsewhere.error();
      if (elsewhere.value()) {
        outcomes.push_back({kind, *public_keyring_path(directory, kind), elsewhere.value()->key_id, false, true});
        continue;
      }
    }
    if (std::filesystem::exists(path)) {
      Result<KeyMetadata> metadata = read_key_metadata(path);
      if (!metadata) return metadata.error();
      if (metadata->kind != kind) {
        return make_error(path.string() + ": holds a " + std::string(key_kind_name(metadata->kind)) + " key");
      }
      KeyInitOutcome kept{kind, path, metadata->key_id, false};
      // A kept key missing from its keyring (the file lost, or copied from another site) would sign
      // or seal what no one can check; it is recorded there now, from the secret.
      if (Status keyring = check_keyring(directory, kind); !keyring) return keyring.error();
      Result<KeyringRepair> repair = keep_public_key_in_keyring(directory, kind, metadata->key_id, passphrase);
      if (!repair) return repair.error();
      kept.keyring_repair = repair.value();
      outcomes.push_back(kept);
      continue;
    }
    if (!checked_passphrase) {
      if (Status fits = check_passphrase_fits_keys(directory, std::nullopt, passphrase, false); !fits) {
        return fits.error();
      }
      checked_passphrase = true;
    }
    SecretKey key = generate_key(kind);
    if (Status stored = store_key(directory, key, passphrase, false); !stored) return stored.error();
    outcomes.push_back({kind, path, key.metadata.key_id, true});
  }
  return outcomes;
}

Result<KeyRotation> rotate_key(const std::filesystem::path& directory, KeyKind kind, const SecretBytes* passphrase) {
  const std::filesystem::path path = secret_key_path(directory, kind);
  KeyRotation rotation;
  if (kind == KeyKind::auditor && !std::filesystem::exists(path)) {
    // The secret was moved off the host: the keyring is all a rotation needs.
    Result<std::optional<PublicKey>> elsewhere = auditor_key_held_elsewhere(directory);
    if (!elsewhere) return elsewhere.error();
    if (!elsewhere.value()) {
      return make_error(path.string() + " and " + public_keyring_path(directory, kind)->string() +
                        " do not exist (run 'sovereign keys init' first)");
    }
    rotation.old_key_id = elsewhere.value()->key_id;
    rotation.old_secret_elsewhere = true;
  } else {
    Result<KeyMetadata> old = read_key_metadata(path);
    if (!old) return make_error(old.error().message + " (run 'sovereign keys init' first)");
    if (old->kind != kind) {
      return make_error(path.string() + ": holds a " + std::string(key_kind_name(old->kind)) + " key; nothing was changed");
    }
    // A secret others can read is refused here as everywhere else: rotation would keep it readable
    // (an old auditor key is kept as it is) or leave the readable copy behind a replaced link.
    if (Status private_file = checked_secret_file(path); !private_file) {
      return make_error(private_file.error().message + "; nothing was changed");
    }
    rotation.old_key_id = old->key_id;
  }
  if (Status checked = check_passphrase_fits_keys(directory, kind, passphrase, true); !checked) return checked.error();
  if (Status keyring = check_keyring(directory, kind); !keyring) return keyring.error();
  // The replaced key's public half must stay in the keyring, or the checkpoints it signed (captures
  // it sealed to) could never be checked again once its secret is overwritten. Where the keyring
  // lacks it, it is derived from the old secret and added first; a secret that cannot be opened
  // stops the rotation here.
  if (!rotation.old_secret_elsewhere) {
    Result<KeyringRepair> recorded = keep_public_key_in_keyring(directory, kind, rotation.old_key_id, passphrase);
    if (!recorded) return make_error(recorded.error().message + "; nothing was changed");
    rotation.old_key_recorded = recorded.value();
  }
  if (kind == KeyKind::auditor && !rotation.old_secret_elsewhere) {
    const std::filesystem::path kept = directory / ("auditor." + rotation.old_key_id + ".key");
    std::error_code ec;
    std::filesystem::rename(path, kept, ec);
    if (ec) return make_error("cannot keep the old auditor key as " + kept.string() + ": " + ec.message());
    rotation.kept_old_key = kept;
  }
  SecretKey key = generate_key(kind);
  if (Status stored = store_key(directory, key, passphrase, true); !stored) return stored.error();
  rotation.new_key_id = key.metadata.key_id;
  rotation.passphrase_protected = passphrase != nullptr;
  return rotation;
}

}  // namespace sovereign::crypto
