#include "crypto/audit_segment.hpp"

#include <algorithm>
#include <cstring>

#include "crypto/hex.hpp"

namespace sovereign::crypto {

namespace {

constexpr std::size_t checkpoint_payload_size =
    log_id_size + 8 + hash_size + 8 + key_id_bytes + signature_size;
constexpr std::size_t end_payload_size = 24;
constexpr std::size_t max_frontier_nodes = 64;

void put_u64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

template <std::size_t N>
void put_bytes(std::string& out, const std::array<std::uint8_t, N>& bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), N);
}

// Reads fixed-size fields from a payload; any read past the end marks it short.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : payload_(payload) {}
  std::uint64_t u64() {
    std::uint64_t value = 0;
    if (!take(8)) return 0;
    for (int i = 0; i < 8; ++i) {
      value |= static_cast<std::uint64_t>(static_cast<unsigned char>(payload_[position_ - 8 + i])) << (8 * i);
    }
    return value;
  }
  template <std::size_t N>
  void bytes(std::array<std::uint8_t, N>& out) {
    if (take(N)) std::memcpy(out.data(), payload_.data() + position_ - N, N);
  }
  std::uint8_t u8() { return take(1) ? static_cast<std::uint8_t>(payload_[position_ - 1]) : 0; }
  bool short_read() const { return short_; }
  bool at_end() const { return position_ == payload_.size(); }

 private:
  bool take(std::size_t n) {
    if (short_ || payload_.size() - position_ < n) {
      short_ = true;
      return false;
    }
    position_ += n;
    return true;
  }
  std::string_view payload_;
  std::size_t position_ = 0;
  bool short_ = false;
};

std::uint32_t read_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  }
  return value;
}

bool known_tag(std::uint8_t tag) {
  return tag == 'H' || tag == 'R' || tag == 'C' || tag == 'E';
}

std::size_t max_payload(FrameTag tag) {
  switch (tag) {
    case FrameTag::record: return max_record_bytes;
    case FrameTag::checkpoint: return checkpoint_payload_size;
    case FrameTag::end: return end_payload_size;
    case FrameTag::header: return log_id_size + 8 * 2 + 1 + max_frontier_nodes * hash_size;
  }
  return 0;
}

}  // namespace

void append_frame(std::string& out, FrameTag tag, std::string_view payload) {
  out.push_back(static_cast<char>(tag));
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out.append(payload);
}

std::string encode_header(const SegmentHeader& header) {
  std::string out;
  put_bytes(out, header.log_id);
  put_u64(out, header.segment_index);
  put_u64(out, header.first_leaf);
  out.push_back(static_cast<char>(header.frontier.size()));
  for (const Hash& node : header.frontier) put_bytes(out, node);
  return out;
}

std::string encode_checkpoint(const Checkpoint& checkpoint) {
  std::string out;
  put_bytes(out, checkpoint.log_id);
  put_u64(out, checkpoint.tree_size);
  put_bytes(out, checkpoint.root);
  put_u64(out, static_cast<std::uint64_t>(checkpoint.time_ms));
  std::array<std::uint8_t, key_id_bytes> key_id{};
  // Key ids come from key_id_for(); a malformed one encodes as zeros and then fails verification.
  if (!from_hex_into(checkpoint.key_id, key_id)) key_id.fill(0);
  put_bytes(out, key_id);
  put_bytes(out, checkpoint.signature);
  return out;
}

std::string encode_end(const SegmentEnd& end) {
  std::string out;
  put_u64(out, end.segment_index);
  put_u64(out, end.record_count);
  put_u64(out, end.tree_size);
  return out;
}

Result<SegmentHeader> decode_header(std::string_view payload) {
  PayloadReader reader(payload);
  SegmentHeader header;
  reader.bytes(header.log_id);
  header.segment_index = reader.u64();
  header.first_leaf = reader.u64();
  const std::size_t nodes = reader.u8();
  if (nodes > max_frontier_nodes) return make_error("segment header lists too many frontier hashes");
  header.frontier.resize(nodes);
  for (Hash& node : header.frontier) reader.bytes(node);
  if (reader.short_read() || !reader.at_end()) {
    return make_error("segment header has the wrong length (" + std::to_string(payload.size()) + " bytes)");
  }
  return header;
}

