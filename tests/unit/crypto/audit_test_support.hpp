#pragma once
// Helpers for the audit log tests: records as the gateway writes them, a writer's options, trusted
// keys, writing a log, printing a verify report, and written logs to tamper with.

#include <doctest/doctest.h>

#include <future>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/audit_verifier.hpp"
#include "crypto/audit_writer.hpp"
#include "test_support.hpp"

namespace sovereign::crypto::testing {

inline std::string record(int i) {
  return R"({"kind":"decision","time":"2026-11-22T03:04:05.123Z","request_id":"req-)" +
         std::to_string(i) + R"(","tenant":"acme","decision":"allow"})";
}

inline AuditOptions options_for(const std::filesystem::path& dir) {
  AuditOptions options;
  options.directory = dir;
  options.durability = Durability::strict;
  options.checkpoint_every_records = 10;
  options.checkpoint_every_ms = 60000;
  return options;
}

inline TrustedKeys trust(const SecretKey& key) {
  TrustedKeys keys;
  keys.add(public_key_of(key));
  return keys;
}

// Appends records [first, first+count) and waits until each is durable.
inline void write_records(AuditWriter& writer, int first, int count) {
  std::vector<std::promise<AppendResult>> done(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    writer.append(record(first + i), [&done, i](const AppendResult& r) { done[static_cast<std::size_t>(i)].set_value(r); });
  }
  for (auto& promise : done) REQUIRE(promise.get_future().get().ok);
}

inline void write_log(const AuditOptions& options, const SecretKey& key, int count, int first = 0) {
  auto writer = AuditWriter::open(options, key);
  INFO((writer.ok() ? std::string() : writer.error().message));
  REQUIRE(writer.ok());
  write_records(*writer.value(), first, count);
  writer.value()->close();
}

inline bool has_failure(const VerifyReport& report, const std::string& segment, std::string_view text) {
  for (const auto& f : report.failures) {
    if (f.segment == segment && f.message.find(text) != std::string::npos) return true;
  }
  return false;
}

inline std::string dump(const VerifyReport& report) {
  std::string out = report.summary() + "\n";
  for (const auto& f : report.failures) out += f.segment + " @" + std::to_string(f.offset) + ": " + f.message + "\n";
  for (const auto& n : report.notes) out += "note: " + n + "\n";
  return out;
}

// A closed log of 2,000 records in 64 KiB segments: six segments.
struct SegmentedLog {
  TempDir dir;
  SecretKey key = generate_key(KeyKind::audit_signing);
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;
  SegmentedLog() {
    AuditOptions options = options_for(dir.path());
    options.segment_max_bytes = 65536;
    write_log(options, key, 2000);
    auto listed = list_segments(dir.path());
    REQUIRE(listed.ok());
    REQUIRE(listed->size() >= 5);
    segments = std::move(listed.value());
  }
};

inline const std::string seg1 = "segment-000001.log";

// A closed log of `records` records in one segment (a checkpoint every 10), and that segment's
// bytes as written: what the crash, damage and tamper tests change and write back to `path`.
struct OneSegmentLog {
  TempDir dir;
  SecretKey key = generate_key(KeyKind::audit_signing);
  std::filesystem::path path;
  std::string bytes;
  explicit OneSegmentLog(int records) {
    write_log(options_for(dir.path()), key, records);
    path = dir.path() / seg1;
    bytes = read_bytes(path);
  }
  // Verifies the log as it is now on disk; it must have been closed.
  VerifyReport verify() const { return verify_log(dir.path(), trust(key), {.require_closed = true}); }
};

}  // namespace sovereign::crypto::testing
