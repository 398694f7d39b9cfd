#pragma once
// LogReader: reads an audit log front to back without verifying it (verify_log does that), and
// can be polled again for what was appended since, which is what `audit tail -f` needs.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/audit_segment.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

struct LogRecord {
  std::uint64_t leaf_index = 0;
  std::string_view bytes;
  std::string_view segment;  // file name
  std::uint64_t offset = 0;
};

struct LogCheckpoint {
  Checkpoint checkpoint;
  std::string_view segment;
  std::uint64_t offset = 0;
};

class LogReader {
 public:
  using RecordVisitor = std::function<void(const LogRecord&)>;
  using CheckpointVisitor = std::function<void(const LogCheckpoint&)>;

  explicit LogReader(std::filesystem::path directory);
  // Visits everything appended since the previous call. A partial frame at the end of the last
  // segment is left for the next call (the writer may be in the middle of writing it); one followed
  // by a checkpoint or end frame of this log is damage, an error naming the segment and offset.
  [[nodiscard]] Status read_new(const RecordVisitor& on_record, const CheckpointVisitor& on_checkpoint);
  // The header of the first segment read: for a log whose oldest segments were pruned, its
  // first_leaf and frontier stand for the records that are gone. Unset before anything was read.
  const std::optional<SegmentHeader>& first_header() const { return first_header_; }
  // Bytes read from segment files so far: what polling a live log costs.
  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  std::filesystem::path directory_;
  std::uint64_t segment_ = 0;       // 0: not started
  std::uint64_t offset_ = 0;        // next byte to read in the current segment
  std::uint64_t leaf_index_ = 0;
  LogId log_id_{};                  // from the current segment's header
  bool ended_ = false;              // current segment has its end frame
  bool at_zeros_ = false;           // the last read of it ended where its preallocated zeros begin
  std::uint64_t bytes_read_ = 0;
  std::optional<SegmentHeader> first_header_;
};

}  // namespace sovereign::crypto
