// Fuzz target: the other documents auditors and operators hand to the tools - public keyrings,
// kept checkpoints, inclusion/consistency proofs, sealed captures and secret key files. Byte 0
// picks the parser (EvidenceKind); the rest is the document. Each must be read or refused with a
// message, never crash, hang or read out of bounds.
#include <sys/stat.h>

#include <cstring>

#include "crypto/audit_proof.hpp"
#include "crypto/sealed_capture.hpp"
#include "evidence_keys.hpp"
#include "fuzz_support.hpp"

using namespace sovereign;

namespace {

void read_key_file(std::string_view bytes) {
  const auto path = fuzz::scratch_directory() / "fuzz.key";
  fuzz::write_file(path, bytes);
  ::chmod(path.c_str(), 0600);
  (void)crypto::read_key_metadata(path);
  (void)crypto::read_secret_key_file(path, nullptr, std::nullopt);
  crypto::SecretBytes passphrase(fuzz::key_passphrase.size());
  std::memcpy(passphrase.data(), fuzz::key_passphrase.data(), fuzz::key_passphrase.size());
  (void)crypto::read_secret_key_file(path, &passphrase, crypto::KeyKind::audit_signing);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto kind = static_cast<fuzz::EvidenceKind>(data[0] % static_cast<unsigned>(fuzz::EvidenceKind::count));
  const std::string_view text = fuzz::as_text(data + 1, size - 1);
  switch (kind) {
    case fuzz::EvidenceKind::keyring:
      (void)crypto::parse_public_keys(text, "fuzz.pub");
      break;
    case fuzz::EvidenceKind::checkpoint:
      if (auto checkpoint = crypto::checkpoint_from_json(text)) (void)fuzz::trusted_keys().verify(checkpoint.value());
      break;
    case fuzz::EvidenceKind::proof:
      (void)crypto::check_proof_document(text, fuzz::trusted_keys());
      break;
    case fuzz::EvidenceKind::capture:
      (void)crypto::read_capture_metadata(text, "fuzz.sealed");
      (void)crypto::open_capture(fuzz::auditor_key(), text, "fuzz.sealed");
      break;
    case fuzz::EvidenceKind::key_file:
      read_key_file(text);
      break;
    case fuzz::EvidenceKind::count:
      break;
  }
  return 0;
}
