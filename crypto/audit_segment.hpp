#pragma once
// The on-disk format of audit log segments: a magic, then frames [tag u8][length u32 LE][payload].
// A segment opens with a header frame and, once closed, ends with a checkpoint and an end frame,
// so truncation is detectable. Names: segment-000001.log, segment-000002.log, ...

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

inline constexpr std::string_view segment_magic = "SOVAUDT1";
inline constexpr std::size_t frame_header_size = 5;
inline constexpr std::size_t max_record_bytes = 1 << 20;       // one audit record
inline constexpr std::uint64_t max_segment_file_bytes = 1ULL << 30;  // what readers accept

enum class FrameTag : std::uint8_t { header = 'H', record = 'R', checkpoint = 'C', end = 'E' };

// First frame of every segment: which log, which segment, and the tree state it continues from.
// Every field is checked by the verifier; times live in the signed checkpoints only.
struct SegmentHeader {
  LogId log_id{};
  std::uint64_t segment_index = 0;   // 1, 2, ... matching the file name
  std::uint64_t first_leaf = 0;      // tree size before this segment's first record
  std::vector<Hash> frontier;        // TreeFrontier nodes at first_leaf
};

// Last frame of a closed segment.
struct SegmentEnd {
  std::uint64_t segment_index = 0;
  std::uint64_t record_count = 0;    // records in this segment
  std::uint64_t tree_size = 0;       // tree size after them
};

void append_frame(std::string& out, FrameTag tag, std::string_view payload);
std::string encode_header(const SegmentHeader& header);
std::string encode_checkpoint(const Checkpoint& checkpoint);
std::string encode_end(const SegmentEnd& end);
[[nodiscard]] Result<SegmentHeader> decode_header(std::string_view payload);
[[nodiscard]] Result<Checkpoint> decode_checkpoint(std::string_view payload);
[[nodiscard]] Result<SegmentEnd> decode_end(std::string_view payload);

// One frame as found in a segment's bytes.
struct Frame {
  FrameTag tag = FrameTag::record;
  std::uint64_t offset = 0;          // of the frame's tag byte within the file
  std::string_view payload;
};

// True when every byte is zero (space the writer preallocated and has not written yet).
bool all_zero(std::string_view bytes);

// What a power loss tears a write into: each 512-byte sector of the file (offsets multiple of it)
// reaches the disk whole or not at all, so a batch that never synced leaves, in preallocated space,
// whole sectors of zeros (from where the batch began, in the sector it began in). Damage that leaves
// no such sector is not a crash's doing.
constexpr std::uint64_t torn_write_unit_bytes = 512;

// Walks the frames of a segment held in memory. next() returns nullopt at a clean end;
// error() then says whether the walk stopped on a truncated or malformed frame. Zero bytes from a
// frame boundary to the end are a clean end too: the writer preallocates the segment it appends to
// (docs/AUDIT.md, "Preallocated space"), so until it is closed the frames end where the zeros begin.
class FrameParser {
 public:
  explicit FrameParser(std::string_view bytes);
  // Parses bytes read from `base_offset` of a segment (past its magic); offsets stay file offsets.
  FrameParser(std::string_view bytes_from_offset, std::uint64_t base_offset);
  // Fails if the segment does not start with the magic.
  [[nodiscard]] Status check_magic() const;
  std::optional<Frame> next();
  // Set when next() stopped before the end of the bytes.
  const std::optional<std::string>& error() const { return error_; }
  bool stopped_on_truncation() const { return truncated_; }
  // The walk stopped on a record frame of 0 bytes (records are 1 byte to max_record_bytes).
  bool stopped_on_empty_record() const { return empty_record_; }
  // Zero bytes after the last frame (0 when the bytes end with a frame or the walk stopped on an error).
  std::uint64_t zero_tail_bytes() const { return zero_tail_; }
  std::uint64_t offset() const { return base_ + position_; }  // end of the last good frame

 private:
  // The bytes from `position` to the end of its torn_write_unit_bytes sector (or of the bytes) are zero.
  bool zeros_reach_sector_end(std::size_t position) const;

  bool being_copied(FrameTag tag, std::uint32_t length, std::size_t remaining) const;

  std::string_view bytes_;
  std::uint64_t base_ = 0;
  std::uint64_t position_;
  std::optional<std::string> error_;
  bool truncated_ = false;
  bool empty_record_ = false;
  std::uint64_t zero_tail_ = 0;
};

// A crash cuts a segment inside the last frame it was writing, so nothing after the start of a
// partial frame at the end of a segment can be a whole checkpoint or end frame of that log; one that
// is there means the partial frame's length field was altered, and what follows is damaged log, not
// a torn tail. Searches the bytes from file offset `from` (the bytes of the segment start at
// `bytes_offset`) for a checkpoint frame of log `log_id` or the end frame of segment `index`, at any
// byte, since the framing before them cannot be trusted; returns the file offset of the first one.
std::optional<std::uint64_t> find_log_frame(std::string_view bytes, std::uint64_t bytes_offset, std::uint64_t from,
                                            const LogId& log_id, std::uint64_t index);

// What the unreadable rest of a damaged segment holds, from file offset `from` (where the framing
// broke, `tree_size` records into the log) to its end: the records, measured by the tree sizes of
// the checkpoint or end frames of this log found after it (find_log_frame), the framing read again
// from the first of them (0 when none is found); and the checkpoints of this log read there, which
// count among the log's checkpoints as not valid (their records could not be checked against them).
struct DamagedRest {
  std::uint64_t records = 0;
  std::uint64_t checkpoints = 0;
};
DamagedRest read_damaged_rest(std::string_view bytes, std::uint64_t bytes_offset, std::uint64_t from,
                              const LogId& log_id, std::uint64_t index, std::uint64_t tree_size);

std::string segment_file_name(std::uint64_t index);
// Index encoded in a segment file name spelled exactly as segment_file_name() spells it, or nullopt
// for other files (segment-0000002.log is not segment 2).
std::optional<std::uint64_t> parse_segment_file_name(std::string_view name);

// The segment files of a directory, sorted by index, and the files named segment-<digits>.log
// that the writer never writes (another digit count, extra leading zeros, index 0).
struct SegmentListing {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;
  std::vector<std::filesystem::path> misnamed;
};
[[nodiscard]] Result<SegmentListing> scan_segments(const std::filesystem::path& directory);
// What is wrong with a misnamed file, naming it.
std::string misnamed_segment_problem(const std::filesystem::path& file);
// Segment files in a directory, sorted by index; an error naming the first misnamed file if any.
[[nodiscard]] Result<std::vector<std::pair<std::uint64_t, std::filesystem::path>>> list_segments(
    const std::filesystem::path& directory);

}  // namespace sovereign::crypto
