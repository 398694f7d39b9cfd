#include "crypto/vault_journal.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "crypto/secret_bytes.hpp"

namespace sovereign::crypto {

namespace {

constexpr std::string_view lock_name = ".vault.lock";
constexpr std::string_view header = "SOVEREIGN-VAULT-MAPPINGS v1\n";
constexpr std::string_view magic = "SVM1";
constexpr std::size_t checksum_size = 16;
constexpr std::size_t frame_overhead = 4 + 4 + checksum_size;
constexpr std::int64_t sync_interval_ms = 1000;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

void put_field(std::string& out, std::string_view field) {
  put_u32(out, static_cast<std::uint32_t>(field.size()));
  out.append(field);
}

std::array<unsigned char, checksum_size> checksum(std::string_view framed) {
  std::array<unsigned char, checksum_size> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(framed.data()), framed.size(),
                     nullptr, 0);
  return out;
}

std::string frame(const JournalRecord& r) {
  std::string payload;
  put_field(payload, r.key_id);
  put_field(payload, r.tenant);
  put_field(payload, r.scope);
  put_field(payload, r.token);
  put_field(payload, std::string_view(reinterpret_cast<const char*>(r.nonce.data()), r.nonce.size()));
  put_field(payload, r.ciphertext);
  const auto expires = static_cast<std::uint64_t>(r.expires_ms);
  put_u32(payload, static_cast<std::uint32_t>(expires & 0xffffffffu));
  put_u32(payload, static_cast<std::uint32_t>(expires >> 32));
  std::string out(magic);
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  out += payload;
  const auto sum = checksum(std::string_view(out).substr(magic.size()));
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

// Reads the payload's fields; false when they do not add up to exactly the payload.
bool parse_payload(std::string_view payload, JournalRecord& r) {
  std::size_t at = 0;
  auto field = [&](std::string& out) {
    if (payload.size() - at < 4) return false;
    const std::uint32_t length = get_u32(payload.data() + at);
    at += 4;
    if (payload.size() - at < length) return false;
    out.assign(payload.substr(at, length));
    at += length;
    return true;
  };
  std::string nonce;
  if (!field(r.key_id) || !field(r.tenant) || !field(r.scope) || !field(r.token) || !field(nonce) ||
      !field(r.ciphertext) || nonce.size() != vault_nonce_size || payload.size() - at != 8)
    return false;
  std::memcpy(r.nonce.data(), nonce.data(), nonce.size());
  const std::uint64_t low = get_u32(payload.data() + at);
  const std::uint64_t high = get_u32(payload.data() + at + 4);
  r.expires_ms = static_cast<std::int64_t>(low | (high << 32));
  return true;
}

// Reads a file front to back in chunks; view() holds at least what fill() asked for, unless the
// file ends first.
class ChunkReader {
 public:
  explicit ChunkReader(int fd) : fd_(fd) {}
  Status fill(std::size_t need) {
    if (pos_ > chunk_size) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    while (!eof_ && buffer_.size() - pos_ < need) {
      const std::size_t had = buffer_.size();
      buffer_.resize(had + chunk_size);
      const ssize_t n = ::pread(fd_, buffer_.data() + had, chunk_size, static_cast<off_t>(read_));
      if (n < 0 && errno == EINTR) {
        buffer_.resize(had);
        continue;
      }
      if (n < 0) return make_error("read failed: " + errno_text(errno));
      buffer_.resize(had + static_cast<std::size_t>(n));
      read_ += static_cast<std::uint64_t>(n);
      eof_ = n == 0;
    }
    return {};
  }
  std::string_view view() const { return std::string_view(buffer_).substr(pos_); }
  std::size_t available() const { return buffer_.size() - pos_; }
  void consume(std::size_t n) { pos_ += n; }
  std::uint64_t offset() const { return read_ - available(); }  // file offset of view()

 private:
  static constexpr std::size_t chunk_size = 1 << 20;
  int fd_;
  std::string buffer_;
  std::size_t pos_ = 0;
  std::uint64_t read_ = 0;
  bool eof_ = false;
};

Error damaged(const std::filesystem::path& path, std::size_t offset, const std::string& what) {
  return make_error(path.string() + ": byte " + std::to_string(offset) + ": " + what +
                    "; the file is not what this gateway wrote. Move it away to start with an empty vault "
                    "(tokens issued before are then no longer restored).");
}

// Where the zero bytes that end the file begin (its size where it ends otherwise), and its size. A
// power loss can leave a file whose new size reached the disk before the data written into it did:
// its end reads as zeros, from where that data began or from a boundary of the disk blocks it
// filled (a multiple of 512 bytes, the smallest block a file system uses).
constexpr std::uint64_t smallest_disk_block = 512;
struct ZeroTail {
  std::uint64_t from = 0;
  std::uint64_t size = 0;
};
Result<ZeroTail> zero_tail(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(path.string() + ": cannot stat: " + errno_text(errno));
  ZeroTail tail{static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_size)};
  std::array<char, 64 * 1024> block{};
  while (tail.from > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), tail.from));
    const ssize_t n = ::pread(fd, block.data(), want, static_cast<off_t>(tail.from - want));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(want)) return make_error(path.string() + ": read failed: " + errno_text(errno));
    for (std::size_t i = want; i > 0; --i) {
      if (block[i - 1] != 0) return ZeroTail{tail.from - want + i, tail.size};
    }
    tail.from -= want;
  }
  return tail;
}

