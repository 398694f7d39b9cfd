#pragma once
// Small-file I/O with the checks key and audit files need: size caps, private permissions,
// atomic create-or-replace with fsync, UTC timestamps.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "crypto/result.hpp"

namespace sovereign::crypto {

// Whole file, refusing files larger than max_bytes; errors name the file.
[[nodiscard]] Result<std::string> read_small_file(const std::filesystem::path& path,
                                                  std::size_t max_bytes);
// Fails if the file is group- or world-accessible, naming the mode and the chmod that fixes it.
[[nodiscard]] Status check_private_permissions(const std::filesystem::path& path);
// Writes data to a temporary file in the same directory with `mode`, fsyncs it, then moves it
// into place (replace=false: fails if path exists, atomically) and fsyncs the directory.
[[nodiscard]] Status write_file_atomically(const std::filesystem::path& path, std::string_view data,
                                           unsigned mode, bool replace);
[[nodiscard]] Status fsync_directory(const std::filesystem::path& directory);

std::int64_t unix_time_ms();
// "2026-11-22T03:04:05.123Z"
std::string format_utc_ms(std::int64_t unix_ms);
std::string errno_text(int error);

}  // namespace sovereign::crypto
