#pragma once
// Helpers for crypto tests: a temporary directory, whole-file byte edits, and frame locations.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/audit_segment.hpp"

namespace sovereign::crypto::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sovereign-crypto-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A secret file (a passphrase file), mode 0600 as the commands that read it require.
inline void write_private(const std::filesystem::path& path, const std::string& bytes) {
  write_bytes(path, bytes);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

struct FrameSpan {
  FrameTag tag;
  std::size_t offset;
  std::size_t size;  // header + payload
};

inline std::vector<FrameSpan> frames_of(const std::string& bytes) {
  std::vector<FrameSpan> out;
  FrameParser parser(bytes);
  while (auto frame = parser.next()) {
    out.push_back({frame->tag, static_cast<std::size_t>(frame->offset),
                   frame_header_size + frame->payload.size()});
  }
  return out;
}

inline std::vector<FrameSpan> frames_tagged(const std::string& bytes, FrameTag tag) {
  std::vector<FrameSpan> out;
  for (const FrameSpan& f : frames_of(bytes)) {
    if (f.tag == tag) out.push_back(f);
  }
  return out;
}

}  // namespace sovereign::crypto::testing
