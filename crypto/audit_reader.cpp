#include "crypto/audit_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "crypto/audit_segment.hpp"
#include "crypto/file_io.hpp"

namespace sovereign::crypto {

namespace {

// The bytes of a file from `offset` to its current end.
Result<std::string> read_from(const std::filesystem::path& path, std::uint64_t offset) {
  Result<FileDescriptor> opened = open_regular_file(path, O_RDONLY);
  if (!opened) return opened.error();
  const int fd = opened->get();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(path.string() + ": cannot stat: " + errno_text(errno));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_segment_file_bytes) return make_error(path.string() + ": larger than any audit segment can be");
  std::string data(size > offset ? size - offset : 0, '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

// Reading a preallocated segment again (`tail -f` polls): the bytes from `offset`, a frame boundary,
// read a chunk at a time only until the frames end in a run of zeros of at least a page (the writer
// has not written past it yet) or the file ends, so a poll reads what was appended since the last
// one, not the megabytes of zeros the writer keeps ahead of its records. A record may hold zero
// bytes, so zeros count only where the frames end, never inside a frame.
Result<std::string> read_until_zeros(const std::filesystem::path& path, std::uint64_t offset) {
  constexpr std::size_t chunk_bytes = 256 << 10;
  constexpr std::uint64_t enough_zeros = 4096;
  Result<FileDescriptor> opened = open_regular_file(path, O_RDONLY);
  if (!opened) return opened.error();
  const int fd = opened->get();
  std::string data;
  std::size_t frames_end = 0;  // end of the whole frames found so far, relative to offset
  for (;;) {
    const std::size_t before = data.size();
    data.resize(before + chunk_bytes);
    ssize_t n = 0;
    do {
      n = ::pread(fd, data.data() + before, chunk_bytes, static_cast<off_t>(offset + before));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return make_error(path.string() + ": cannot read: " + errno_text(errno));
    data.resize(before + static_cast<std::size_t>(n));
    if (n == 0 || data.size() > max_segment_file_bytes) return data;
    FrameParser parser(std::string_view(data).substr(frames_end), offset + frames_end);
    while (parser.next()) {
    }
    frames_end = static_cast<std::size_t>(parser.offset() - offset);
    if (parser.zero_tail_bytes() >= enough_zeros) return data;
    if (parser.error() && !parser.stopped_on_truncation()) return data;  // damage: read_new reports it
  }
}

}  // namespace

LogReader::LogReader(std::filesystem::path directory) : directory_(std::move(directory)) {}

Status LogReader::read_new(const RecordVisitor& on_record, const CheckpointVisitor& on_checkpoint) {
  // Said of any frame that cannot be read: the log goes on after it, so nothing after it is shown.
  const std::string damaged = "; the audit log is damaged here and is not read past this point: run 'sovereign audit verify " +
                              directory_.string() + "'";
  for (;;) {
    auto segments = list_segments(directory_);
    if (!segments) return segments.error();
    if (segment_ == 0) {
      if (segments->empty()) return {};
      segment_ = segments->front().first;
      offset_ = 0;
    }
    const std::string name = segment_file_name(segment_);
    const std::filesystem::path path = directory_ / name;
    Result<std::string> bytes = at_zeros_ && offset_ > 0 ? read_until_zeros(path, offset_) : read_from(path, offset_);
    if (!bytes) return bytes.error();
    const bool at_start = offset_ == 0;
    if (at_start) {
      FrameParser magic_check(bytes.value());
      if (bytes->size() < segment_magic.size()) return {};  // being created; read again later
      if (Status magic = magic_check.check_magic(); !magic) return make_error(name + ": " + magic.error().message);
    }
    const std::uint64_t bytes_offset = at_start ? 0 : offset_;
    FrameParser parser = at_start ? FrameParser(bytes.value()) : FrameParser(bytes.value(), offset_);
    while (std::optional<Frame> frame = parser.next()) {
      switch (frame->tag) {
        case FrameTag::header: {
          Result<SegmentHeader> header = decode_header(frame->payload);
          if (!header) return make_error(name + ": offset " + std::to_string(frame->offset) + ": " + header.error().message);
          leaf_index_ = header->first_leaf;
          log_id_ = header->log_id;
          if (!first_header_) first_header_ = std::move(header.value());
          break;
        }
        case FrameTag::record:
          on_record(LogRecord{leaf_index_++, frame->payload, name, frame->offset});
          break;
        case FrameTag::checkpoint: {
          Result<Checkpoint> checkpoint = decode_checkpoint(frame->payload);
          if (!checkpoint) {
            return make_error(name + ": offset " + std::to_string(frame->offset) + ": " + checkpoint.error().message);
          }
          on_checkpoint(LogCheckpoint{checkpoint.value(), name, frame->offset});
          break;
        }
        case FrameTag::end: ended_ = true; break;
      }
    }
    offset_ = parser.offset();
    bytes_read_ += bytes->size();
    at_zeros_ = parser.zero_tail_bytes() > 0;
    if (parser.error() && !parser.stopped_on_truncation()) return make_error(name + ": " + *parser.error() + damaged);
    // A partial frame is left for the next call only while it can be one the writer is still
    // writing: a whole checkpoint or end frame of this log after it means its length was altered.
    if (parser.error()) {
      if (std::optional<std::uint64_t> later = find_log_frame(bytes.value(), bytes_offset, offset_ + 1, log_id_, segment_)) {
        return make_error(name + ": " + *parser.error() + ", but a checkpoint or end frame of this log follows at offset " +
                          std::to_string(*later) + ": the frame's length field was altered" + damaged);
      }
    }
    std::uint64_t next = 0;
    for (const auto& [index, p] : segments.value()) {
      if (index > segment_) {
        next = index;
        break;
      }
    }
    if (next == 0) return {};
    if (!ended_) {
      if (parser.error()) return make_error(name + ": " + *parser.error() + damaged);
      return make_error(name + ": segment ends without its end frame at offset " + std::to_string(offset_) +
                        ", but " + segment_file_name(next) + " follows");
    }
    if (next != segment_ + 1) {
      return make_error(segment_file_name(segment_ + 1) + " is missing (the log jumps to " + segment_file_name(next) + ")");
    }
    segment_ = next;
    offset_ = 0;
    ended_ = false;
    at_zeros_ = false;
  }
}

}  // namespace sovereign::crypto