Result<Checkpoint> decode_checkpoint(std::string_view payload) {
  if (payload.size() != checkpoint_payload_size) {
    return make_error("checkpoint frame has " + std::to_string(payload.size()) + " bytes, expected " +
                      std::to_string(checkpoint_payload_size));
  }
  PayloadReader reader(payload);
  Checkpoint checkpoint;
  reader.bytes(checkpoint.log_id);
  checkpoint.tree_size = reader.u64();
  reader.bytes(checkpoint.root);
  checkpoint.time_ms = static_cast<std::int64_t>(reader.u64());
  std::array<std::uint8_t, key_id_bytes> key_id{};
  reader.bytes(key_id);
  checkpoint.key_id = to_hex(key_id);
  reader.bytes(checkpoint.signature);
  return checkpoint;
}

Result<SegmentEnd> decode_end(std::string_view payload) {
  if (payload.size() != end_payload_size) {
    return make_error("end frame has " + std::to_string(payload.size()) + " bytes, expected " +
                      std::to_string(end_payload_size));
  }
  PayloadReader reader(payload);
  SegmentEnd end;
  end.segment_index = reader.u64();
  end.record_count = reader.u64();
  end.tree_size = reader.u64();
  return end;
}

FrameParser::FrameParser(std::string_view bytes) : bytes_(bytes), position_(segment_magic.size()) {}

FrameParser::FrameParser(std::string_view bytes_from_offset, std::uint64_t base_offset)
    : bytes_(bytes_from_offset), base_(base_offset), position_(0) {}

