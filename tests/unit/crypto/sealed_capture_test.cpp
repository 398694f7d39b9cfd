// Sealed captures: only the auditor's secret key opens them, and any change, truncation or
// wrong key is reported with its offset.
#include <doctest/doctest.h>

#include "crypto/sealed_capture.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {
CaptureMetadata metadata() { return {"req-42", "request", 1'700'000'000'123}; }
}  // namespace

TEST_SUITE("capture") {
  TEST_CASE("bodies of every size open with the auditor's secret key") {
    SecretKey auditor = generate_key(KeyKind::auditor);
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65536}, std::size_t{200000}}) {
      CAPTURE(size);
      std::string body(size, '\0');
      for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + i % 26);
      auto sealed = seal_capture(public_key_of(auditor), metadata(), body);
      REQUIRE(sealed.ok());
      if (size > 16) CHECK(sealed->find(body.substr(0, 16)) == std::string::npos);
      auto opened = open_capture(auditor, sealed.value(), "c.sealed");
      REQUIRE(opened.ok());
      CHECK(opened->body == body);
      CHECK(opened->metadata.request_id == "req-42");
      CHECK(opened->metadata.part == "request");
      CHECK(opened->metadata.time_ms == 1'700'000'000'123);
    }
  }

  TEST_CASE("a capture does not open with another key and says which key it needs") {
    SecretKey auditor = generate_key(KeyKind::auditor);
    SecretKey other = generate_key(KeyKind::auditor);
    auto sealed = seal_capture(public_key_of(auditor), metadata(), "secret body");
    REQUIRE(sealed.ok());
    auto opened = open_capture(other, sealed.value(), "c.sealed");
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().message == "c.sealed: sealed to auditor key " + auditor.metadata.key_id +
                                        ", but this secret key is " + other.metadata.key_id);
  }

  TEST_CASE("every modified byte, truncation and appended byte is rejected") {
    SecretKey auditor = generate_key(KeyKind::auditor);
    auto sealed = seal_capture(public_key_of(auditor), metadata(), std::string(70000, 'x'));
    REQUIRE(sealed.ok());
    const std::string& bytes = sealed.value();
    for (std::size_t i = 0; i < bytes.size(); i += (i < 400 ? 1 : 997)) {
      std::string copy = bytes;
      copy[i] ^= 0x01;
      CAPTURE(i);
      CHECK_FALSE(open_capture(auditor, copy, "c").ok());
    }
    for (std::size_t cut : {std::size_t{3}, std::size_t{50}, bytes.size() / 2, bytes.size() - 1}) {
      CAPTURE(cut);
      CHECK_FALSE(open_capture(auditor, bytes.substr(0, cut), "c").ok());
    }
    auto truncated = open_capture(auditor, bytes.substr(0, bytes.size() - 70000 + 65536 - 100), "c");
    REQUIRE_FALSE(truncated.ok());
    auto extra = open_capture(auditor, bytes + "z", "c");
    REQUIRE_FALSE(extra.ok());
    CHECK(extra.error().message == "c: offset " + std::to_string(bytes.size()) + ": 1 bytes after the final chunk");
    auto garbage = open_capture(auditor, "hello", "c");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().message == "c: offset 0: not a sealed capture (magic is not SOVCAPT1)");
  }

  TEST_CASE("the capture store writes files only the auditor can open") {
    TempDir dir;
    SecretKey auditor = generate_key(KeyKind::auditor);
    REQUIRE(append_public_key(dir.path() / "auditor.pub", public_key_of(auditor)).ok());
    auto store = CaptureStore::open(dir.path() / "captures", dir.path() / "auditor.pub");
    REQUIRE(store.ok());
    CaptureMetadata meta{"../../etc/passwd", "response", 5};
    auto path = store->write(meta, "the response body");
    REQUIRE(path.ok());
    CHECK(path->parent_path() == dir.path() / "captures");
    CHECK(path->filename().string().find("______etc_passwd-response-") == 2);
    auto opened = open_capture(auditor, read_bytes(path.value()), path->string());
    REQUIRE(opened.ok());
    CHECK(opened->body == "the response body");
    CHECK(opened->metadata.request_id == "../../etc/passwd");

    auto missing = CaptureStore::open(dir.path() / "c2", dir.path() / "nope.pub");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("auditor public key: ") == 0);
  }

  TEST_CASE("a body that cannot be sealed fails before any file; a directory that cannot be written fails the store") {
    TempDir dir;
    SecretKey auditor = generate_key(KeyKind::auditor);
    REQUIRE(append_public_key(dir.path() / "auditor.pub", public_key_of(auditor)).ok());
    auto store = CaptureStore::open(dir.path() / "captures", dir.path() / "auditor.pub");
    REQUIRE(store.ok());
    auto too_large = store->seal(metadata(), std::string(max_capture_body_bytes + 1, 'x'));
    REQUIRE_FALSE(too_large.ok());
    CHECK(too_large.error().message == "capture body of " + std::to_string(max_capture_body_bytes + 1) +
                                           " bytes exceeds the " + std::to_string(max_capture_body_bytes) +
                                           "-byte limit");
    CHECK(std::filesystem::is_empty(dir.path() / "captures"));

    auto sealed = store->seal(metadata(), "kept for later");
    REQUIRE(sealed.ok());
    // A regular file where the directory was: what a removed or replaced directory looks like,
    // and it stops root as well as anyone else.
    std::filesystem::rename(dir.path() / "captures", dir.path() / "captures.moved");
    write_bytes(dir.path() / "captures", "not a directory");
    auto refused = store->store(metadata(), sealed.value());
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find((dir.path() / "captures").string() + "/1700000000123-req-42-request-") == 0);
    CHECK(refused.error().message.find(": cannot create a file next to it: Not a directory") != std::string::npos);

    std::filesystem::remove(dir.path() / "captures");
    std::filesystem::rename(dir.path() / "captures.moved", dir.path() / "captures");
    auto stored = store->store(metadata(), sealed.value());
    REQUIRE(stored.ok());
    auto opened = open_capture(auditor, read_bytes(stored.value()), stored->string());
    REQUIRE(opened.ok());
    CHECK(opened->body == "kept for later");
  }

  TEST_CASE("a probe writes and removes a file, and says why the directory cannot be written") {
    TempDir dir;
    SecretKey auditor = generate_key(KeyKind::auditor);
    REQUIRE(append_public_key(dir.path() / "auditor.pub", public_key_of(auditor)).ok());
    auto store = CaptureStore::open(dir.path() / "captures", dir.path() / "auditor.pub");
    REQUIRE(store.ok());
    for (bool sync : {true, false}) {
      CAPTURE(sync);
      CHECK(store->probe(sync).ok());
      CHECK(std::filesystem::is_empty(dir.path() / "captures"));  // nothing left behind, no temporary file
    }
    std::filesystem::remove(dir.path() / "captures");
    auto missing = store->probe();
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find((dir.path() / "captures").string() + "/.probe-") == 0);
    CHECK(missing.error().message.find(": cannot create a file next to it: No such file or directory") !=
          std::string::npos);
    std::filesystem::create_directory(dir.path() / "captures");
    CHECK(store->probe().ok());
  }
}