// What a mappings file holds: where its whole records end (`good`) and where the file ends.
struct ParsedFile {
  enum class Start { empty, header_cut, records } start = Start::empty;
  std::uint64_t good = 0;
  std::uint64_t end = 0;
};

// Reads the file in chunks (it holds every mapping; the whole of it need not be in memory at once),
// handing each whole record to on_record. A record cut short at the end stops the reading (good <
// end); anything else wrong is an error naming the byte.
Result<ParsedFile> parse_file(int fd, const std::filesystem::path& path,
                              const std::function<void(JournalRecord&)>& on_record) {
  ChunkReader in(fd);
  if (Status read = in.fill(header.size()); !read) return make_error(path.string() + ": " + read.error().message);
  ParsedFile parsed;
  if (in.available() == 0) return parsed;
  if (!in.view().starts_with(header)) {
    if (!header.starts_with(in.view()))
      return damaged(path, 0, "not a token vault mappings file (its first line is not \"" +
                                  std::string(header.substr(0, header.size() - 1)) + "\")");
    parsed.start = ParsedFile::Start::header_cut;
    parsed.end = in.available();
    return parsed;
  }
  parsed.start = ParsedFile::Start::records;
  in.consume(header.size());
  // A record whose bytes are zeros to the end of the file from its start, or from a disk block's
  // boundary inside it, is the file's torn end, cut short like a record the process stopped writing:
  // nothing whole can follow it. Anything else wrong with a record is damage, reported with its byte
  // (a damaged last record that merely ends in a zero byte among them).
  auto torn_end = [&](std::uint64_t at, std::uint64_t record_end) -> Result<bool> {
    Result<ZeroTail> tail = zero_tail(fd, path);
    if (!tail) return tail.error();
    if (tail->from >= tail->size) return false;
    const std::uint64_t block_start =
        (tail->from + smallest_disk_block - 1) / smallest_disk_block * smallest_disk_block;
    const std::uint64_t zeros_from = tail->from <= at ? at : block_start;
    if (zeros_from >= record_end) return false;
    parsed.good = at;
    parsed.end = tail->size;
    return true;
  };
  auto damaged_unless_torn = [&](std::uint64_t at, std::uint64_t record_end, const std::string& what) -> Result<ParsedFile> {
    Result<bool> torn = torn_end(at, record_end);
    if (!torn) return torn.error();
    if (torn.value()) return parsed;
    return damaged(path, at, what);
  };
  for (;;) {
    if (Status read = in.fill(8); !read) return make_error(path.string() + ": " + read.error().message);
    const std::string_view head = in.view().substr(0, 8);
    if (head.empty()) break;
    const std::uint64_t at = in.offset();
    if (head.size() < 8 && head.substr(0, std::min<std::size_t>(head.size(), 4)) ==
                               magic.substr(0, std::min<std::size_t>(head.size(), 4)))
      break;  // a record cut short in its first bytes
    if (head.substr(0, 4) != magic) return damaged_unless_torn(at, at + 8, "expected a mapping record");
    const std::uint32_t length = get_u32(head.data() + 4);
    if (length > VaultJournal::max_payload_bytes)
      return damaged_unless_torn(at, at + 8, "a mapping record of " + std::to_string(length) + " bytes (at most " +
                                                 std::to_string(VaultJournal::max_payload_bytes) + ")");
    if (Status read = in.fill(frame_overhead + length); !read)
      return make_error(path.string() + ": " + read.error().message);
    if (in.available() < frame_overhead + length) break;  // the process stopped while writing it
    const std::string_view framed = in.view().substr(4, 4 + length);
    const auto expected = checksum(framed);
    if (std::memcmp(expected.data(), in.view().data() + 8 + length, checksum_size) != 0)
      return damaged_unless_torn(at, at + frame_overhead + length, "mapping record damaged (checksum mismatch)");
    JournalRecord record;
    if (!parse_payload(framed.substr(4), record)) return damaged(path, at, "mapping record malformed");
    on_record(record);
    in.consume(frame_overhead + length);
  }
  parsed.good = in.offset();
  parsed.end = parsed.good + in.available();
  return parsed;
}

}  // namespace

