#include "gateway/runtime/policy_file_watch.hpp"

#include <sys/stat.h>

#include "crypto/digest.hpp"
#include "policy/policy.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::gateway {
namespace {

// Any write changes the modification and change times or the size; a save by rename changes the
// inode. The change time is kept too because tools that copy a file's times (cp -p, rsync -t) set
// the modification time back, but cannot set the change time.
std::string identity(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return {};
  return std::to_string(info.st_dev) + ':' + std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' +
         std::to_string(info.st_mtim.tv_sec) + '.' + std::to_string(info.st_mtim.tv_nsec) + ':' +
         std::to_string(info.st_ctim.tv_sec) + '.' + std::to_string(info.st_ctim.tv_nsec);
}

}  // namespace

void PolicyFileWatch::restart(std::string version) {
  in_force_ = std::move(version);
  offered_.clear();
  settled_.reset();
  pending_.reset();
}

std::optional<PolicyFileWatch::Change> PolicyFileWatch::poll(const std::filesystem::path& file) {
  const std::string before = identity(file);
  if (settled_ && settled_->identity == before) return std::nullopt;
  std::string error;
  auto text = policy::read_text_file(file, policy::max_yaml_file_bytes, error);
  // A file written while it was read may have been read half old, half new: that read is not used.
  if (identity(file) != before) {
    pending_.reset();
    return std::nullopt;
  }
  Observation now{before, text ? crypto::to_hex(crypto::sha256(*text)) : std::string()};
  if (pending_ != now) {
    pending_ = now;  // changed since the last poll: perhaps still being written
    return std::nullopt;
  }
  pending_.reset();
  settled_ = now;
  // Touched, saved back as it is in force (also after an edit that was refused), or the refused
  // bytes again.
  if (now.digest == in_force_ || now.digest == offered_) return std::nullopt;
  offered_ = now.digest;
  return Change{std::move(text)};
}

bool PolicyFileWatch::refused() const {
  return settled_ && settled_->digest != in_force_ && settled_->digest == offered_;
}

}  // namespace sovereign::gateway
