#include "crypto/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

namespace sovereign::crypto {

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Status write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("write failed: " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::string errno_text(int error) { return std::strerror(error); }

Result<FileDescriptor> open_regular_file(const std::filesystem::path& path, int flags, unsigned create_mode) {
  // O_NONBLOCK only for the open: opening a FIFO for reading otherwise waits for a writer that may
  // never come. It changes nothing for a regular file, and is cleared again below all the same.
  FileDescriptor fd(::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC, create_mode));
  if (!fd.valid()) return make_error(path.string() + ": cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(path.string() + ": cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return make_error(path.string() + ": not a regular file");
  const int status_flags = ::fcntl(fd.get(), F_GETFL);
  if (status_flags < 0 || ::fcntl(fd.get(), F_SETFL, status_flags & ~O_NONBLOCK) != 0) {
    return make_error(path.string() + ": cannot set its flags: " + errno_text(errno));
  }
  return Result<FileDescriptor>(std::move(fd));
}

Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
  Result<FileDescriptor> opened = open_regular_file(path, O_RDONLY);
  if (!opened) return opened.error();
  FileDescriptor fd = std::move(opened.value());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(path.string() + ": cannot stat: " + errno_text(errno));
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return make_error(path.string() + ": " + std::to_string(st.st_size) +
                      " bytes, larger than the " + std::to_string(max_bytes) +
                      " bytes such a file can be");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(path.string() + ": read failed: " + errno_text(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

Status check_private_permissions(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(path.string() + ": cannot stat: " + errno_text(errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(path.string() + ": permissions " + mode +
                      " let group or others read a secret; run: chmod 600 " + path.string());
  }
  return {};
}

Status fsync_directory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.empty() ? "." : directory.c_str(),
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return make_error(directory.string() + ": cannot sync directory: " + errno_text(errno));
  }
  return {};
}

Status write_file_atomically(const std::filesystem::path& path, std::string_view data,
                             unsigned mode, bool replace, bool sync) {
  const std::filesystem::path directory = path.parent_path();
  std::string temp_name = directory.string();
  if (!temp_name.empty()) temp_name += '/';
  temp_name.append(".").append(path.filename().string()).append(".XXXXXX");
  FileDescriptor fd(::mkstemp(temp_name.data()));
  if (fd.get() < 0) {
    return make_error(path.string() + ": cannot create a file next to it: " + errno_text(errno));
  }
  const std::filesystem::path temp(temp_name);
  auto fail = [&](Error error) {
    ::unlink(temp.c_str());
    return error;
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return fail(make_error(path.string() + ": cannot set mode: " + errno_text(errno)));
  }
  if (Status written = write_all(fd.get(), data); !written)
    return fail(make_error(path.string() + ": " + written.error().message));
  if (sync && ::fsync(fd.get()) != 0) {
    return fail(make_error(path.string() + ": fsync failed: " + errno_text(errno)));
  }
  if (replace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return fail(make_error(path.string() + ": cannot replace: " + errno_text(errno)));
    }
  } else {
    // link() fails with EEXIST atomically, so two initialisations cannot overwrite each other.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int error = errno;
      return fail(make_error(path.string() + (error == EEXIST ? ": already exists; refusing to overwrite it"
                                                              : ": cannot create: " + errno_text(error))));
    }
    ::unlink(temp.c_str());
  }
  return sync ? fsync_directory(directory) : Status{};
}

std::int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_utc_ms(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buffer;
}

bool is_utc_ms_time(std::string_view text) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return false;
  }
  const auto number = [&](std::size_t at, std::size_t digits) {
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  static constexpr int days_in_month[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > days_in_month[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  return number(11, 2) < 24 && number(14, 2) < 60 && number(17, 2) < 60;
}

}  // namespace sovereign::crypto
