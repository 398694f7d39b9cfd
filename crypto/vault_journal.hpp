#pragma once
// VaultJournal: the token vault's mappings on disk, so that tokens issued before a restart are still
// restored after it. One append-only file, DIR/mappings.vault, holds one record per mapping as the
// vault keeps it in memory: tenant, scope, token, key id, expiry and the value encrypted
// (XChaCha20-Poly1305, those names bound as associated data), never the value in clear. Each record
// is framed and checksummed; a record cut short by a crash is dropped on open, as is an end of zeros
// a power loss leaves (the file's size on disk before its data), a damaged one stops the open with
// its byte offset. Later records of a mapping (its expiry moved on) replace earlier
// ones; compact() rewrites the file with the live mappings only.
//
// File layout: the header line "SOVEREIGN-VAULT-MAPPINGS v1\n", then records:
//   "SVM1" | u32 payload length | payload | 16-byte BLAKE2b of (length | payload)
// payload: key id, tenant, scope, token, nonce, ciphertext (each u32 length + bytes), i64 expiry (ms).
// Integers are little-endian.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/file_io.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

inline constexpr std::size_t vault_nonce_size = 24;

struct JournalRecord {
  std::string key_id;
  std::string tenant;
  std::string scope;
  std::string token;
  std::array<std::uint8_t, vault_nonce_size> nonce{};
  std::string ciphertext;
  std::int64_t expires_ms = 0;
};

class VaultJournal {
 public:
  // Opens (creating) DIR/mappings.vault, private to this user and locked against other processes,
  // and hands every record to `on_record`, in file order (read in chunks, never whole). A record
  // cut short at the end, or reaching into zeros that end the file, is cut away, with a line in
  // `notes`; anything else wrong is an error naming the file and byte.
  [[nodiscard]] static Result<std::unique_ptr<VaultJournal>> open(const std::filesystem::path& directory,
                                                                  const std::function<void(JournalRecord&)>& on_record,
                                                                  std::vector<std::string>& notes);

  // Reads a mappings file without changing or locking it (a gateway may be using it), for
  // `sovereign vault check`: every record to on_record; damage is an error naming the byte.
  struct CheckReport {
    std::uint64_t records = 0;     // whole records read
    std::uint64_t good_bytes = 0;  // where they end; below file_bytes, the rest is a record cut short
    std::uint64_t file_bytes = 0;
  };
  [[nodiscard]] static Result<CheckReport> check(const std::filesystem::path& file,
                                                 const std::function<void(JournalRecord&)>& on_record);

  // One write(2) per record: a process that dies afterwards loses nothing. Syncing is the
  // caller's: sync_due() says when a second has passed since the last sync with records written.
  [[nodiscard]] Status append(const JournalRecord& record);
  bool sync_due() const;
  // fdatasync of what was appended. Safe to call while another thread appends (it syncs a
  // duplicate of the descriptor, holding no lock meanwhile), so a slow disk stalls no appender.
  [[nodiscard]] Status sync();
  // Replaces the file with these records (a new file, synced, renamed over the old one).
  [[nodiscard]] Status compact(const std::vector<JournalRecord>& live);
  // Keeps the file as it is now beside it, as DIR/mappings.vault.<suffix> (a hard link, or a private
  // copy where the file system has none; .2, .3... where the name is taken), and returns that path:
  // what a compaction then drops stays where an operator can put it back.
  [[nodiscard]] Result<std::filesystem::path> keep_as(const std::string& suffix) const;

  std::uint64_t size_bytes() const {
    std::lock_guard lock(mutex_);
    return size_;
  }
  const std::filesystem::path& path() const { return path_; }

  static constexpr std::uint32_t max_payload_bytes = 64 * 1024;
  static constexpr std::string_view file_name = "mappings.vault";

  ~VaultJournal();  // syncs what was appended
  VaultJournal(const VaultJournal&) = delete;
  VaultJournal& operator=(const VaultJournal&) = delete;

 private:
  VaultJournal(std::filesystem::path path, FileDescriptor fd, FileDescriptor lock, std::uint64_t size);

  std::filesystem::path path_;
  mutable std::mutex mutex_;  // fd_, size_, dirty_, last_sync_ms_
  FileDescriptor fd_;
  FileDescriptor lock_;  // held (flock) while this journal is open
  std::uint64_t size_ = 0;
  std::int64_t last_sync_ms_ = 0;
  bool dirty_ = false;
};

}  // namespace sovereign::crypto