Status FrameParser::check_magic() const {
  if (bytes_.size() < segment_magic.size()) {
    return make_error("offset 0: file is " + std::to_string(bytes_.size()) +
                      " bytes, shorter than the segment magic (truncated)");
  }
  if (bytes_.substr(0, segment_magic.size()) != segment_magic) {
    return make_error("offset 0: not an audit segment (magic is not " + std::string(segment_magic) + ")");
  }
  return {};
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

bool FrameParser::zeros_reach_sector_end(std::size_t position) const {
  const std::uint64_t absolute = base_ + position;
  const std::uint64_t sector_end = (absolute / torn_write_unit_bytes + 1) * torn_write_unit_bytes;
  const std::size_t end = static_cast<std::size_t>(std::min<std::uint64_t>(sector_end - base_, bytes_.size()));
  return all_zero(bytes_.substr(position, end - position));
}

// The writer copies a batch into preallocated space front to back, so a reader of a live segment can
// meet the frame being copied: its first bytes, then the zeros the space held, and zeros to the end.
// No record the gateway writes ends in a zero byte (they are JSON), so a record frame ending in one
// is taken for one still being written, like a partial frame at the end of a file that grows by
// appends. A checkpoint's signature ends in a zero byte 1 time in 16 (an Ed25519 S is below 2^253),
// so a checkpoint reads so only when its last four bytes are zero (about 1 in 2^28).
bool FrameParser::being_copied(FrameTag tag, std::uint32_t length, std::size_t remaining) const {
  std::size_t zero_end = 0;  // how many of its last bytes must be zero
  if (tag == FrameTag::record) zero_end = 1;
  else if (tag == FrameTag::checkpoint) zero_end = 4;
  else return false;
  const std::size_t frame_end = position_ + frame_header_size + length;
  if (remaining - frame_header_size <= length) return false;  // nothing after it (or cut short): no zeros
  if (length > 0 && !all_zero(bytes_.substr(frame_end - std::min<std::size_t>(zero_end, length), zero_end))) return false;
  return all_zero(bytes_.substr(frame_end));
}

std::optional<Frame> FrameParser::next() {
  if (error_ || position_ >= bytes_.size()) return std::nullopt;
  const std::size_t remaining = bytes_.size() - position_;
  if (bytes_[position_] == 0 && all_zero(bytes_.substr(position_))) {
    zero_tail_ = remaining;  // the frames end here; offset() stays at the last frame's end
    bytes_ = bytes_.substr(0, position_);
    return std::nullopt;
  }
  const std::string offset = "offset " + std::to_string(base_ + position_);
  if (bytes_[position_] == 0 && zeros_reach_sector_end(position_)) {
    // Pages of preallocated space land in any order; a crash can leave zeros before data that did.
    // A sector that did not land is zeros from where its unsynced bytes begin to its end, so zeros
    // that stop short of the sector's end are not such a tear: they fall to the unknown-tag error.
    truncated_ = true;
    error_ = offset + ": zero bytes where a frame should begin, with data after them (a write torn by a crash "
                      "in space the writer had preallocated)";
    return std::nullopt;
  }
  if (remaining < frame_header_size) {
    truncated_ = true;
    error_ = offset + ": truncated frame (" + std::to_string(remaining) + " bytes left, a frame header needs " +
             std::to_string(frame_header_size) + ")";
    return std::nullopt;
  }
  const auto tag = static_cast<std::uint8_t>(bytes_[position_]);
  if (!known_tag(tag)) {
    error_ = offset + ": unknown frame tag 0x" + std::string(1, "0123456789abcdef"[tag >> 4]) +
             std::string(1, "0123456789abcdef"[tag & 15]);
    return std::nullopt;
  }
  const std::uint32_t length = read_u32(bytes_, position_ + 1);
  if (length > max_payload(static_cast<FrameTag>(tag))) {
    error_ = offset + ": frame length " + std::to_string(length) + " exceeds the limit for '" +
             std::string(1, static_cast<char>(tag)) + "' frames";
    return std::nullopt;
  }
  if (being_copied(static_cast<FrameTag>(tag), length, remaining)) {
    truncated_ = true;
    error_ = offset + ": a frame still being written (its last bytes and everything after it are the zeros of "
                      "preallocated space)";
    return std::nullopt;
  }
  if (length == 0 && tag == static_cast<std::uint8_t>(FrameTag::record)) {
    empty_record_ = true;
    error_ = offset + ": a record frame of 0 bytes (a record is 1 byte to " + std::to_string(max_record_bytes) +
             " bytes)";
    return std::nullopt;
  }
  if (remaining - frame_header_size < length) {
    truncated_ = true;
    error_ = offset + ": truncated frame (needs " + std::to_string(length) + " payload bytes, " +
             std::to_string(remaining - frame_header_size) + " present)";
    return std::nullopt;
  }
  Frame frame{static_cast<FrameTag>(tag), base_ + position_,
              bytes_.substr(position_ + frame_header_size, length)};
  position_ += frame_header_size + length;
  return frame;
}

namespace {

// The fixed leading bytes of a checkpoint frame of a log, and of the end frame of a segment.
std::string checkpoint_frame_prefix(const LogId& log_id) {
  std::string prefix;
  append_frame(prefix, FrameTag::checkpoint, std::string(checkpoint_payload_size, '\0'));
  prefix.resize(frame_header_size);
  put_bytes(prefix, log_id);
  return prefix;
}

std::string end_frame_prefix(std::uint64_t index) {
  std::string prefix;
  append_frame(prefix, FrameTag::end, std::string(end_payload_size, '\0'));
  prefix.resize(frame_header_size);
  put_u64(prefix, index);
  return prefix;
}

}  // namespace

std::optional<std::uint64_t> find_log_frame(std::string_view bytes, std::uint64_t bytes_offset, std::uint64_t from,
                                            const LogId& log_id, std::uint64_t index) {
  if (from < bytes_offset || from - bytes_offset >= bytes.size()) return std::nullopt;
  const auto start = static_cast<std::size_t>(from - bytes_offset);
  const std::size_t checkpoint = bytes.find(checkpoint_frame_prefix(log_id), start);
  const std::size_t end = bytes.find(end_frame_prefix(index), start);
  const std::size_t first = std::min(checkpoint, end);
  if (first == std::string_view::npos) return std::nullopt;
  return bytes_offset + first;
}

DamagedRest read_damaged_rest(std::string_view bytes, std::uint64_t bytes_offset, std::uint64_t from,
                              const LogId& log_id, std::uint64_t index, std::uint64_t tree_size) {
  std::uint64_t reached = tree_size;  // the tree size the rest is known to reach
  std::uint64_t checkpoints = 0;
  std::uint64_t search = from + 1;
  while (std::optional<std::uint64_t> found = find_log_frame(bytes, bytes_offset, search, log_id, index)) {
    const auto at = static_cast<std::size_t>(*found - bytes_offset);
    FrameParser parser(bytes.substr(at), *found);
    std::optional<std::uint64_t> signed_size;  // of the last checkpoint or end frame read
    std::uint64_t records_after = 0;
    while (std::optional<Frame> frame = parser.next()) {
      if (frame->tag == FrameTag::record) {
        ++records_after;
      } else if (frame->tag == FrameTag::checkpoint) {
        if (Result<Checkpoint> checkpoint = decode_checkpoint(frame->payload); checkpoint && checkpoint->log_id == log_id) {
          signed_size = checkpoint->tree_size;
          records_after = 0;
          ++checkpoints;
        }
      } else if (frame->tag == FrameTag::end) {
        if (Result<SegmentEnd> end = decode_end(frame->payload); end && end->segment_index == index) {
          signed_size = end->tree_size;
          records_after = 0;
        }
      }
    }
    if (signed_size) reached = std::max(reached, *signed_size + records_after);
    if (!parser.error()) break;
    // The framing broke again: look for the next frame of this log after that point.
    search = std::max(parser.offset(), *found) + 1;
  }
  return {reached - tree_size, checkpoints};
}

std::string segment_file_name(std::uint64_t index) {
  char name[40];
  std::snprintf(name, sizeof name, "segment-%06llu.log", static_cast<unsigned long long>(index));
  return name;
}

namespace {

// The digits of a name of the form segment-<digits>.log, whatever their count; nullopt otherwise.
std::optional<std::string_view> segment_name_digits(std::string_view name) {
  constexpr std::string_view prefix = "segment-";
  constexpr std::string_view suffix = ".log";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  const std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return digits;
}

}  // namespace

std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) {
  const std::optional<std::string_view> digits = segment_name_digits(name);
  if (!digits || digits->size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : *digits) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  // Only the writer's own spelling: one file per index, so that no second file can pass for a segment.
  if (value == 0 || segment_file_name(value) != name) return std::nullopt;
  return value;
}

