#pragma once
// The fixed keys the evidence fuzz targets and their seed maker share: seeds signed or sealed with
// them verify and open, so the fuzzer starts from inputs that reach every check.
#include <sodium.h>

#include <cstdlib>

#include "crypto/checkpoint.hpp"
#include "crypto/key_file.hpp"

namespace sovereign::fuzz {

inline crypto::SecretKey fixed_key(crypto::KeyKind kind, unsigned char fill) {
  if (sodium_init() < 0) std::abort();
  crypto::SecretBytes secret(crypto::key_secret_size);
  for (auto& byte : secret.span()) byte = fill;
  auto key = crypto::key_from_secret(kind, std::move(secret));
  if (!key) std::abort();
  return std::move(key.value());
}

inline const crypto::SecretKey& signing_key() {
  static const crypto::SecretKey key = fixed_key(crypto::KeyKind::audit_signing, 0x5a);
  return key;
}

inline const crypto::SecretKey& auditor_key() {
  static const crypto::SecretKey key = fixed_key(crypto::KeyKind::auditor, 0xa5);
  return key;
}

inline const crypto::TrustedKeys& trusted_keys() {
  static const crypto::TrustedKeys keys = [] {
    crypto::TrustedKeys out;
    out.add(crypto::public_key_of(signing_key()));
    return out;
  }();
  return keys;
}

// The passphrase of the passphrase-protected key-file seed.
inline constexpr std::string_view key_passphrase = "fuzz passphrase";

// Audit-log inputs: byte 0 holds these flags; with two_segments, bytes 1-4 give the first
// segment's length (little endian) and the rest is the second segment.
enum AuditInputFlags : unsigned char {
  require_closed = 1,
  pruned_start = 2,
  two_segments = 4,
  start_at_second = 8,  // the first file is segment-000002.log (a pruned log)
};

// Evidence-document inputs: byte 0 says which parser reads the rest.
enum class EvidenceKind : unsigned char { keyring, checkpoint, proof, capture, key_file, count };

}  // namespace sovereign::fuzz
