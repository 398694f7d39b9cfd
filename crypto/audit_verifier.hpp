#pragma once
// Offline verification of an audit log directory: every leaf, every checkpoint signature, tree
// continuity across segments and checkpoints; failures name the segment file and byte offset.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/checkpoint.hpp"

namespace sovereign::crypto {

// One problem found, at a place in the log.
struct VerifyFinding {
  std::string segment;     // file name, e.g. segment-000003.log ("" for the directory)
  std::uint64_t offset = 0;
  std::string message;
};

// The outcome of verify_log(). Records after the last checkpoint are counted apart: no signature
// covers them yet (the log is still open, or the writer stopped before its next checkpoint).
struct VerifyReport {
  std::uint64_t segments_total = 0, segments_valid = 0;
  std::uint64_t records_total = 0, records_valid = 0;   // records covered by a checkpoint
  std::uint64_t checkpoints_total = 0, checkpoints_valid = 0;
  std::uint64_t unsigned_records = 0;
  std::vector<VerifyFinding> failures;
  std::vector<std::string> notes;                       // facts that are not failures

  bool ok() const { return failures.empty(); }
  // "12/12 segments valid, 1,204,331/1,204,331 records valid, 845/845 checkpoints valid"
  std::string summary() const;
};

struct VerifyOptions {
  // For archived logs: an open last segment or records after the last checkpoint are failures.
  bool require_closed = false;
  // A checkpoint the auditor kept from an earlier look at this log (`audit checkpoint`): the log
  // must still hold its tree, record for record. Without one, records cut from the end of the last
  // segment (or a last segment deleted whole) cannot be told from a log that was never longer.
  std::optional<Checkpoint> kept_checkpoint{};
  // For logs whose oldest segments were deleted under a retention policy: a log that starts at a
  // later segment is accepted with a note instead of failing. Its records are checked from there
  // on; the tree state its first header carries for the pruned records is trusted as far as the
  // signed checkpoints after it commit to it (each root covers the pruned records too). Segments
  // missing anywhere but at the start are failures as always.
  bool pruned_start = false;
};

[[nodiscard]] VerifyReport verify_log(const std::filesystem::path& directory, const TrustedKeys& keys,
                                      VerifyOptions options = {});

std::string with_thousands(std::uint64_t value);

}  // namespace sovereign::crypto
