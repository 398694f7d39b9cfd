#pragma once
// Sealed payload capture: request/response bodies encrypted to the auditor's public key, so only
// the holder of the auditor's secret key (`sovereign audit open`) can read them; the gateway cannot.
// A random stream key is sealed with crypto_box_seal; the body follows as a secretstream whose
// chunks are bound to the capture's metadata and whose last chunk is tagged final.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "crypto/key_file.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

inline constexpr std::size_t max_capture_body_bytes = 64 << 20;

// Plaintext facts about a capture, readable without the key and authenticated by it.
struct CaptureMetadata {
  std::string request_id;
  std::string part;          // "request" or "response"
  std::int64_t time_ms = 0;  // Unix ms
};

struct OpenedCapture {
  CaptureMetadata metadata;
  std::string auditor_key_id;
  std::string body;
};

[[nodiscard]] Result<std::string> seal_capture(const PublicKey& auditor_key, const CaptureMetadata& metadata,
                                               std::string_view body);
// Metadata and key id only, without the secret key.
[[nodiscard]] Result<CaptureMetadata> read_capture_metadata(std::string_view sealed, std::string_view source);
[[nodiscard]] Result<OpenedCapture> open_capture(const SecretKey& auditor_key, std::string_view sealed,
                                                 std::string_view source);

// The auditor's public key in a keyring file: the last auditor key in it.
[[nodiscard]] Result<PublicKey> read_auditor_public_key(const std::filesystem::path& keyring);

// Writes sealed captures as files under a directory (the audit directory's captures/).
class CaptureStore {
 public:
  // Reads the auditor's public key (the last auditor key in the keyring file).
  [[nodiscard]] static Result<CaptureStore> open(const std::filesystem::path& directory,
                                                 const std::filesystem::path& auditor_public_key);
  // Seals and writes one body (seal, then store); returns the file's path. Synchronous (with sync,
  // the file and its directory entry are fsynced before it returns): call it off the request path.
  [[nodiscard]] Result<std::filesystem::path> write(const CaptureMetadata& metadata, std::string_view body,
                                                    bool sync = true) const;
  // The two halves of write(), for callers that tell a capture that cannot be sealed (its body is
  // over the limit) from a directory that cannot be written. seal() touches no file.
  [[nodiscard]] Result<std::string> seal(const CaptureMetadata& metadata, std::string_view body) const;
  [[nodiscard]] Result<std::filesystem::path> store(const CaptureMetadata& metadata, std::string_view sealed,
                                                    bool sync = true) const;
  // Whether a capture could be stored now: writes a small probe file the way store() writes a capture
  // (with sync, fsynced with its directory entry), then removes it. The error names the file and why.
  [[nodiscard]] Status probe(bool sync = true) const;
  const std::string& auditor_key_id() const { return key_.key_id; }

 private:
  std::filesystem::path directory_;
  PublicKey key_;
};

}  // namespace sovereign::crypto
