#include "crypto/sealed_capture.hpp"

#include <sodium.h>

#include <boost/json.hpp>

#include "crypto/file_io.hpp"
#include "crypto/hex.hpp"

namespace sovereign::crypto {

namespace {

constexpr std::string_view capture_magic = "SOVCAPT1";
constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr std::size_t sealed_key_size = crypto_secretstream_xchacha20poly1305_KEYBYTES + crypto_box_SEALBYTES;
constexpr std::size_t stream_header_size = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr std::size_t max_metadata_bytes = 4096;

void put_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

const unsigned char* u8(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

// The parsed fixed part of a capture file.
struct CaptureLayout {
  std::string key_id;
  std::string metadata_json;
  CaptureMetadata metadata;
  std::size_t sealed_key_at = 0;
};

Result<CaptureLayout> parse_layout(std::string_view sealed, std::string_view source) {
  const std::string name(source);
  if (sealed.size() < capture_magic.size() || sealed.substr(0, capture_magic.size()) != capture_magic) {
    return make_error(name + ": offset 0: not a sealed capture (magic is not " + std::string(capture_magic) + ")");
  }
  std::size_t at = capture_magic.size();
  if (sealed.size() < at + 8 + 4) return make_error(name + ": offset " + std::to_string(at) + ": truncated capture header");
  CaptureLayout layout;
  layout.key_id = to_hex(std::span<const unsigned char>(u8(sealed) + at, 8));
  at += 8;
  const std::uint32_t metadata_length = get_u32(sealed, at);
  at += 4;
  if (metadata_length > max_metadata_bytes || sealed.size() - at < metadata_length) {
    return make_error(name + ": offset " + std::to_string(at - 4) + ": metadata length " +
                      std::to_string(metadata_length) + " is invalid or truncated");
  }
  layout.metadata_json = std::string(sealed.substr(at, metadata_length));
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(layout.metadata_json, ec);
  const boost::json::object* object = ec ? nullptr : parsed.if_object();
  const boost::json::value* request_id = object ? object->if_contains("request_id") : nullptr;
  const boost::json::value* part = object ? object->if_contains("part") : nullptr;
  const boost::json::value* time = object ? object->if_contains("time_ms") : nullptr;
  if (!request_id || !request_id->is_string() || !part || !part->is_string() || !time || !time->is_int64()) {
    return make_error(name + ": offset " + std::to_string(at) +
                      ": metadata is not {\"request_id\":string,\"part\":string,\"time_ms\":integer}");
  }
  layout.metadata.request_id = std::string(request_id->as_string());
  layout.metadata.part = std::string(part->as_string());
  layout.metadata.time_ms = time->as_int64();
  layout.sealed_key_at = at + metadata_length;
  return layout;
}

}  // namespace

Result<std::string> seal_capture(const PublicKey& auditor_key, const CaptureMetadata& metadata, std::string_view body) {
  ensure_sodium();
  if (auditor_key.kind != KeyKind::auditor) return make_error("captures are sealed to an auditor key");
  if (body.size() > max_capture_body_bytes) {
    return make_error("capture body of " + std::to_string(body.size()) + " bytes exceeds the " +
                      std::to_string(max_capture_body_bytes) + "-byte limit");
  }
  const std::string metadata_json = boost::json::serialize(boost::json::object{
      {"request_id", metadata.request_id}, {"part", metadata.part}, {"time_ms", metadata.time_ms}});
  if (metadata_json.size() > max_metadata_bytes) return make_error("capture metadata too large");

  std::string out(capture_magic);
  std::array<std::uint8_t, 8> key_id{};
  if (!from_hex_into(auditor_key.key_id, key_id)) return make_error("auditor key id is not 16 hex digits");
  out.append(reinterpret_cast<const char*>(key_id.data()), key_id.size());
  put_u32(out, static_cast<std::uint32_t>(metadata_json.size()));
  out.append(metadata_json);

  SecretBytes stream_key(crypto_secretstream_xchacha20poly1305_KEYBYTES);
  crypto_secretstream_xchacha20poly1305_keygen(stream_key.data());
  std::array<unsigned char, sealed_key_size> sealed_key{};
  if (crypto_box_seal(sealed_key.data(), stream_key.data(), stream_key.size(), auditor_key.key.data()) != 0) {
    return make_error("sealing the capture key failed (invalid auditor public key)");
  }
  out.append(reinterpret_cast<const char*>(sealed_key.data()), sealed_key.size());

  crypto_secretstream_xchacha20poly1305_state state;
  std::array<unsigned char, stream_header_size> header{};
  crypto_secretstream_xchacha20poly1305_init_push(&state, header.data(), stream_key.data());
  out.append(reinterpret_cast<const char*>(header.data()), header.size());

  std::size_t at = 0;
  std::string cipher;
  do {
    const std::size_t n = std::min(chunk_bytes, body.size() - at);
    const bool last = at + n == body.size();
    cipher.resize(n + crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long cipher_length = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state, reinterpret_cast<unsigned char*>(cipher.data()), &cipher_length, u8(body) + at, n,
        u8(metadata_json), metadata_json.size(),
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    put_u32(out, static_cast<std::uint32_t>(cipher_length));
    out.append(cipher.data(), cipher_length);
    at += n;
  } while (at < body.size());
  sodium_memzero(&state, sizeof state);
  return out;
}

Result<CaptureMetadata> read_capture_metadata(std::string_view sealed, std::string_view source) {
  Result<CaptureLayout> layout = parse_layout(sealed, source);
  if (!layout) return layout.error();
  return layout->metadata;
}

Result<OpenedCapture> open_capture(const SecretKey& auditor_key, std::string_view sealed, std::string_view source) {
  ensure_sodium();
  const std::string name(source);
  if (auditor_key.metadata.kind != KeyKind::auditor) {
    return make_error(name + ": captures are opened with the auditor's secret key, not a " +
                      std::string(key_kind_name(auditor_key.metadata.kind)) + " key");
  }
  Result<CaptureLayout> layout = parse_layout(sealed, source);
  if (!layout) return layout.error();
  if (layout->key_id != auditor_key.metadata.key_id) {
    return make_error(name + ": sealed to auditor key " + layout->key_id + ", but this secret key is " +
                      auditor_key.metadata.key_id);
  }
  std::size_t at = layout->sealed_key_at;
  if (sealed.size() - at < sealed_key_size + stream_header_size) {
    return make_error(name + ": offset " + std::to_string(at) + ": truncated before the sealed key");
  }
  SecretBytes stream_key(crypto_secretstream_xchacha20poly1305_KEYBYTES);
  if (crypto_box_seal_open(stream_key.data(), u8(sealed) + at, sealed_key_size, auditor_key.public_key.data(),
                           auditor_key.secret.data()) != 0) {
    return make_error(name + ": offset " + std::to_string(at) + ": the sealed key does not open with this secret key");
  }
  at += sealed_key_size;
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, u8(sealed) + at, stream_key.data()) != 0) {
    return make_error(name + ": offset " + std::to_string(at) + ": invalid stream header");
  }
  at += stream_header_size;
  OpenedCapture opened{layout->metadata, layout->key_id, {}};
  bool final_seen = false;
  std::string plain;
  while (!final_seen) {
    if (sealed.size() - at < 4) {
      return make_error(name + ": offset " + std::to_string(at) + ": capture truncated (no final chunk)");
    }
    const std::uint32_t length = get_u32(sealed, at);
    if (length < crypto_secretstream_xchacha20poly1305_ABYTES ||
        length > chunk_bytes + crypto_secretstream_xchacha20poly1305_ABYTES || sealed.size() - at - 4 < length) {
      return make_error(name + ": offset " + std::to_string(at) + ": chunk length " + std::to_string(length) +
                        " is invalid or the capture is truncated");
    }
    plain.resize(length - crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long plain_length = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state, reinterpret_cast<unsigned char*>(plain.data()),
                                                   &plain_length, &tag, u8(sealed) + at + 4, length,
                                                   u8(layout->metadata_json), layout->metadata_json.size()) != 0) {
      return make_error(name + ": offset " + std::to_string(at) +
                        ": chunk fails authentication (modified, reordered, or metadata altered)");
    }
    if (opened.body.size() + plain_length > max_capture_body_bytes) {
      return make_error(name + ": body exceeds the " + std::to_string(max_capture_body_bytes) + "-byte limit");
    }
    opened.body.append(plain.data(), plain_length);
    final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    at += 4 + length;
  }
  if (at != sealed.size()) {
    return make_error(name + ": offset " + std::to_string(at) + ": " + std::to_string(sealed.size() - at) +
                      " bytes after the final chunk");
  }
  return opened;
}

