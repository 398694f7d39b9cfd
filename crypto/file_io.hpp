#pragma once
// Small-file I/O with the checks key and audit files need: size caps, private permissions,
// atomic create-or-replace with fsync, UTC timestamps.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "crypto/result.hpp"

namespace sovereign::crypto {

// Owns a file descriptor: closed when it goes out of scope.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// write(2) until every byte is written, retrying interrupted calls; the error says why (not where).
[[nodiscard]] Status write_all(int fd, std::string_view data);

// Opens a file that must be a regular file (flags as for open(2), O_CLOEXEC added). The open itself
// does not wait: a FIFO or device under the name (put there by mistake or by someone who wants the
// reader to hang) is refused as "not a regular file" instead of blocking the reader forever.
[[nodiscard]] Result<FileDescriptor> open_regular_file(const std::filesystem::path& path, int flags,
                                                       unsigned create_mode = 0);
// Whole file, refusing files larger than max_bytes and anything but a regular file; errors name the file.
[[nodiscard]] Result<std::string> read_small_file(const std::filesystem::path& path,
                                                  std::size_t max_bytes);
// Fails if the file is group- or world-accessible, naming the mode and the chmod that fixes it.
[[nodiscard]] Status check_private_permissions(const std::filesystem::path& path);
// Writes data to a temporary file in the same directory with `mode`, fsyncs it, then moves it
// into place (replace=false: fails if path exists, atomically) and fsyncs the directory.
// sync=false leaves both in the page cache (a process crash loses nothing, a power loss may).
[[nodiscard]] Status write_file_atomically(const std::filesystem::path& path, std::string_view data,
                                           unsigned mode, bool replace, bool sync = true);
[[nodiscard]] Status fsync_directory(const std::filesystem::path& directory);

std::int64_t unix_time_ms();
// "2026-11-22T03:04:05.123Z"
std::string format_utc_ms(std::int64_t unix_ms);
// Whether `text` is a time as format_utc_ms writes it (2026-11-22T02:30:00.000Z), with a real date.
bool is_utc_ms_time(std::string_view text);
std::string errno_text(int error);

}  // namespace sovereign::crypto