VaultJournal::VaultJournal(std::filesystem::path path, FileDescriptor fd, FileDescriptor lock, std::uint64_t size)
    : path_(std::move(path)), fd_(std::move(fd)), lock_(std::move(lock)), size_(size), last_sync_ms_(unix_time_ms()) {}

VaultJournal::~VaultJournal() { (void)sync(); }

Result<std::unique_ptr<VaultJournal>> VaultJournal::open(const std::filesystem::path& directory,
                                                         const std::function<void(JournalRecord&)>& on_record,
                                                         std::vector<std::string>& notes) {
  ensure_sodium();
  std::error_code ec;
  if (std::filesystem::create_directories(directory, ec))
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all, ec);
  if (ec) return make_error(directory.string() + ": cannot create the vault directory: " + ec.message());
  const std::filesystem::path lock_path = directory / lock_name;
  FileDescriptor lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return make_error(lock_path.string() + ": cannot open: " + errno_text(errno));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
    return make_error(directory.string() + ": another gateway process uses this vault directory (each needs its own)");

  const std::filesystem::path path = directory / VaultJournal::file_name;
  const bool existed = std::filesystem::exists(path, ec);
  Result<FileDescriptor> opened = open_regular_file(path, O_RDWR | O_CREAT | O_APPEND, 0600);
  if (!opened) return opened.error();
  FileDescriptor fd = std::move(opened.value());
  // The file names tenants and conversations: it must be as private as the keys.
  if (existed)
    if (Status mode = check_private_permissions(path); !mode) return mode.error();
  Result<ParsedFile> parsed = parse_file(fd.get(), path, on_record);
  if (!parsed) return parsed.error();
  if (parsed->start != ParsedFile::Start::records) {
    // Empty, or cut short while it was being created (nothing was in it yet): (re)write the header.
    if (::ftruncate(fd.get(), 0) != 0 || !write_all(fd.get(), header))
      return make_error(path.string() + ": cannot write its header: " + errno_text(errno));
    if (parsed->start == ParsedFile::Start::header_cut)
      notes.push_back(path.string() + ": the header was incomplete (the process stopped while creating the file); "
                      "started it again");
    return std::unique_ptr<VaultJournal>(new VaultJournal(path, std::move(fd), std::move(lock), header.size()));
  }
  if (parsed->good < parsed->end) {
    if (::ftruncate(fd.get(), static_cast<off_t>(parsed->good)) != 0)
      return make_error(path.string() + ": cannot cut away an incomplete record: " + errno_text(errno));
    notes.push_back(path.string() + ": dropped an incomplete mapping record at byte " + std::to_string(parsed->good) +
                    " (" + std::to_string(parsed->end - parsed->good) +
                    " bytes; the gateway or the machine stopped while writing it)");
  }
  return std::unique_ptr<VaultJournal>(new VaultJournal(path, std::move(fd), std::move(lock), parsed->good));
}

