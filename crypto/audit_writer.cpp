#include "crypto/audit_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

#include "crypto/audit_segment.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/file_io.hpp"
#include "crypto/key_store.hpp"

namespace sovereign::crypto {

namespace {

using Clock = std::chrono::steady_clock;

// Above this many buffered bytes the writer issues a write(2) before the batch ends.
constexpr std::size_t write_chunk_bytes = 4 << 20;
// Room kept at the end of a segment for its closing checkpoint and end frame.
constexpr std::size_t close_reserve_bytes = 512;
// Strict mode: the segment's file is grown ahead of the records in steps of this many zero bytes,
// synced once per step, so that the fdatasync of a group commit writes data only: with the file's
// size unchanged, ext4 has no journal commit to make (on this machine's disk, about half the system
// time of each sync). Readers stop at the zeros (FrameParser); close cuts them off.
constexpr std::uint64_t preallocation_step_bytes = 2 << 20;
// Zeros are never written into the last this-many free bytes of the filesystem: writing until the
// disk is full (and cutting them off again) would fail, in that moment, other writers on it (the
// sealed captures, the vault journal, the gateway's logs) for space no record needed yet.
constexpr std::uint64_t preallocation_keep_free_bytes = 64 << 20;

struct Pending {
  std::string record;
  DurableCallback on_durable;
  std::uint64_t leaf_index = 0;
};

void deliver(DurableCallback& callback, AppendResult result) {
  if (callback) callback(result);
}

// What recovery adopts without a signature: a record as the gateway writes them, a JSON object.
// Records a checkpoint covers need no such check: the checkpoint's root vouches for them.
bool adoptable_record(std::string_view record) {
  if (record.empty()) return false;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(record, ec);
  return !ec && value.is_object();
}

// The frames of the last segment as recovery reads them: the tree state they give, and where the
// first record it cannot adopt stands.
struct SegmentScan {
  TreeFrontier frontier;
  std::uint64_t records = 0;
  std::uint64_t records_since_checkpoint = 0;
  std::int64_t last_checkpoint_time_ms = 0;
  bool closed = false;
  std::uint64_t good_size = 0;            // end of the last whole frame
  std::optional<std::uint64_t> junk_at;   // the first unsigned record recovery cannot adopt
  std::optional<std::string> refusal;     // what makes the segment unusable ("offset N: ...")
};

}  // namespace

class AuditWriter::Impl {
 public:
  Impl(const AuditOptions& options, CheckpointSigner signer, const PublicKey& signing_public_key)
      : options_(options), signer_(std::move(signer)) {
    own_key_.add(signing_public_key);
  }

  ~Impl() {
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status start() {
    std::error_code ec;
    std::filesystem::create_directories(options_.directory, ec);
    if (ec) {
      return make_error(options_.directory.string() + ": cannot create the audit directory: " + ec.message());
    }
    const std::filesystem::path lock_path = options_.directory / ".writer.lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      return make_error(lock_path.string() + ": cannot open: " + errno_text(errno));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return make_error(options_.directory.string() + ": another process is writing this audit log");
    }
    if (Status status = recover(); !status) return status;
    recovery_.tree_size = frontier_.size();
    recovery_.segment_index = segment_index_;
    last_checkpoint_ = Clock::now();
    thread_ = std::thread([this] { run(); });
    return {};
  }

  void append(std::string record, DurableCallback on_durable) {
    if (record.empty() || record.size() > max_record_bytes) {
      records_failed_.fetch_add(1, std::memory_order_relaxed);
      deliver(on_durable, {false, 0, "audit record of " + std::to_string(record.size()) +
                                         " bytes refused (must be 1 to " +
                                         std::to_string(max_record_bytes) + " bytes)"});
      return;
    }
    std::unique_lock lock(mutex_);
    std::string refusal;
    if (closing_) {
      refusal = "audit log is closed";
    } else if (permanent_failure_) {
      refusal = "audit log failed permanently: " + health_detail_;
    } else if (queue_.size() >= options_.max_queued_records ||
               queued_bytes_ + record.size() > options_.max_queued_bytes) {
      refusal = "audit queue full (" + std::to_string(queue_.size()) + " records, " + std::to_string(queued_bytes_) +
                " bytes waiting for disk)";
    }
    if (!refusal.empty()) {
      lock.unlock();
      records_failed_.fetch_add(1, std::memory_order_relaxed);
      deliver(on_durable, {false, 0, refusal});
      return;
    }
    queued_bytes_ += record.size();
    queue_.push_back(Pending{std::move(record), std::move(on_durable), 0});
    // The writer sleeps until a record arrives, then (with a batch delay) until the batch is full.
    if (queue_.size() == 1 || queue_.size() == options_.batch_records) wake_.notify_one();
  }

  // Asked by the gateway before every request: read without the queue's lock.
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }

  std::string health_detail() const {
    std::lock_guard lock(mutex_);
    return healthy_ ? std::string() : health_detail_;
  }

  std::string close_failure() const {
    std::lock_guard lock(mutex_);
    return close_failure_;
  }