Result<PublicKey> read_auditor_public_key(const std::filesystem::path& keyring) {
  Result<std::vector<PublicKey>> keys = read_public_keys(keyring, KeyKind::auditor);
  if (!keys) return make_error("auditor public key: " + keys.error().message);
  const PublicKey* auditor = nullptr;
  for (const PublicKey& key : keys.value()) {
    if (key.kind == KeyKind::auditor) auditor = &key;  // the newest (last) auditor key wins
  }
  if (auditor == nullptr) return make_error(keyring.string() + ": holds no auditor public key");
  return *auditor;
}

Result<CaptureStore> CaptureStore::open(const std::filesystem::path& directory,
                                        const std::filesystem::path& auditor_public_key) {
  Result<PublicKey> auditor = read_auditor_public_key(auditor_public_key);
  if (!auditor) return auditor.error();
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return make_error(directory.string() + ": cannot create the capture directory: " + ec.message());
  CaptureStore store;
  store.directory_ = directory;
  store.key_ = auditor.value();
  return store;
}

Result<std::filesystem::path> CaptureStore::write(const CaptureMetadata& metadata, std::string_view body,
                                                  bool sync) const {
  Result<std::string> sealed = seal(metadata, body);
  if (!sealed) return sealed.error();
  return store(metadata, sealed.value(), sync);
}

