#pragma once
// AuditWriter: appends records to the signed Merkle audit log from any thread. One writer thread
// group-commits (batch, write, fsync), signs a checkpoint every N records or T ms and on close, and
// rotates segments by size. See docs/AUDIT.md for the format and the durability modes.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "crypto/key_file.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

// strict: on_durable fires after fdatasync. relaxed: after write(2) to the page cache; the file
// is synced at every checkpoint (at most checkpoint_every_ms apart).
enum class Durability { strict, relaxed };

struct AuditOptions {
  std::filesystem::path directory;
  Durability durability = Durability::strict;
  std::filesystem::path signing_key;                 // audit-signing secret key file
  std::uint32_t checkpoint_every_records = 1000;
  std::uint32_t checkpoint_every_ms = 1000;
  std::uint64_t segment_max_bytes = 64ULL << 20;
  std::uint64_t segment_max_age_ms = 0;              // also rotate segments this old (0: by size only)
  // Group commit: once a record waits, the writer lets more gather for up to this long (or until
  // batch_records wait) and writes them together: one wake-up of the writer thread, one write(),
  // in strict mode one fdatasync, for the whole batch. Each record waits at most this much longer.
  std::chrono::microseconds batch_delay{0};
  std::size_t batch_records = 512;
  std::size_t max_queued_records = 1 << 20;          // beyond either limit, append fails at once
  std::size_t max_queued_bytes = 256 << 20;
  // Called on the writer thread when the log stops being writable (healthy false, with the reason)
  // and when a write succeeds again after a transient failure (healthy true). Must not block.
  std::function<void(bool healthy, const std::string& detail)> on_health_change;
};

// What happened to one appended record.
struct AppendResult {
  bool ok = false;
  std::uint64_t leaf_index = 0;  // position in the Merkle tree, when ok
  std::string error;             // why it was not written, when !ok
};

using DurableCallback = std::function<void(const AppendResult&)>;

// What open() found and repaired in an existing log.
struct AuditRecovery {
  std::uint64_t tree_size = 0;            // records already in the log
  std::uint64_t segment_index = 0;        // segment the writer appends to
  // A torn partial frame (or zeros where data never landed) cut from the end of the last segment:
  // moved to quarantine_file.
  std::uint64_t discarded_tail_bytes = 0;
  // Unsigned records at the end of the last segment that recovery could not adopt (not a JSON
  // object, zero-length), and everything after the first of them: moved to quarantine_file.
  std::uint64_t quarantined_bytes = 0;
  std::uint64_t quarantined_records = 0;  // record frames among them
  std::filesystem::path quarantine_file;  // set when either of the above is not 0
};

// Counters since open(), for metrics and benchmarks.
struct AuditWriterStats {
  std::uint64_t records_written = 0;
  std::uint64_t records_failed = 0;
  std::uint64_t checkpoints_written = 0;
  std::uint64_t syncs = 0;               // fdatasync calls
  std::uint64_t write_batches = 0;       // group commits
  std::uint64_t bytes_written = 0;
  std::uint64_t queued = 0;              // records waiting for the writer now
  // Strict mode: steps of preallocated zeros written, and attempts that found no room (write failed,
  // or too little free space to leave: see docs/AUDIT.md, "What strict costs").
  std::uint64_t preallocations = 0;
  std::uint64_t preallocations_refused = 0;
};

class AuditWriter {
 public:
  // Loads the signing key (passphrase from SOVEREIGN_KEY_PASSPHRASE[_FILE] if the key needs one),
  // creates or continues the log, and starts the writer thread.
  [[nodiscard]] static Result<std::unique_ptr<AuditWriter>> open(const AuditOptions& options);
  // The same with the passphrase given (null: none), as `serve --passphrase-file` reads it.
  [[nodiscard]] static Result<std::unique_ptr<AuditWriter>> open(const AuditOptions& options,
                                                                 const SecretBytes* passphrase);
  [[nodiscard]] static Result<std::unique_ptr<AuditWriter>> open(const AuditOptions& options,
                                                                 const SecretKey& signing_key);
  ~AuditWriter();  // close()
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Thread-safe; never waits on disk. on_durable runs exactly once: on the writer thread once the
  // record is written (strict: fsynced) or failed, or at once on the calling thread when the record
  // is refused up front (empty or over 1 MiB, queue full by records or bytes, writer closed or
  // permanently failed). It must be quick (post to your own executor) and must not call close().
  void append(std::string record, DurableCallback on_durable);
  // False after a write or sync failure until a later write succeeds; the gateway answers 503.
  bool healthy() const;
  // Why the writer is unhealthy (empty when healthy).
  std::string health_detail() const;
  const AuditRecovery& recovery() const;
  AuditWriterStats stats() const;
  // Drains the queue, writes the final checkpoint and the segment's end frame, joins the thread.
  void close();
  // After close(): why the last segment could not be ended (its final checkpoint and end frame not
  // written: a full disk, a failed sync), which leaves the log open for `audit verify --require-closed`.
  // Empty when it was ended (by close(), or by a rotation whose successor could not be created), and
  // before close().
  std::string close_failure() const;

  class Impl;

 private:
  explicit AuditWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sovereign::crypto