  void close() {
    std::call_once(close_once_, [this] {
      {
        std::lock_guard lock(mutex_);
        closing_ = true;
      }
      wake_.notify_one();
      if (thread_.joinable()) thread_.join();
    });
  }

  AuditRecovery recovery_;

  AuditWriterStats stats() const {
    AuditWriterStats out;
    out.records_written = records_written_.load(std::memory_order_relaxed);
    out.records_failed = records_failed_.load(std::memory_order_relaxed);
    out.checkpoints_written = checkpoints_written_.load(std::memory_order_relaxed);
    out.syncs = syncs_.load(std::memory_order_relaxed);
    out.write_batches = write_batches_.load(std::memory_order_relaxed);
    out.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    out.preallocations = preallocations_.load(std::memory_order_relaxed);
    out.preallocations_refused = preallocations_refused_.load(std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    out.queued = queue_.size();
    return out;
  }

 private:
  // Reads the last segment to rebuild the tree state; cuts a torn partial frame left by a crash
  // (moved to a quarantine file, like junk records). Every checkpoint in it must match the records
  // before it and carry a valid signature by a key the writer knows. Only the last segment is read:
  // the ones before it were closed by this writer, and verify checks them. Records after the last checkpoint
  // carry no signature: they are adopted (and signed by the checkpoint written at once) only as far
  // as each is a JSON object, as the gateway writes them; from the first one that is not (a frame
  // whose payload never landed, a zero-length frame), the rest of the segment is moved to a
  // quarantine file beside it and reported, never signed.
  Status recover() {
    Result<std::vector<std::pair<std::uint64_t, std::filesystem::path>>> segments =
        list_segments(options_.directory);
    if (!segments) return segments.error();
    if (segments->empty()) {
      ensure_sodium();
      randombytes_buf(log_id_.data(), log_id_.size());
      return open_new_segment(1);
    }
    const auto& [index, path] = segments->back();
    const std::string name = path.filename().string();
    Result<std::string> bytes = read_small_file(path, max_segment_file_bytes);
    if (!bytes) return bytes.error();
    auto refuse = [&](const std::string& why) {
      return make_error("cannot continue the audit log: " + name + " " + why +
                        "; run 'sovereign audit verify " + options_.directory.string() + "'");
    };
    FrameParser parser(bytes.value());
    if (Status magic = parser.check_magic(); !magic) return refuse(magic.error().message);
    std::optional<Frame> first = parser.next();
    if (!first || first->tag != FrameTag::header) return refuse("offset 8: no segment header");
    Result<SegmentHeader> header = decode_header(first->payload);
    if (!header) return refuse("offset 8: " + header.error().message);
    if (header->segment_index != index) {
      return refuse("header names segment " + std::to_string(header->segment_index));
    }
    Result<TreeFrontier> frontier = TreeFrontier::from_nodes(header->first_leaf, header->frontier);
    if (!frontier) return refuse("header: " + frontier.error().message);
    log_id_ = header->log_id;
    const std::size_t header_end = static_cast<std::size_t>(parser.offset());
    SegmentScan scan = scan_segment(bytes.value(), header_end, index, frontier.value());
    if (scan.refusal) return refuse(*scan.refusal);
    // Zeros after the last frame are space the writer had preallocated (strict mode), not debris:
    // an open segment keeps them to write on, a closed one is cut at its end frame.
    // Nor where a cut (below) begins before them; the four zeros after the last other byte stay in
    // what is cut, since they can be the length of the frame that byte begins.
    const std::uint64_t file_size = bytes->size();
    const std::size_t last_data = bytes->find_last_not_of('\0');
    const std::uint64_t data_end = last_data == std::string::npos || last_data < scan.good_size
                                       ? scan.good_size
                                       : std::min<std::uint64_t>(file_size, last_data + frame_header_size);
    bytes->resize(static_cast<std::size_t>(data_end));
    // What is cut from the end (records that cannot be adopted and what follows them, or a torn
    // partial frame) is moved aside, never destroyed: recovery cannot be sure it is only debris.
    if (scan.junk_at || scan.good_size < bytes->size()) {
      const std::uint64_t from = scan.junk_at.value_or(scan.good_size);
      if (Status moved = quarantine(path, bytes.value(), from, scan.junk_at.has_value()); !moved) return moved;
      bytes->resize(static_cast<std::size_t>(from));
      if (scan.junk_at) {
        scan = scan_segment(bytes.value(), header_end, index, frontier.value());
        if (scan.refusal) return refuse(*scan.refusal);
      }
    }
    frontier_ = std::move(scan.frontier);
    segment_records_ = scan.records;
    records_since_checkpoint_ = scan.records_since_checkpoint;
    last_checkpoint_time_ms_ = scan.last_checkpoint_time_ms;
    const bool closed = scan.closed;
    const std::uint64_t good_size = scan.good_size;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return make_error(path.string() + ": cannot open for appending: " + errno_text(errno));
    const bool cut = recovery_.discarded_tail_bytes > 0 || recovery_.quarantined_bytes > 0 ||
                     (closed && good_size < file_size);
    if (cut && (::ftruncate(fd_, static_cast<off_t>(good_size)) != 0 || ::fdatasync(fd_) != 0)) {
      return make_error(path.string() + ": cannot cut the torn tail: " + errno_text(errno));
    }
    allocated_end_ = cut ? good_size : file_size;
    if (closed) return open_new_segment(index + 1);
    if (::lseek(fd_, static_cast<off_t>(good_size), SEEK_SET) < 0) {
      return make_error(path.string() + ": cannot seek: " + errno_text(errno));
    }
    segment_index_ = index;
    segment_size_ = good_size;
    segment_opened_ = Clock::now();
    // The crash left records without a checkpoint, or none at all since the restart: sign now.
    checkpoint_due_now_ = true;
    confirmed_frontier_ = frontier_;
    confirmed_size_ = segment_size_;
    return {};
  }

  // Walks the frames after the header, checking each checkpoint and end frame against the records
  // before it.
  SegmentScan scan_segment(std::string_view bytes, std::size_t header_end, std::uint64_t index,
                           const TreeFrontier& start) {
    SegmentScan scan;
    scan.frontier = start;
    FrameParser parser(bytes.substr(header_end), header_end);
    auto at = [](std::uint64_t offset) { return "offset " + std::to_string(offset) + ": "; };
    std::optional<std::uint64_t> first_unadoptable;  // since the last checkpoint
    std::optional<std::uint64_t> torn_at;            // a checkpoint a power loss tore (see below)
    std::uint64_t signed_end = header_end;           // end of the last checkpoint that checked out
    while (!torn_at) {
      std::optional<Frame> frame = parser.next();
      if (!frame) break;
      if (scan.closed) {
        scan.refusal = at(frame->offset) + "frame after the end frame";
        return scan;
      }
      switch (frame->tag) {
        case FrameTag::record:
          if (!first_unadoptable && !adoptable_record(frame->payload)) first_unadoptable = frame->offset;
          scan.frontier.append(merkle::hash_leaf(frame->payload));
          ++scan.records;
          ++scan.records_since_checkpoint;
          break;
        case FrameTag::checkpoint: {
          // The tree it signs must be the one the records before it give, and the signature must
          // be valid: the next checkpoint the writer signs vouches for everything before it.
          std::optional<std::string> wrong;
          Result<Checkpoint> checkpoint = decode_checkpoint(frame->payload);
          if (!checkpoint) {
            wrong = checkpoint.error().message;
          } else if (checkpoint->log_id != log_id_ || checkpoint->tree_size != scan.frontier.size() ||
                     checkpoint->root != scan.frontier.root()) {
            wrong = "the checkpoint (tree size " + std::to_string(checkpoint->tree_size) + ") does not match the " +
                    std::to_string(scan.frontier.size()) +
                    " records before it (records altered, added or removed after it was signed)";
          } else if (Status signature = check_signature(checkpoint.value()); !signature) {
            wrong = "the checkpoint (tree size " + std::to_string(checkpoint->tree_size) + "): " + signature.error().message;
          }
          const std::uint64_t frame_end = frame->offset + frame_header_size + frame->payload.size();
          if (wrong && torn_in_preallocated_space(bytes, signed_end, frame->offset, frame_end, index)) {
            torn_at = frame->offset;
            break;
          }
          if (wrong) {
            scan.refusal = at(frame->offset) + *wrong;
            return scan;
          }
          scan.last_checkpoint_time_ms = checkpoint->time_ms;
          scan.records_since_checkpoint = 0;
          signed_end = frame_end;
          first_unadoptable.reset();  // signed: what it covers is the writer's
          break;
        }
        case FrameTag::end: {
          Result<SegmentEnd> end = decode_end(frame->payload);
          if (!end || end->segment_index != index || end->record_count != scan.records ||
              end->tree_size != scan.frontier.size() || scan.records_since_checkpoint != 0) {
            scan.refusal = at(frame->offset) + "the end frame does not match the segment's records and checkpoints";
            return scan;
          }
          scan.closed = true;
          break;
        }
        case FrameTag::header:
          scan.refusal = at(frame->offset) + "a second header";
          return scan;
      }
    }
    if (torn_at) {
      scan.good_size = *torn_at;
      scan.junk_at = first_unadoptable;
      return scan;
    }
    scan.good_size = parser.offset();
    if (parser.error()) {
      // A crash stops the writer inside the last frame it wrote: a checkpoint or end frame of this
      // log after the frame the walk stopped on makes the segment damaged, not torn.
      const std::optional<std::uint64_t> later = find_log_frame(bytes, 0, scan.good_size + 1, log_id_, index);
      if (later && (parser.stopped_on_empty_record() || parser.stopped_on_truncation())) {
        scan.refusal = *parser.error() + ", but a checkpoint or end frame of this log follows at offset " +
                       std::to_string(*later) + ": the segment is damaged (a frame's length altered), not " +
                       "torn by a crash, and nothing after it can be read";
        return scan;
      }
      if (parser.stopped_on_empty_record()) {
        // A zero-length record frame (append never writes one): what follows is not adopted either.
        if (!first_unadoptable) first_unadoptable = scan.good_size;
      } else if (!parser.stopped_on_truncation()) {
        // A crash leaves a partial frame, or zeros before data that landed (FrameParser counts both as
        // truncation); zeros alone are the parser's clean end.
        scan.refusal = *parser.error();
        return scan;
      }
    }
    scan.junk_at = first_unadoptable;
    return scan;
  }

  // In a preallocated segment the pages of a batch that was never synced land in any order when the
  // power fails, so a checkpoint frame can be torn while data after it landed. A checkpoint that does
  // not check out is taken for such a tear (and cut, with all after it, into the quarantine file)
  // only where the segment still ends in preallocated zeros, no checkpoint or end frame of this log
  // follows it, and what explains the mismatch is a sector that did not land: a whole zero sector in
  // the checkpoint or in the records since the last checkpoint that checked out (JSON records and
  // frame headers hold no 512 zero bytes in a row). Anywhere else, a flipped bit or an altered record
  // in particular, it is damage, and start-up is refused: cutting it would discard acknowledged
  // records after it and have the writer sign records its signed checkpoint no longer vouches for.
  bool torn_in_preallocated_space(std::string_view bytes, std::uint64_t signed_end, std::uint64_t checkpoint_offset,
                                  std::uint64_t checkpoint_end, std::uint64_t index) const {
    constexpr std::size_t zero_run = 64;  // no signed frame ends in 64 zero bytes
    if (bytes.size() < zero_run ||
        !all_zero(bytes.substr(bytes.size() - zero_run)))
      return false;
    if (!zero_sector_between(bytes, signed_end, checkpoint_end)) return false;
    return !find_log_frame(bytes, 0, checkpoint_offset + 1, log_id_, index);
  }

  // True when a whole torn_write_unit_bytes sector of `bytes` (clipped at their end) that overlaps
  // [from, to) is zero.
  static bool zero_sector_between(std::string_view bytes, std::uint64_t from, std::uint64_t to) {
    to = std::min<std::uint64_t>(to, bytes.size());
    for (std::uint64_t sector = from / torn_write_unit_bytes * torn_write_unit_bytes; sector < to;
         sector += torn_write_unit_bytes) {
      const std::uint64_t end = std::min<std::uint64_t>(sector + torn_write_unit_bytes, bytes.size());
      if (all_zero(bytes.substr(static_cast<std::size_t>(sector), static_cast<std::size_t>(end - sector)))) return true;
    }
    return false;
  }

  // Checks a checkpoint's signature with the signing key's own public key or, for one signed before
  // a key rotation, with the audit-signing keyring beside the key file (read when first needed).
  Status check_signature(const Checkpoint& checkpoint) {
    if (checkpoint.key_id == signer_.key_id()) {
      if (Status own = own_key_.verify(checkpoint); !own) {
        return make_error(own.error().message + ": the checkpoint or the records before it were altered after it was signed");
      }
      return {};
    }
    const std::string unknown = "signed by key " + checkpoint.key_id + ", which is not the signing key (" +
                                signer_.key_id() + ")";
    if (options_.signing_key.empty()) return make_error(unknown + ", and no keyring of earlier keys is known");
    const std::filesystem::path keyring =
        *public_keyring_path(options_.signing_key.parent_path(), KeyKind::audit_signing);
    if (!earlier_keys_) {
      std::error_code ec;
      if (!std::filesystem::exists(keyring, ec)) {
        return make_error(unknown + ", and there is no keyring " + keyring.string() + " of earlier audit-signing keys");
      }
      Result<TrustedKeys> earlier = TrustedKeys::from_keyring_files({keyring.string()});
      if (!earlier) return make_error(unknown + ", and the keyring of earlier keys is unusable: " + earlier.error().message);
      earlier_keys_ = std::move(earlier.value());
    }
    if (Status earlier = earlier_keys_->verify(checkpoint); !earlier) {
      return make_error(earlier.error().message + " (the signing key is " + signer_.key_id() +
                        "; earlier keys are read from " + keyring.string() + ")");
    }
    return {};
  }

  // Moves the bytes of the last segment from `from` on into a file beside it (synced), so that
  // recovery neither signs them nor destroys them: SEGMENT.quarantine-OFFSET. junk: unsigned records
  // recovery cannot adopt, and what follows them; otherwise a torn partial frame.
  //
  // Recovery must be repeatable: a crash between this write and the cut leaves the same tail to
  // quarantine at the next start, and a later tear of the log written on from the cut stands at the
  // same offset. A file that already holds exactly these bytes is the copy: it is kept and the cut
  // goes on. One that holds other bytes is kept too, and these go to SEGMENT.quarantine-OFFSET.2
  // (.3...): evidence is never overwritten, and the gateway still starts.
  Status quarantine(const std::filesystem::path& segment, std::string_view bytes, std::uint64_t from, bool junk) {
    const std::string_view tail = bytes.substr(static_cast<std::size_t>(from));
    const std::string base = segment.filename().string() + ".quarantine-" + std::to_string(from);
    constexpr int max_copies = 1000;
    std::filesystem::path file;
    bool written_before = false;
    for (int copy = 1; copy <= max_copies; ++copy) {
      file = segment.parent_path() / (copy == 1 ? base : base + "." + std::to_string(copy));
      std::error_code ec;
      if (!std::filesystem::exists(file, ec) && !ec) break;
      Result<std::string> existing = read_small_file(file, tail.size() + 1);
      if (existing && existing.value() == tail) {
        written_before = true;
        break;
      }
      if (copy == max_copies) {
        return make_error("cannot quarantine the tail of " + segment.filename().string() + " from offset " +
                          std::to_string(from) + ": " + std::to_string(max_copies) + " files named " + base +
                          "[.N] already hold other bytes; move them out of the audit directory");
      }
    }
    std::uint64_t records = 0;
    FrameParser rest(bytes.substr(static_cast<std::size_t>(from)), from);
    while (std::optional<Frame> frame = rest.next()) {
      if (frame->tag == FrameTag::record) ++records;
    }
    if (rest.stopped_on_empty_record()) ++records;
    if (Status written = written_before ? Status{} : write_file_atomically(file, tail, 0640, false); !written) {
      return make_error("cannot quarantine the " + std::string(junk ? "unsigned records" : "torn partial frame") +
                        " of " + segment.filename().string() + " from offset " + std::to_string(from) + ": " +
                        written.error().message);
    }
    if (junk) {
      recovery_.quarantined_bytes = bytes.size() - from;
      recovery_.quarantined_records = records;
    } else {
      recovery_.discarded_tail_bytes = bytes.size() - from;
    }
    recovery_.quarantine_file = file;
    return {};
  }

  // Creates the segment atomically (magic and header written, synced, then renamed into place),
  // so a crash never leaves a segment without its header.
  Status open_new_segment(std::uint64_t index) {
    SegmentHeader header;
    header.log_id = log_id_;
    header.segment_index = index;
    header.first_leaf = frontier_.size();
    header.frontier = frontier_.nodes();
    std::string bytes(segment_magic);
    append_frame(bytes, FrameTag::header, encode_header(header));
    const std::filesystem::path path = options_.directory / segment_file_name(index);
    // A segment an attempt created but could not finish (its directory entry not synced, not
    // opened) holds exactly this header and nothing else: it is removed, so that the next attempt
    // can create it again. A file holding anything else under the name is left alone.
    auto discard = [&](Error error) {
      if (Result<std::string> found = read_small_file(path, bytes.size() + 1); found && found.value() == bytes) {
        ::unlink(path.c_str());
      }
      return error;
    };
    if (Status written = write_file_atomically(path, bytes, 0640, false); !written) return discard(written.error());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return discard(make_error(path.string() + ": cannot open for appending: " + errno_text(errno)));
    if (::lseek(fd, 0, SEEK_END) < 0) {
      ::close(fd);
      return discard(make_error(path.string() + ": cannot seek: " + errno_text(errno)));
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    segment_index_ = index;
    segment_size_ = bytes.size();
    allocated_end_ = segment_size_;
    preallocation_retry_size_ = 0;
    segment_records_ = 0;
    segment_opened_ = Clock::now();
    confirmed_frontier_ = frontier_;
    confirmed_size_ = segment_size_;
    return {};
  }

  void run() {
    std::deque<Pending> batch;
    for (;;) {
      bool closing = false;
      {
        std::unique_lock lock(mutex_);
        const auto deadline = last_checkpoint_ + std::chrono::milliseconds(options_.checkpoint_every_ms);
        // A checkpoint due now (the one that signs what recovery adopted) is not held back until the
        // timed one: records recovered unsigned would otherwise stay so for checkpoint_every_ms.
        wake_.wait_until(lock, deadline, [&] { return checkpoint_due_now_ || !queue_.empty() || closing_; });
        if (options_.batch_delay.count() > 0 && !queue_.empty() && !closing_) {
          wake_.wait_until(lock, Clock::now() + options_.batch_delay,
                           [&] { return queue_.size() >= options_.batch_records || closing_; });
        }
        batch.swap(queue_);
        queued_bytes_ = 0;
        closing = closing_;
      }
      if (!batch.empty()) {
        write_batches_.fetch_add(1, std::memory_order_relaxed);
        write_batch(batch);
      }
      batch.clear();
      const bool time_due = Clock::now() - last_checkpoint_ >=
                            std::chrono::milliseconds(options_.checkpoint_every_ms);
      if (options_.segment_max_age_ms > 0 && segment_records_ > 0 && !next_segment_due_ && !is_permanently_failed() &&
          Clock::now() - segment_opened_ >= std::chrono::milliseconds(options_.segment_max_age_ms)) {
        rotate();  // a failure is recorded in the health fields; the next batch retries
      } else if (checkpoint_due_now_ || time_due) {
        write_checkpoint();
      }
      if (closing) {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) break;
      }
    }
    finish_segment();
  }

  void write_batch(std::deque<Pending>& batch) {
    if (is_permanently_failed()) {
      fail_all(batch, "audit log failed permanently: " + detail_copy());
      return;
    }
    if (!open_next_segment()) {
      fail_all(batch, detail_copy());
      return;
    }
    bool sync_needed = false;  // checkpoints are always synced, in relaxed mode too
    while (!batch.empty()) {
      Pending& item = batch.front();
      const std::size_t frame_size = frame_header_size + item.record.size();
      if (segment_records_ > 0 &&
          segment_size_ + buffer_.size() + frame_size + close_reserve_bytes > options_.segment_max_bytes) {
        if (!rotate()) {
          fail_all(batch, detail_copy());
          return;
        }
      }
      item.leaf_index = frontier_.size();
      frontier_.append(merkle::hash_leaf(item.record));
      append_frame(buffer_, FrameTag::record, item.record);
      ++segment_records_;
      ++records_since_checkpoint_;
      unconfirmed_.push_back(std::move(item));
      batch.pop_front();
      // Checkpoints fall exactly every N records, even inside a batch.
      if (records_since_checkpoint_ >= options_.checkpoint_every_records) {
        append_checkpoint_frame();
        sync_needed = true;
      }
      if (buffer_.size() >= write_chunk_bytes && !flush()) {
        fail_all(batch, detail_copy());
        return;
      }
    }
    if (!flush() || !confirm(sync_needed || options_.durability == Durability::strict)) {
      fail_all(batch, detail_copy());
      return;
    }
    preallocate();
  }

  // Writes the buffer to the segment; on failure cuts the file back to its last confirmed size.
  bool flush() {
    if (buffer_.empty()) return true;
    Status written = write_all(fd_, buffer_);
    if (!written) {
      roll_back(segment_path().string() + ": " + written.error().message);
      return false;
    }
    segment_size_ += buffer_.size();
    bytes_written_.fetch_add(buffer_.size(), std::memory_order_relaxed);
    buffer_.clear();
    return true;
  }

  // Makes everything flushed so far durable (sync=true: fdatasync) and reports it to the callers.
  bool confirm(bool sync) {
    if (sync && !sync_segment()) return false;
    if (sync) syncs_.fetch_add(1, std::memory_order_relaxed);
    confirmed_frontier_ = frontier_;
    confirmed_size_ = segment_size_;
    set_health(true, {});
    records_written_.fetch_add(unconfirmed_.size(), std::memory_order_relaxed);
    for (Pending& item : unconfirmed_) deliver(item.on_durable, {true, item.leaf_index, {}});
    unconfirmed_.clear();
    return true;
  }

  // fdatasync of the segment. After a failed fsync the kernel may have dropped the dirty pages;
  // nothing written since the last good sync can be trusted, so the writer stops until the gateway
  // restarts and recovers.
  bool sync_segment() {
    if (::fdatasync(fd_) == 0) return true;
    const std::string why = segment_path().string() + ": fdatasync failed: " + errno_text(errno);
    {
      std::lock_guard lock(mutex_);
      permanent_failure_ = true;
    }
    roll_back(why);
    return false;
  }

  // Strict mode: keeps at least half a step of zeros written and synced ahead of the records (never
  // past segment_max_bytes). A disk without room for them is no failure: the segment then grows by
  // its appends as it would without (what was added is cut off again). Zeros are not written where
  // they would leave less than preallocation_keep_free_bytes free, and after an attempt that found no
  // room (a quota, a file size limit) the next waits until the records have grown by a step, so a
  // nearly full disk is not filled and emptied again at every group commit.
  void preallocate() {
    if (options_.durability != Durability::strict || fd_ < 0 || next_segment_due_) return;
    const std::uint64_t from = std::max(allocated_end_, segment_size_);
    if (from >= segment_size_ + preallocation_step_bytes / 2) return;
    const std::uint64_t to = std::min<std::uint64_t>(from + preallocation_step_bytes, options_.segment_max_bytes);
    if (to <= from || segment_size_ < preallocation_retry_size_) return;
    struct statvfs fs {};
    if (::fstatvfs(fd_, &fs) == 0 &&
        static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < (to - from) + preallocation_keep_free_bytes) {
      preallocations_refused_.fetch_add(1, std::memory_order_relaxed);
      preallocation_retry_size_ = segment_size_ + preallocation_step_bytes;
      return;
    }
    static const std::string zeros(64 << 10, '\0');
    std::uint64_t at = from;
    while (at < to) {
      const ssize_t n = ::pwrite(fd_, zeros.data(), static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), to - at)),
                                 static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      at += static_cast<std::uint64_t>(n);
    }
    if (at < to) {
      preallocations_refused_.fetch_add(1, std::memory_order_relaxed);
      preallocation_retry_size_ = segment_size_ + preallocation_step_bytes;
      if (::ftruncate(fd_, static_cast<off_t>(from)) != 0) return;  // the zeros stay; readers stop at them
      allocated_end_ = from;
      return;
    }
    if (!sync_segment()) return;
    syncs_.fetch_add(1, std::memory_order_relaxed);
    preallocations_.fetch_add(1, std::memory_order_relaxed);
    allocated_end_ = to;
  }

  // Records the log's health (a permanent failure is never undone) and reports a change to
  // options_.on_health_change outside the lock.
  void set_health(bool healthy, const std::string& detail) {
    {
      std::lock_guard lock(mutex_);
      if (healthy && permanent_failure_) return;
      const bool changed = healthy_.load(std::memory_order_relaxed) != healthy;
      healthy_ = healthy;
      if (!healthy) health_detail_ = detail;
      if (!changed) return;
    }
    if (options_.on_health_change) options_.on_health_change(healthy, detail);
  }

  void roll_back(const std::string& why) {
    buffer_.clear();
    if (::ftruncate(fd_, static_cast<off_t>(confirmed_size_)) == 0) {
      ::lseek(fd_, static_cast<off_t>(confirmed_size_), SEEK_SET);
      allocated_end_ = confirmed_size_;
    } else {
      std::lock_guard lock(mutex_);
      permanent_failure_ = true;  // the file's tail is unknown; appending more would corrupt it
    }
    const std::uint64_t rolled_back_records = frontier_.size() - confirmed_frontier_.size();
    segment_records_ -= std::min<std::uint64_t>(segment_records_, rolled_back_records);
    records_since_checkpoint_ -= std::min<std::uint64_t>(records_since_checkpoint_, rolled_back_records);
    frontier_ = confirmed_frontier_;
    segment_size_ = confirmed_size_;
    set_health(false, why);
    records_failed_.fetch_add(unconfirmed_.size(), std::memory_order_relaxed);
    for (Pending& item : unconfirmed_) deliver(item.on_durable, {false, 0, why});
    unconfirmed_.clear();
  }

  void fail_all(std::deque<Pending>& batch, const std::string& why) {
    records_failed_.fetch_add(batch.size(), std::memory_order_relaxed);
    for (Pending& item : batch) deliver(item.on_durable, {false, 0, why});
    batch.clear();
  }

  void append_checkpoint_frame() {
    Checkpoint checkpoint;
    checkpoint.log_id = log_id_;
    checkpoint.tree_size = frontier_.size();
    checkpoint.root = frontier_.root();
    // Checkpoint times never go backwards, even if the system clock is stepped back.
    checkpoint.time_ms = std::max(unix_time_ms(), last_checkpoint_time_ms_);
    signer_.sign(checkpoint);
    append_frame(buffer_, FrameTag::checkpoint, encode_checkpoint(checkpoint));
    checkpoints_written_.fetch_add(1, std::memory_order_relaxed);
    last_checkpoint_time_ms_ = checkpoint.time_ms;
    last_checkpoint_ = Clock::now();
    records_since_checkpoint_ = 0;
  }

  bool write_checkpoint() {
    checkpoint_due_now_ = false;
    last_checkpoint_ = Clock::now();
    if (is_permanently_failed()) return false;
    if (!open_next_segment()) return false;  // the timed checkpoint retries a rotation that failed
    append_checkpoint_frame();
    return flush() && confirm(true);
  }

  // Closes the current segment (checkpoint + end frame, synced) and starts the next one. When the
  // next one cannot be created (disk full, quota), the closed segment stays as it is and the
  // failure is one like any failed write: the next batch or timed checkpoint tries again.
  bool rotate() {
    if (!next_segment_due_) {
      if (!flush() || !confirm(options_.durability == Durability::strict)) return false;
      if (!close_segment()) return false;
      next_segment_due_ = true;
    }
    return open_next_segment();
  }

  // Creates the segment that follows a closed one; a no-op while the current segment is open.
  bool open_next_segment() {
    if (!next_segment_due_) return true;
    if (Status opened = open_new_segment(segment_index_ + 1); !opened) {
      last_checkpoint_ = Clock::now();  // retried at the pace of the timed checkpoint
      set_health(false, "cannot start the next segment after closing " + segment_file_name(segment_index_) + ": " +
                            opened.error().message);
      return false;
    }
    next_segment_due_ = false;
    set_health(true, {});
    return true;
  }

  bool close_segment() {
    if (!write_checkpoint()) return false;
    SegmentEnd end{segment_index_, segment_records_, frontier_.size()};
    append_frame(buffer_, FrameTag::end, encode_end(end));
    if (!flush()) return false;
    // A closed segment ends with its end frame: the preallocated zeros after it are cut off.
    if (allocated_end_ > segment_size_) {
      if (::ftruncate(fd_, static_cast<off_t>(segment_size_)) != 0) {
        roll_back(segment_path().string() + ": cannot cut the preallocated space after the end frame: " + errno_text(errno));
        return false;
      }
      allocated_end_ = segment_size_;
    }
    return confirm(true);
  }

  void finish_segment() {
    // A segment closed by a rotation whose next segment could not be created stays the last one:
    // the next start creates its successor.
    if (fd_ < 0 || next_segment_due_) return;
    if (is_permanently_failed() || !close_segment()) {
      std::lock_guard lock(mutex_);
      close_failure_ = segment_file_name(segment_index_) + " was left without its final checkpoint and end frame: " +
                       health_detail_;
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }

  bool is_permanently_failed() const {
    std::lock_guard lock(mutex_);
    return permanent_failure_;
  }

  std::string detail_copy() const {
    std::lock_guard lock(mutex_);
    return health_detail_;
  }

  std::filesystem::path segment_path() const {
    return options_.directory / segment_file_name(segment_index_);
  }

  const AuditOptions options_;
  CheckpointSigner signer_;
  TrustedKeys own_key_;                       // the signing key's public half
  std::optional<TrustedKeys> earlier_keys_;   // the keyring beside the key, read when recovery needs it

  mutable std::mutex mutex_;  // guards the queue and the health fields below
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;
  std::string close_failure_;  // set by finish_segment when the last segment could not be ended
  std::atomic<bool> healthy_{true};  // written under mutex_, with health_detail_
  bool permanent_failure_ = false;
  std::string health_detail_;
  std::thread thread_;
  std::once_flag close_once_;

  // Owned by the writer thread after start().
  int fd_ = -1;
  int lock_fd_ = -1;
  LogId log_id_{};
  std::uint64_t segment_index_ = 0;
  std::uint64_t segment_size_ = 0;
  std::uint64_t preallocation_retry_size_ = 0;  // no preallocation before the segment is this large
  std::atomic<std::uint64_t> preallocations_{0};
  std::atomic<std::uint64_t> preallocations_refused_{0};
  std::uint64_t allocated_end_ = 0;  // the segment file's size: segment_size_, or more where preallocated
  std::uint64_t segment_records_ = 0;
  std::uint64_t records_since_checkpoint_ = 0;
  std::int64_t last_checkpoint_time_ms_ = 0;
  bool checkpoint_due_now_ = false;
  bool next_segment_due_ = false;  // the current segment is closed; its successor is still to be created
  Clock::time_point last_checkpoint_;
  Clock::time_point segment_opened_;
  TreeFrontier frontier_;
  TreeFrontier confirmed_frontier_;
  std::uint64_t confirmed_size_ = 0;
  std::string buffer_;
  std::vector<Pending> unconfirmed_;

  std::atomic<std::uint64_t> records_written_{0};
  std::atomic<std::uint64_t> records_failed_{0};
  std::atomic<std::uint64_t> checkpoints_written_{0};
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::uint64_t> write_batches_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
};

