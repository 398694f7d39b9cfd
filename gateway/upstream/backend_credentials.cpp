#include "gateway/upstream/backend_credentials.hpp"

#include <algorithm>

#include "crypto/file_io.hpp"

namespace sovereign::gateway {

crypto::Result<std::string> read_backend_authorization(const std::filesystem::path& file) {
  // A key, not a document: anything longer is the wrong file.
  constexpr std::size_t max_key_bytes = 4096;
  if (crypto::Status permissions = crypto::check_private_permissions(file); !permissions) return permissions.error();
  crypto::Result<std::string> read = crypto::read_small_file(file, max_key_bytes + 2);
  if (!read) return read.error();
  std::string key = std::move(read.value());
  if (key.ends_with('\n')) key.pop_back();
  if (key.ends_with('\r')) key.pop_back();
  const std::string where = "API key file '" + file.string() + "'";
  if (key.empty()) return crypto::make_error(where + " is empty");
  if (key.size() > max_key_bytes)
    return crypto::make_error(where + " holds more than " + std::to_string(max_key_bytes) + " bytes: not a key");
  // It goes into a header as it is: a space, a control character or a second line would change
  // what the backend reads (or split the request), so the file is refused rather than mended.
  const auto bad = std::find_if(key.begin(), key.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; });
  if (bad != key.end())
    return crypto::make_error(where + ": byte " + std::to_string(bad - key.begin() + 1) +
                              " is a space, a line end, a control character or not ASCII; the file must hold "
                              "the key alone, on one line");
  return "Bearer " + key;
}

}  // namespace sovereign::gateway