Result<SegmentListing> scan_segments(const std::filesystem::path& directory) {
  std::error_code ec;
  std::filesystem::directory_iterator it(directory, ec);
  if (ec) return make_error(directory.string() + ": cannot list the audit directory: " + ec.message());
  SegmentListing listing;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (std::optional<std::uint64_t> index = parse_segment_file_name(name)) {
      listing.segments.emplace_back(*index, entry.path());
    } else if (segment_name_digits(name)) {
      listing.misnamed.push_back(entry.path());
    }
  }
  std::sort(listing.segments.begin(), listing.segments.end());
  std::sort(listing.misnamed.begin(), listing.misnamed.end());
  return listing;
}

std::string misnamed_segment_problem(const std::filesystem::path& file) {
  return file.filename().string() + " is not a segment name the writer writes (segment-NNNNNN.log: the index in " +
         "six digits, more only above 999999, never with extra leading zeros), so it is not read as part of the " +
         "log; a second file for one segment number is not accepted: move it out of the audit directory";
}

Result<std::vector<std::pair<std::uint64_t, std::filesystem::path>>> list_segments(
    const std::filesystem::path& directory) {
  Result<SegmentListing> listing = scan_segments(directory);
  if (!listing) return listing.error();
  if (!listing->misnamed.empty()) {
    return make_error(directory.string() + ": " + misnamed_segment_problem(listing->misnamed.front()));
  }
  return std::move(listing->segments);
}

}  // namespace sovereign::crypto