AuditWriter::AuditWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditWriter::~AuditWriter() { close(); }

Result<std::unique_ptr<AuditWriter>> AuditWriter::open(const AuditOptions& options) {
  Result<std::optional<SecretBytes>> passphrase = passphrase_from_environment();
  if (!passphrase) return passphrase.error();
  return open(options, passphrase->has_value() ? &passphrase->value() : nullptr);
}

Result<std::unique_ptr<AuditWriter>> AuditWriter::open(const AuditOptions& options, const SecretBytes* passphrase) {
  Result<SecretKey> key = read_secret_key_file(options.signing_key, passphrase, KeyKind::audit_signing);
  if (!key) return make_error("audit signing key: " + key.error().message);
  return open(options, key.value());
}

Result<std::unique_ptr<AuditWriter>> AuditWriter::open(const AuditOptions& options,
                                                       const SecretKey& signing_key) {
  if (options.directory.empty()) return make_error("audit: directory is not set");
  if (options.checkpoint_every_records == 0 || options.checkpoint_every_ms == 0) {
    return make_error("audit: checkpoint_every_records and checkpoint_every_ms must be at least 1");
  }
  // Half the readers' limit, so a segment that ends with one large record still reads back.
  if (options.segment_max_bytes < (1 << 16) || options.segment_max_bytes > max_segment_file_bytes / 2) {
    return make_error("audit: segment_max_bytes must be between 65536 and " +
                      std::to_string(max_segment_file_bytes / 2));
  }
  if (options.max_queued_records == 0 || options.max_queued_bytes < max_record_bytes) {
    return make_error("audit: max_queued_records must be at least 1 and max_queued_bytes at least 1 MiB");
  }
  Result<CheckpointSigner> signer = CheckpointSigner::from_key(signing_key);
  if (!signer) return make_error("audit: " + signer.error().message);
  auto impl = std::make_unique<Impl>(options, std::move(signer.value()), public_key_of(signing_key));
  if (Status started = impl->start(); !started) return started.error();
  return std::unique_ptr<AuditWriter>(new AuditWriter(std::move(impl)));
}

void AuditWriter::append(std::string record, DurableCallback on_durable) {
  impl_->append(std::move(record), std::move(on_durable));
}

bool AuditWriter::healthy() const { return impl_->healthy(); }
std::string AuditWriter::health_detail() const { return impl_->health_detail(); }
const AuditRecovery& AuditWriter::recovery() const { return impl_->recovery_; }
AuditWriterStats AuditWriter::stats() const { return impl_->stats(); }
void AuditWriter::close() {
  if (impl_) impl_->close();
}

std::string AuditWriter::close_failure() const { return impl_ ? impl_->close_failure() : std::string(); }

}  // namespace sovereign::crypto
