#include "crypto/checkpoint.hpp"

#include <sodium.h>

#include "crypto/hex.hpp"

namespace sovereign::crypto {

std::string Checkpoint::signed_message() const {
  return "sovereign-audit-checkpoint-v1\n" + to_hex(log_id) + "\n" + std::to_string(tree_size) +
         "\n" + hash_hex(root) + "\n" + std::to_string(time_ms) + "\n" + key_id + "\n";
}

Result<CheckpointSigner> CheckpointSigner::from_key(const SecretKey& key) {
  if (key.metadata.kind != KeyKind::audit_signing) {
    return make_error("checkpoints need an audit-signing key, got a " +
                      std::string(key_kind_name(key.metadata.kind)) + " key");
  }
  CheckpointSigner signer;
  signer.secret_ = SecretBytes(crypto_sign_SECRETKEYBYTES);
  PublicKeyBytes public_key{};
  crypto_sign_seed_keypair(public_key.data(), signer.secret_.data(), key.secret.data());
  signer.key_id_ = key.metadata.key_id;
  return signer;
}

void CheckpointSigner::sign(Checkpoint& checkpoint) const {
  checkpoint.key_id = key_id_;
  const std::string message = checkpoint.signed_message();
  crypto_sign_detached(checkpoint.signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
}

void TrustedKeys::add(const PublicKey& key) { keys_[key.key_id] = key.key; }

Result<TrustedKeys> TrustedKeys::from_keyring_files(const std::vector<std::string>& paths) {
  TrustedKeys trusted;
  for (const std::string& path : paths) {
    Result<std::vector<PublicKey>> keys = read_public_keys(path, KeyKind::audit_signing);
    if (!keys) return keys.error();
    for (const PublicKey& key : keys.value()) {
      if (key.kind != KeyKind::audit_signing) {
        return make_error(path + ": key " + key.key_id + " is an " +
                          std::string(key_kind_name(key.kind)) +
                          " key; checkpoints are verified with audit-signing keys");
      }
      trusted.add(key);
    }
  }
  return trusted;
}

Status TrustedKeys::verify(const Checkpoint& checkpoint) const {
  ensure_sodium();
  auto it = keys_.find(checkpoint.key_id);
  if (it == keys_.end()) {
    return make_error("signed by key " + checkpoint.key_id + ", which is not among the trusted keys");
  }
  const std::string message = checkpoint.signed_message();
  if (crypto_sign_verify_detached(checkpoint.signature.data(),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), it->second.data()) != 0) {
    return make_error("signature by key " + checkpoint.key_id + " is invalid");
  }
  return {};
}

}  // namespace sovereign::crypto
