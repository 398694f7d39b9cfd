#include "crypto/audit_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/audit_segment.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/file_io.hpp"

namespace sovereign::crypto {

namespace {

using Clock = std::chrono::steady_clock;

// Above this many buffered bytes the writer issues a write(2) before the batch ends.
constexpr std::size_t write_chunk_bytes = 4 << 20;
// Room kept at the end of a segment for its closing checkpoint and end frame.
constexpr std::size_t close_reserve_bytes = 512;

struct Pending {
  std::string record;
  DurableCallback on_durable;
  std::uint64_t leaf_index = 0;
};

void deliver(DurableCallback& callback, AppendResult result) {
  if (callback) callback(result);
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

}  // namespace

class AuditWriter::Impl {
 public:
  Impl(const AuditOptions& options, CheckpointSigner signer)
      : options_(options), signer_(std::move(signer)) {}

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
    std::lock_guard lock(mutex_);
    out.queued = queue_.size();
    return out;
  }

 private:
  // Reads the last segment to rebuild the tree state; cuts a torn partial frame left by a crash.
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
    frontier_ = std::move(frontier.value());
    bool closed = false;
    while (std::optional<Frame> frame = parser.next()) {
      if (closed) return refuse("offset " + std::to_string(frame->offset) + ": frame after the end frame");
      switch (frame->tag) {
        case FrameTag::record:
          frontier_.append(merkle::hash_leaf(frame->payload));
          ++segment_records_;
          ++records_since_checkpoint_;
          break;
        case FrameTag::checkpoint: {
          Result<Checkpoint> checkpoint = decode_checkpoint(frame->payload);
          if (!checkpoint) return refuse("offset " + std::to_string(frame->offset) + ": " + checkpoint.error().message);
          last_checkpoint_time_ms_ = checkpoint->time_ms;
          records_since_checkpoint_ = 0;
          break;
        }
        case FrameTag::end: closed = true; break;
        case FrameTag::header:
          return refuse("offset " + std::to_string(frame->offset) + ": a second header");
      }
    }
    std::uint64_t good_size = parser.offset();
    if (parser.error()) {
      const std::string_view rest = std::string_view(bytes.value()).substr(good_size);
      // A crash can leave a partial frame, or zeros where the file grew but data never landed.
      if (!parser.stopped_on_truncation() && !all_zero(rest)) return refuse(*parser.error());
      recovery_.discarded_tail_bytes = bytes->size() - good_size;
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return make_error(path.string() + ": cannot open for appending: " + errno_text(errno));
    if (recovery_.discarded_tail_bytes > 0 &&
        (::ftruncate(fd_, static_cast<off_t>(good_size)) != 0 || ::fdatasync(fd_) != 0)) {
      return make_error(path.string() + ": cannot cut the torn tail: " + errno_text(errno));
    }
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
    if (Status written = write_file_atomically(path, bytes, 0640, false); !written) {
      return written.error();
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return make_error(path.string() + ": cannot open for appending: " + errno_text(errno));
    if (::lseek(fd, 0, SEEK_END) < 0) {
      ::close(fd);
      return make_error(path.string() + ": cannot seek: " + errno_text(errno));
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    segment_index_ = index;
    segment_size_ = bytes.size();
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
        wake_.wait_until(lock, deadline, [&] { return !queue_.empty() || closing_; });
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
      if (options_.segment_max_age_ms > 0 && segment_records_ > 0 && !is_permanently_failed() &&
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
    }
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
    if (sync && ::fdatasync(fd_) != 0) {
      // After a failed fsync the kernel may have dropped the dirty pages; nothing written since the
      // last good sync can be trusted, so the writer stops until the gateway restarts and recovers.
      const std::string why = segment_path().string() + ": fdatasync failed: " + errno_text(errno);
      {
        std::lock_guard lock(mutex_);
        permanent_failure_ = true;
      }
      roll_back(why);
      return false;
    }
    if (sync) syncs_.fetch_add(1, std::memory_order_relaxed);
    confirmed_frontier_ = frontier_;
    confirmed_size_ = segment_size_;
    set_health(true, {});
    records_written_.fetch_add(unconfirmed_.size(), std::memory_order_relaxed);
    for (Pending& item : unconfirmed_) deliver(item.on_durable, {true, item.leaf_index, {}});
    unconfirmed_.clear();
    return true;
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
    append_checkpoint_frame();
    return flush() && confirm(true);
  }

  // Closes the current segment (checkpoint + end frame, synced) and starts the next one.
  bool rotate() {
    if (!flush() || !confirm(options_.durability == Durability::strict)) return false;
    if (!close_segment()) return false;
    if (Status opened = open_new_segment(segment_index_ + 1); !opened) {
      {
        std::lock_guard lock(mutex_);
        permanent_failure_ = true;
      }
      set_health(false, opened.error().message);
      return false;
    }
    return true;
  }

  bool close_segment() {
    if (!write_checkpoint()) return false;
    SegmentEnd end{segment_index_, segment_records_, frontier_.size()};
    append_frame(buffer_, FrameTag::end, encode_end(end));
    return flush() && confirm(true);
  }

  void finish_segment() {
    if (fd_ < 0 || is_permanently_failed()) return;
    close_segment();
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

  mutable std::mutex mutex_;  // guards the queue and the health fields below
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;
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
  std::uint64_t segment_records_ = 0;
  std::uint64_t records_since_checkpoint_ = 0;
  std::int64_t last_checkpoint_time_ms_ = 0;
  bool checkpoint_due_now_ = false;
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
  auto impl = std::make_unique<Impl>(options, std::move(signer.value()));
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

}  // namespace sovereign::crypto