Result<VaultJournal::CheckReport> VaultJournal::check(const std::filesystem::path& file,
                                                      const std::function<void(JournalRecord&)>& on_record) {
  ensure_sodium();
  Result<FileDescriptor> opened = open_regular_file(file, O_RDONLY);
  if (!opened) return opened.error();
  FileDescriptor fd = std::move(opened.value());
  // What open() refuses, check reports: the gateway would not start with a file others can read.
  if (Status mode = check_private_permissions(file); !mode) return mode.error();
  std::uint64_t records = 0;
  Result<ParsedFile> parsed = parse_file(fd.get(), file, [&](JournalRecord& record) {
    ++records;
    on_record(record);
  });
  if (!parsed) return parsed.error();
  // An empty file, or one whose header was cut short, holds no mapping: the gateway rewrites the header.
  if (parsed->start != ParsedFile::Start::records) return CheckReport{0, 0, parsed->end};
  return CheckReport{records, parsed->good, parsed->end};
}

Status VaultJournal::append(const JournalRecord& record) {
  const std::string bytes = frame(record);
  if (bytes.size() > frame_overhead + max_payload_bytes)
    return make_error(path_.string() + ": a mapping record of " + std::to_string(bytes.size()) + " bytes is too large");
  std::lock_guard lock(mutex_);
  if (Status written = write_all(fd_.get(), bytes); !written) {
    // A partial record would stop the next open: cut the file back to its last whole record.
    if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
      // The damage stays, and the next open reports it with its offset.
    }
    return make_error(path_.string() + ": " + written.error().message);
  }
  size_ += bytes.size();
  dirty_ = true;
  return {};
}

bool VaultJournal::sync_due() const {
  std::lock_guard lock(mutex_);
  return dirty_ && unix_time_ms() - last_sync_ms_ >= sync_interval_ms;
}

Status VaultJournal::sync() {
  FileDescriptor copy;
  {
    std::lock_guard lock(mutex_);
    if (!dirty_ || !fd_.valid()) return {};
    copy = FileDescriptor(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy.valid()) return make_error(path_.string() + ": cannot sync: " + errno_text(errno));
    dirty_ = false;
    last_sync_ms_ = unix_time_ms();
  }
  if (::fdatasync(copy.get()) != 0) return make_error(path_.string() + ": cannot sync: " + errno_text(errno));
  return {};
}

Result<std::filesystem::path> VaultJournal::keep_as(const std::string& suffix) const {
  std::lock_guard lock(mutex_);
  for (int n = 1; n <= 100; ++n) {
    std::filesystem::path kept = path_;
    kept += "." + suffix + (n > 1 ? "." + std::to_string(n) : "");
    if (::link(path_.c_str(), kept.c_str()) == 0) return kept;
    if (errno == EEXIST) continue;
    std::error_code ec;
    if (!std::filesystem::copy_file(path_, kept, ec)) {
      if (ec == std::errc::file_exists) continue;
      return make_error(kept.string() + ": cannot keep the mappings file as it was: " + ec.message());
    }
    std::filesystem::permissions(kept, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
    if (ec) return make_error(kept.string() + ": cannot make the kept mappings file private: " + ec.message());
    return kept;
  }
  return make_error(path_.string() + ": cannot keep the mappings file as it was: 100 earlier copies are in the way");
}

Status VaultJournal::compact(const std::vector<JournalRecord>& live) {
  std::string bytes(header);
  for (const auto& record : live) bytes += frame(record);
  std::lock_guard lock(mutex_);
  if (Status written = write_file_atomically(path_, bytes, 0600, true); !written) return written;
  // The old descriptor names the replaced file: appending to it would lose every record. Without
  // the new one, appends fail (and tokenizing is refused) rather than go nowhere.
  fd_ = FileDescriptor(::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  if (!fd_.valid()) return make_error(path_.string() + ": cannot open after compaction: " + errno_text(errno));
  size_ = bytes.size();
  dirty_ = false;
  return {};
}

}  // namespace sovereign::crypto