Result<std::string> CaptureStore::seal(const CaptureMetadata& metadata, std::string_view body) const {
  return seal_capture(key_, metadata, body);
}

Result<std::filesystem::path> CaptureStore::store(const CaptureMetadata& metadata, std::string_view sealed,
                                                  bool sync) const {
  // Request ids come from clients: keep only safe characters for the file name.
  std::string safe_id;
  for (char c : metadata.request_id.substr(0, 64)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    safe_id.push_back(ok ? c : '_');
  }
  std::array<std::uint8_t, 4> random{};
  randombytes_buf(random.data(), random.size());
  const std::string part = metadata.part == "request" || metadata.part == "response" ? metadata.part : "body";
  const std::filesystem::path path =
      directory_ / (std::to_string(metadata.time_ms) + "-" + safe_id + "-" + part + "-" + to_hex(random) + ".sealed");
  if (Status written = write_file_atomically(path, sealed, 0640, false, sync); !written) return written.error();
  return path;
}

Status CaptureStore::probe(bool sync) const {
  // A hidden name, as the temporary files of captures have: nothing that reads captures takes it
  // for one, and a probe file left by a crash between writing and removing it is plainly not one.
  std::array<std::uint8_t, 4> random{};
  randombytes_buf(random.data(), random.size());
  const std::filesystem::path path = directory_ / (".probe-" + to_hex(random));
  if (Status written = write_file_atomically(path, "sovereign capture probe\n", 0640, false, sync); !written)
    return written;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) return make_error(path.string() + ": cannot remove the probe file: " + ec.message());
  return {};
}

}  // namespace sovereign::crypto
