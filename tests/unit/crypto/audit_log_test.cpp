// The audit log end to end: writer, recovery, verification, and every tampering a verifier must
// catch, each reported with its segment and offset.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <thread>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/audit_writer.hpp"
#include "audit_test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

enum class Ending { closed, any };

// Verifies the log under `dir` against `key` and checks that it is valid with `records` valid
// records (and, for Ending::closed, that it ends with its shutdown checkpoint); returns the report
// for the checks a test adds.
VerifyReport expect_valid_log(const std::filesystem::path& dir, const SecretKey& key, std::uint64_t records,
                              Ending ending = Ending::closed) {
  VerifyReport report = verify_log(dir, trust(key), {.require_closed = ending == Ending::closed});
  INFO(dump(report));
  CHECK(report.ok());
  CHECK(report.records_valid == records);
  return report;
}

}  // namespace

TEST_SUITE("audit-log") {
  TEST_CASE("a closed log verifies: every record, checkpoint and segment valid") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    write_log(options_for(dir.path()), key, 35);
    VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_total == 35);
    CHECK(report.records_valid == 35);
    CHECK(report.checkpoints_valid == report.checkpoints_total);
    CHECK(report.checkpoints_total >= 4);
    CHECK(report.summary() == "1/1 segments valid, 35/35 records valid, " +
                                  std::to_string(report.checkpoints_total) + "/" +
                                  std::to_string(report.checkpoints_total) + " checkpoints valid");
  }

  TEST_CASE("leaf indices are assigned in order and concurrent appenders all become durable") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.checkpoint_every_records = 100;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::promise<bool>> done(250);
        for (int i = 0; i < 250; ++i) {
          writer.value()->append(record(t * 1000 + i), [&done, i](const AppendResult& r) {
            done[static_cast<std::size_t>(i)].set_value(r.ok);
          });
        }
        for (auto& d : done) ok += d.get_future().get() ? 1 : 0;
      });
    }
    for (auto& t : threads) t.join();
    writer.value()->close();
    CHECK(ok == 2000);
    expect_valid_log(dir.path(), key, 2000, Ending::any);
  }

  TEST_CASE("relaxed durability confirms every record, syncs only at checkpoints, and verifies") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.durability = Durability::relaxed;  // checkpoints every 10 records; none by time (60 s)
    auto opened = AuditWriter::open(options, key);
    REQUIRE(opened.ok());
    AuditWriter& writer = *opened.value();

    // 25 records one at a time: 25 write batches, each confirmed before the next is appended.
    std::vector<std::uint64_t> leaves;
    for (int i = 0; i < 25; ++i) {
      std::promise<AppendResult> done;
      writer.append(record(i), [&done](const AppendResult& r) { done.set_value(r); });
      AppendResult result = done.get_future().get();
      REQUIRE_MESSAGE(result.ok, result.error);
      leaves.push_back(result.leaf_index);
    }
    AuditWriterStats stats = writer.stats();
    CHECK(stats.write_batches == 25);
    CHECK(stats.records_written == 25);
    CHECK(stats.checkpoints_written == 2);  // after records 10 and 20
    CHECK(stats.syncs == 2);                // strict mode would have synced all 25 batches
    CHECK(stats.syncs < stats.write_batches);

    // 30 more appended at once: confirmed in order, with consecutive leaf indices.
    std::vector<std::promise<AppendResult>> burst(30);
    for (int i = 0; i < 30; ++i) {
      writer.append(record(25 + i), [&burst, i](const AppendResult& r) { burst[static_cast<std::size_t>(i)].set_value(r); });
    }
    for (auto& promise : burst) {
      AppendResult result = promise.get_future().get();
      REQUIRE_MESSAGE(result.ok, result.error);
      leaves.push_back(result.leaf_index);
    }
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      CAPTURE(i);
      CHECK(leaves[i] == i);
    }
    stats = writer.stats();
    CHECK(stats.records_written == 55);
    CHECK(stats.records_failed == 0);
    CHECK(stats.checkpoints_written == 5);  // after records 10, 20, 30, 40, 50
    CHECK(stats.syncs >= 1);                // a batch holding a checkpoint is synced once
    CHECK(stats.syncs <= stats.checkpoints_written);
    CHECK(stats.syncs < stats.write_batches);
    writer.close();
    CHECK(writer.stats().syncs == stats.syncs + 2);  // the closing checkpoint, then the end frame

    // A checkpoint lands after every 10th record, and the closing one covers the rest.
    const std::string bytes = read_bytes(dir.path() / seg1);
    std::vector<std::uint64_t> covered;
    std::uint64_t records_seen = 0;
    for (const FrameSpan& frame : frames_of(bytes)) {
      if (frame.tag == FrameTag::record) ++records_seen;
      if (frame.tag == FrameTag::checkpoint) covered.push_back(records_seen);
    }
    CHECK(covered == std::vector<std::uint64_t>{10, 20, 30, 40, 50, 55});

    VerifyReport report = expect_valid_log(dir.path(), key, 55);
    CHECK(report.checkpoints_total == 6);
    CHECK(report.checkpoints_valid == 6);
  }

  TEST_CASE("segments rotate by size and the log continues across restarts") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.segment_max_bytes = 65536;
    write_log(options, key, 1500);
    write_log(options, key, 100, 1500);
    auto segments = list_segments(dir.path());
    REQUIRE(segments.ok());
    CHECK(segments->size() >= 3);
    VerifyReport report = expect_valid_log(dir.path(), key, 1600);
    CHECK(report.segments_valid == segments->size());
  }

  TEST_CASE("segments also rotate by age") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.segment_max_age_ms = 30;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    write_records(*writer.value(), 0, 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    write_records(*writer.value(), 3, 3);
    writer.value()->close();
    auto segments = list_segments(dir.path());
    REQUIRE(segments.ok());
    CHECK(segments->size() >= 2);
    expect_valid_log(dir.path(), key, 6);
  }

  TEST_CASE("append returns leaf indices that continue after reopening") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    write_log(options_for(dir.path()), key, 7);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == 7);
    std::promise<AppendResult> done;
    writer.value()->append(record(7), [&](const AppendResult& r) { done.set_value(r); });
    AppendResult result = done.get_future().get();
    CHECK(result.ok);
    CHECK(result.leaf_index == 7);
  }

  TEST_CASE("quiet periods produce time-driven checkpoints") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.checkpoint_every_ms = 20;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    write_records(*writer.value(), 0, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    writer.value()->close();
    VerifyReport report = verify_log(dir.path(), trust(key));
    CHECK(report.ok());
    CHECK(report.checkpoints_total >= 4);
  }

  TEST_CASE("refused records are reported at once and never written") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    AppendResult empty, huge;
    writer.value()->append("", [&](const AppendResult& r) { empty = r; });
    writer.value()->append(std::string(max_record_bytes + 1, 'x'), [&](const AppendResult& r) { huge = r; });
    CHECK_FALSE(empty.ok);
    CHECK_FALSE(huge.ok);
    CHECK(huge.error.find("refused") != std::string::npos);
    writer.value()->close();
    AppendResult late;
    writer.value()->append(record(1), [&](const AppendResult& r) { late = r; });
    CHECK_FALSE(late.ok);
    CHECK(late.error == "audit log is closed");
  }

  TEST_CASE("a second writer on the same directory is refused") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    auto first = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(first.ok());
    auto second = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("another process is writing this audit log") != std::string::npos);
  }

  TEST_CASE("open fails clearly for an unusable directory or key") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    write_bytes(dir.path() / "file", "x");
    AuditOptions options = options_for(dir.path() / "file" / "audit");
    auto writer = AuditWriter::open(options, key);
    REQUIRE_FALSE(writer.ok());
    CHECK(writer.error().message.find("cannot create the audit directory") != std::string::npos);

    AuditOptions missing_key = options_for(dir.path() / "audit");
    missing_key.signing_key = dir.path() / "nope.key";
    auto no_key = AuditWriter::open(missing_key);
    REQUIRE_FALSE(no_key.ok());
    INFO(no_key.error().message);
    CHECK(no_key.error().message.find("audit signing key: " + (dir.path() / "nope.key").string() +
                                      ": cannot stat: No such file or directory") != std::string::npos);

    SecretKey vault = generate_key(KeyKind::vault);
    auto wrong_kind = AuditWriter::open(options_for(dir.path() / "audit2"), vault);
    REQUIRE_FALSE(wrong_kind.ok());
    INFO(wrong_kind.error().message);
    CHECK(wrong_kind.error().message.find("checkpoints need an audit-signing key, got a vault key") != std::string::npos);
  }

  TEST_CASE("a write failure marks the writer unhealthy, fails the records, and it recovers") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.checkpoint_every_ms = 20;
    std::mutex changes_mutex;
    std::vector<std::pair<bool, std::string>> changes;  // what on_health_change was told, in order
    options.on_health_change = [&](bool healthy, const std::string& detail) {
      std::lock_guard lock(changes_mutex);
      changes.emplace_back(healthy, detail);
    };
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    write_records(*writer.value(), 0, 5);
    // Simulate a full disk: a file size limit makes write(2) fail with EFBIG.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    rlimit small = old;
    small.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &small);
    std::promise<AppendResult> failed;
    writer.value()->append(std::string(8000, 'x'), [&](const AppendResult& r) { failed.set_value(r); });
    AppendResult result = failed.get_future().get();
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("write failed") != std::string::npos);
    // The writer went down (on_health_change, checked at the end); its health is not read here: the
    // next time-driven checkpoint, 20 ms on, may already have brought it up on a busy machine.
    // That checkpoint succeeds, so the writer is healthy again.
    for (int i = 0; i < 100 && !writer.value()->healthy(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(writer.value()->healthy());
    write_records(*writer.value(), 5, 3);
    writer.value()->close();
    expect_valid_log(dir.path(), key, 8);
    // Each change of health was reported once: down with the reason, then up again.
    std::lock_guard lock(changes_mutex);
    REQUIRE(changes.size() == 2);
    CHECK_FALSE(changes[0].first);
    CHECK(changes[0].second.find("segment-000001.log") != std::string::npos);
    CHECK(changes[1].first);
  }

  TEST_CASE("after a crash the writer cuts the torn frame and signs the recovered records") {
    OneSegmentLog log(25);
    auto& [dir, key, path, bytes] = log;
    // Cut the closing checkpoint and end frame plus half of the last record: what kill -9 leaves.
    auto records = frames_tagged(bytes, FrameTag::record);
    const auto& last = records.back();
    bytes.resize(last.offset + last.size / 2);
    write_bytes(path, bytes);

    VerifyReport crashed = expect_valid_log(dir.path(), key, 20, Ending::any);
    CHECK(crashed.unsigned_records == 4);
    CHECK(crashed.notes.size() == 2);
    VerifyReport strict = verify_log(dir.path(), trust(key), {.require_closed = true});
    CHECK_FALSE(strict.ok());

    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == 24);
    CHECK(writer.value()->recovery().discarded_tail_bytes == last.size / 2);
    write_records(*writer.value(), 100, 3);
    writer.value()->close();
    expect_valid_log(dir.path(), key, 27);
  }
  // The checkpoint that signs what recovery adopted is written as soon as the writer starts, not at
  // the first timed checkpoint (a minute here): until it is, those records carry no signature.
  TEST_CASE("after a crash the writer signs the recovered records at once, before any timed checkpoint") {
    OneSegmentLog log(25);
    auto& [dir, key, path, bytes] = log;
    // Records after the last checkpoint and no closing frames: what kill -9 between checkpoints leaves.
    bytes.resize(frames_tagged(bytes, FrameTag::checkpoint).back().offset);
    write_bytes(path, bytes);
    REQUIRE(verify_log(dir.path(), trust(key), {}).unsigned_records == 5);

    AuditOptions options = options_for(dir.path());
    REQUIRE(options.checkpoint_every_ms >= 60000);
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer.value()->stats().checkpoints_written == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(writer.value()->stats().checkpoints_written == 1);
    // Checked while the writer still runs: the recovered records are signed already.
    VerifyReport running = expect_valid_log(dir.path(), key, 25, Ending::any);
    CHECK(running.unsigned_records == 0);
    writer.value()->close();
    expect_valid_log(dir.path(), key, 25);
  }
  // A rotation whose next segment cannot be created (disk full, quota; here a directory holds the
  // name) fails like any write, and the writer recovers once the segment can be created.
  TEST_CASE("a rotation that cannot create the next segment is a failure it recovers from") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.checkpoint_every_ms = 20;
    const auto blocker = dir.path() / "segment-000002.log";

    SUBCASE("by size") {
      options.segment_max_bytes = 65536;
      auto writer = AuditWriter::open(options, key);
      REQUIRE(writer.ok());
      std::filesystem::create_directory(blocker);
      int written = 0;
      AppendResult failed;
      for (int i = 0; i < 2000 && failed.error.empty(); ++i) {
        std::promise<AppendResult> done;
        writer.value()->append(record(i), [&](const AppendResult& r) { done.set_value(r); });
        AppendResult result = done.get_future().get();
        if (result.ok) ++written;
        else failed = result;
      }
      INFO(failed.error);
      REQUIRE_FALSE(failed.error.empty());
      CHECK(failed.error.find("cannot start the next segment after closing segment-000001.log") != std::string::npos);
      CHECK(failed.error.find("segment-000002.log") != std::string::npos);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // timed retries fail while it is blocked
      CHECK_FALSE(writer.value()->healthy());
      std::filesystem::remove(blocker);
      for (int i = 0; i < 200 && !writer.value()->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      CHECK(writer.value()->healthy());
      write_records(*writer.value(), 5000, 20);
      writer.value()->close();
      VerifyReport report = expect_valid_log(dir.path(), key, static_cast<std::uint64_t>(written) + 20);
      CHECK(report.segments_total == 2);
    }
    SUBCASE("by age, while no record arrives") {
      options.segment_max_age_ms = 30;
      auto writer = AuditWriter::open(options, key);
      REQUIRE(writer.ok());
      std::filesystem::create_directory(blocker);
      write_records(*writer.value(), 0, 3);
      for (int i = 0; i < 200 && writer.value()->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      CHECK_FALSE(writer.value()->healthy());
      CHECK(writer.value()->health_detail().find("segment-000002.log") != std::string::npos);
      std::filesystem::remove(blocker);
      for (int i = 0; i < 200 && !writer.value()->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      CHECK(writer.value()->healthy());
      write_records(*writer.value(), 3, 3);
      writer.value()->close();
      expect_valid_log(dir.path(), key, 6);
    }
    SUBCASE("stopped while the next segment is missing: the next start creates it") {
      options.segment_max_age_ms = 30;
      auto writer = AuditWriter::open(options, key);
      REQUIRE(writer.ok());
      std::filesystem::create_directory(blocker);
      write_records(*writer.value(), 0, 3);
      for (int i = 0; i < 200 && writer.value()->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      writer.value().reset();  // closed, and the lock released
      std::filesystem::remove(blocker);
      expect_valid_log(dir.path(), key, 3);
      write_log(options, key, 2, 3);
      expect_valid_log(dir.path(), key, 5);
    }
  }

  // Everything from the first unsigned record recovery cannot adopt is moved aside, reported, and
  // never signed; signed records are checked against their checkpoints.
  TEST_CASE("recovery adopts only records it can check, and quarantines the rest") {
    OneSegmentLog log(25);
    auto& [dir, key, path, bytes] = log;
    auto records = frames_tagged(bytes, FrameTag::record);
    auto checkpoints = frames_tagged(bytes, FrameTag::checkpoint);
    REQUIRE(records.size() == 25);
    // Without the closing checkpoint and end frame: records 20..24 are unsigned, as after kill -9.
    const std::string open_segment = bytes.substr(0, checkpoints.back().offset);

    SUBCASE("a record whose payload never landed (zeros behind its frame header)") {
      std::string damaged = open_segment;
      std::fill(damaged.begin() + static_cast<std::ptrdiff_t>(records[22].offset + frame_header_size),
                damaged.begin() + static_cast<std::ptrdiff_t>(records[22].offset + records[22].size), '\0');
      write_bytes(path, damaged);
      auto writer = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE(writer.ok());
      const AuditRecovery& recovery = writer.value()->recovery();
      CHECK(recovery.tree_size == 22);
      CHECK(recovery.quarantined_records == 3);
      CHECK(recovery.quarantined_bytes == damaged.size() - records[22].offset);
      CHECK(recovery.quarantine_file == dir.path() / ("segment-000001.log.quarantine-" + std::to_string(records[22].offset)));
      CHECK(read_bytes(recovery.quarantine_file) == damaged.substr(records[22].offset));
      write_records(*writer.value(), 100, 3);
      writer.value()->close();
      expect_valid_log(dir.path(), key, 25);
      CHECK(read_bytes(path).find(std::string(records[22].size - frame_header_size, '\0')) == std::string::npos);
    }
    SUBCASE("a zero-length record frame") {
      write_bytes(path, open_segment + std::string("R\0\0\0\0", 5));
      auto writer = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE(writer.ok());
      CHECK(writer.value()->recovery().tree_size == 25);
      CHECK(writer.value()->recovery().quarantined_records == 1);
      CHECK(writer.value()->recovery().quarantined_bytes == 5);
      writer.value()->close();
      expect_valid_log(dir.path(), key, 25);
    }
    SUBCASE("a record that is not a JSON object") {
      std::string damaged = open_segment;
      damaged[records[24].offset + frame_header_size] = 'x';
      write_bytes(path, damaged);
      auto writer = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE(writer.ok());
      CHECK(writer.value()->recovery().tree_size == 24);
      CHECK(writer.value()->recovery().quarantined_records == 1);
    }
    SUBCASE("a signed record altered: the checkpoint covering it no longer matches, and the writer refuses") {
      std::string damaged = bytes.substr(0, frames_tagged(bytes, FrameTag::end).back().offset);
      std::fill(damaged.begin() + static_cast<std::ptrdiff_t>(records[24].offset + frame_header_size),
                damaged.begin() + static_cast<std::ptrdiff_t>(records[24].offset + records[24].size), '\0');
      write_bytes(path, damaged);
      auto writer = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE_FALSE(writer.ok());
      INFO(writer.error().message);
      CHECK(writer.error().message.find("offset " + std::to_string(checkpoints.back().offset) +
                                        ": the checkpoint (tree size 25) does not match the 25 records before it") !=
            std::string::npos);
      CHECK(writer.error().message.find("sovereign audit verify") != std::string::npos);
    }
    SUBCASE("records the writer signed are adopted whatever they hold") {
      TempDir other;
      auto writer = AuditWriter::open(options_for(other.path()), key);
      REQUIRE(writer.ok());
      std::promise<AppendResult> done;
      writer.value()->append("not a JSON object", [&](const AppendResult& r) { done.set_value(r); });
      REQUIRE(done.get_future().get().ok);
      write_records(*writer.value(), 1, 9);  // the tenth record brings a checkpoint
      writer.value().reset();
      const auto other_path = other.path() / seg1;
      std::string closed = read_bytes(other_path);
      write_bytes(other_path, closed.substr(0, frames_tagged(closed, FrameTag::end).back().offset));
      auto reopened = AuditWriter::open(options_for(other.path()), key);
      INFO((reopened.ok() ? std::string() : reopened.error().message));
      REQUIRE(reopened.ok());
      CHECK(reopened.value()->recovery().tree_size == 10);
      CHECK(reopened.value()->recovery().quarantined_records == 0);
    }
  }
}

TEST_SUITE("audit-tamper") {
  TEST_CASE("a flipped byte in a record is reported at the checkpoint covering it") {
    OneSegmentLog f(30);
    auto records = frames_tagged(f.bytes, FrameTag::record);
    auto checkpoints = frames_tagged(f.bytes, FrameTag::checkpoint);
    f.bytes[records[12].offset + 20] ^= 0x01;
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK_FALSE(report.ok());
    REQUIRE_FALSE(report.failures.empty());
    CHECK(report.failures[0].segment == seg1);
    CHECK(report.failures[0].offset == checkpoints[1].offset);  // covers records 10..19
    CHECK(report.failures[0].message.find("root mismatch") != std::string::npos);
    CHECK(report.failures[0].message.find("from offset " + std::to_string(records[10].offset)) != std::string::npos);
    CHECK(report.records_valid == 10);
  }

  TEST_CASE("a flipped bit anywhere in a segment is never accepted") {
    OneSegmentLog f(30);
    // Every 7th byte (a full sweep is slow and adds nothing: framing repeats).
    for (std::size_t i = 0; i < f.bytes.size(); i += 7) {
      std::string copy = f.bytes;
      copy[i] ^= 0x10;
      write_bytes(f.path, copy);
      VerifyReport report = f.verify();
      CAPTURE(i);
      CHECK_FALSE(report.ok());
    }
  }

  TEST_CASE("a deleted record is detected") {
    OneSegmentLog f(30);
    auto records = frames_tagged(f.bytes, FrameTag::record);
    f.bytes.erase(records[3].offset, records[3].size);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "9 records precede it; records were deleted or inserted before it"));
  }

  TEST_CASE("two swapped records are detected") {
    OneSegmentLog f(30);
    auto records = frames_tagged(f.bytes, FrameTag::record);
    const std::string a = f.bytes.substr(records[4].offset, records[4].size);
    const std::string b = f.bytes.substr(records[5].offset, records[5].size);
    f.bytes.replace(records[4].offset, a.size() + b.size(), b + a);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "root mismatch"));
  }

  TEST_CASE("an inserted record is detected") {
    OneSegmentLog f(30);
    auto records = frames_tagged(f.bytes, FrameTag::record);
    std::string forged;
    append_frame(forged, FrameTag::record, record(999));
    f.bytes.insert(records[15].offset, forged);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "21 records precede it"));
  }

  TEST_CASE("a truncated segment is detected and names the offset") {
    OneSegmentLog f(30);
    const std::size_t cut = f.bytes.size() - 30;
    f.bytes.resize(cut);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "truncated"));
  }

  // One fault, one failure line: the next segment's header, which measures the records lost, adds
  // their number to that line instead of a second failure, and blames no intact segment.
  TEST_CASE("a truncated earlier segment and a dropped segment are each reported once, where they are") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const std::uint64_t total_records = 2000;
    const std::string seg2 = segments[1].second.filename().string();

    SUBCASE("truncated at a frame boundary") {
      const auto path = segments[0].second;
      std::string bytes = read_bytes(path);
      auto records = frames_tagged(bytes, FrameTag::record);
      bytes.resize(records[50].offset);
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == seg1);
      CHECK(report.failures[0].offset == records[50].offset);
      CHECK(report.failures[0].message ==
            "segment ends without its end frame: truncated at offset " + std::to_string(records[50].offset) + "; " +
                seg2 + " continues from tree size " + with_thousands(records.size()) + ", so " +
                with_thousands(records.size() - 50) + " record(s) after tree size 50 are not in the log");
      CHECK(report.segments_total == segments.size());
      CHECK(report.segments_valid == segments.size() - 1);
      CHECK(report.records_total == total_records - (records.size() - 50));
    }
    SUBCASE("truncated inside a frame in a middle segment") {
      const auto path = segments[1].second;
      std::string bytes = read_bytes(path);
      auto records = frames_tagged(bytes, FrameTag::record);
      const std::size_t cut = records[20].offset + 7;
      bytes.resize(cut);
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == seg2);
      CHECK(report.failures[0].offset == records[20].offset);
      CHECK(report.failures[0].message.find("(segment truncated); segment-000003.log continues from tree size") !=
            std::string::npos);
      CHECK(report.failures[0].message.find(with_thousands(records.size() - 20) + " record(s) after tree size") !=
            std::string::npos);
      CHECK(report.segments_valid == segments.size() - 1);
    }
    SUBCASE("a middle segment deleted") {
      const std::size_t deleted = frames_tagged(read_bytes(segments[1].second), FrameTag::record).size();
      std::filesystem::remove(segments[1].second);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == "segment-000003.log");
      CHECK(report.failures[0].offset == 0);
      CHECK(report.failures[0].message.starts_with(
          "segment segment-000002.log missing: the log jumps from segment 1 to 3; segment-000003.log continues "
          "from tree size "));
      CHECK(report.failures[0].message.ends_with(", so " + with_thousands(deleted) + " record(s) after tree size " +
                                                 with_thousands(frames_tagged(read_bytes(segments[0].second),
                                                                              FrameTag::record).size()) +
                                                 " are not in the log"));
      // Segment 2 counts as a segment of the log, not a valid one; segment 3 is intact and valid.
      CHECK(report.segments_total == segments.size());
      CHECK(report.segments_valid == segments.size() - 1);
      CHECK(report.records_total == total_records - deleted);
      CHECK(report.records_valid == total_records - deleted);
    }
    SUBCASE("two middle segments deleted") {
      std::filesystem::remove(segments[1].second);
      std::filesystem::remove(segments[2].second);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].message.starts_with("segment segment-000002.log to segment-000003.log missing"));
      CHECK(report.segments_total == segments.size());
      CHECK(report.segments_valid == segments.size() - 2);
    }
  }

  // A segment cut at a checkpoint and given a forged end frame (end frames are not signed) is
  // named, with the records lost, rather than the intact segment after it.
  TEST_CASE("an earlier segment cut short behind a forged end frame is named, with the records lost") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const auto path = segments[0].second;
    std::string bytes = read_bytes(path);
    const auto records = frames_tagged(bytes, FrameTag::record);
    const auto checkpoints = frames_tagged(bytes, FrameTag::checkpoint);
    bytes.resize(checkpoints[3].offset + checkpoints[3].size);  // 40 records, signed
    append_frame(bytes, FrameTag::end, encode_end({1, 40, 40}));
    write_bytes(path, bytes);
    VerifyReport report = verify_log(dir.path(), trust(key));
    INFO(dump(report));
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].segment == seg1);
    CHECK(report.failures[0].offset == checkpoints[3].offset + checkpoints[3].size);
    CHECK(report.failures[0].message ==
          "segment ends at tree size 40 (its end frame agrees), but segment-000002.log continues from tree size " +
              with_thousands(records.size()) + ", so " + with_thousands(records.size() - 40) +
              " record(s) after tree size 40 are not in the log: this segment was cut short and its end frame "
              "rewritten to match what is left");
    CHECK(report.segments_valid == segments.size() - 1);
  }

  TEST_CASE("a segment that cannot be checked counts its records among those not valid") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const auto path = segments[1].second;
    std::string bytes = read_bytes(path);
    const std::uint64_t in_segment = frames_tagged(bytes, FrameTag::record).size();
    bytes[segment_magic.size() + frame_header_size + 3] ^= 1;  // the header's log id
    write_bytes(path, bytes);
    VerifyReport report = verify_log(dir.path(), trust(key));
    INFO(dump(report));
    CHECK(report.records_total == 2000);
    CHECK(report.records_valid == 2000 - in_segment);
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].segment == "segment-000002.log");
    CHECK(report.failures[0].message.find("belongs to another audit log") != std::string::npos);
    CHECK(report.failures[0].message.find("segment-000003.log continues from tree size") != std::string::npos);
    CHECK(report.segments_valid == segments.size() - 1);
  }

  TEST_CASE("a second file for a segment number, spelled with other digits, is refused by name") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    std::filesystem::copy_file(segments[1].second, dir.path() / "segment-0000002.log");
    VerifyReport report = verify_log(dir.path(), trust(key));
    INFO(dump(report));
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].segment == "segment-0000002.log");
    CHECK(report.failures[0].message.starts_with("segment-0000002.log is not a segment name the writer writes"));
    CHECK(report.segments_total == segments.size() + 1);
    CHECK(report.segments_valid == segments.size());
    CHECK(report.records_valid == 2000);
    auto listed = list_segments(dir.path());
    REQUIRE_FALSE(listed.ok());
    CHECK(listed.error().message.find("segment-0000002.log is not a segment name") != std::string::npos);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE_FALSE(writer.ok());
    CHECK(writer.error().message.find("segment-0000002.log") != std::string::npos);
    CHECK(parse_segment_file_name("segment-000002.log") == 2u);
    CHECK(parse_segment_file_name("segment-1234567.log") == 1234567u);
    CHECK_FALSE(parse_segment_file_name("segment-00002.log"));
    CHECK_FALSE(parse_segment_file_name("segment-0000002.log"));
    CHECK_FALSE(parse_segment_file_name("segment-000000.log"));
  }

  TEST_CASE("a zero-length record frame is refused, in a closed segment and at the end of an open one") {
    OneSegmentLog f(30);
    auto checkpoints = frames_tagged(f.bytes, FrameTag::checkpoint);
    const std::size_t at = checkpoints.back().offset;
    std::string inserted = f.bytes.substr(0, at) + std::string("R\0\0\0\0", 5) + f.bytes.substr(at);
    write_bytes(f.path, inserted);
    VerifyReport report = verify_log(f.dir.path(), trust(f.key));
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "a record frame of 0 bytes"));
    write_bytes(f.path, f.bytes.substr(0, at) + std::string("R\0\0\0\0", 5));
    VerifyReport open = verify_log(f.dir.path(), trust(f.key));
    INFO(dump(open));
    CHECK_FALSE(open.ok());
    CHECK(has_failure(open, seg1, "a record frame of 0 bytes"));
  }

  TEST_CASE("a log whose oldest segments were pruned verifies with pruned_start, and only then") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    // A checkpoint an auditor kept from the first segment, and the newest one.
    const std::string first_bytes = read_bytes(segments[0].second);
    const FrameSpan early_frame = frames_tagged(first_bytes, FrameTag::checkpoint).at(2);
    Result<Checkpoint> early = decode_checkpoint(std::string_view(first_bytes).substr(
        early_frame.offset + frame_header_size, early_frame.size - frame_header_size));
    REQUIRE(early.ok());
    Result<Checkpoint> newest = latest_checkpoint(dir.path());
    REQUIRE(newest.ok());
    // Retention deletes the two oldest segments.
    std::uint64_t pruned_records = 0;
    for (int i = 0; i < 2; ++i) {
      pruned_records += frames_tagged(read_bytes(segments[i].second), FrameTag::record).size();
      std::filesystem::remove(segments[i].second);
    }
    const std::string first_kept = segments[2].second.filename().string();

    SUBCASE("without pruned_start the missing start is a failure") {
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
      INFO(dump(report));
      CHECK_FALSE(report.ok());
      CHECK(has_failure(report, first_kept, "segment segment-000001.log to segment-000002.log missing: the log starts at "
                                            "segment 3 (if the oldest segments were deleted under a retention policy, "
                                            "verify with --pruned)"));
    }
    SUBCASE("with pruned_start the rest verifies, and a note says what is not there") {
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true, .pruned_start = true});
      INFO(dump(report));
      CHECK(report.ok());
      CHECK(report.records_valid == 2000 - pruned_records);
      REQUIRE(!report.notes.empty());
      CHECK(report.notes[0].find("segment-000001.log to segment-000002.log were pruned: the log's first " +
                                 with_thousands(pruned_records) + " records are not here") != std::string::npos);
    }
    SUBCASE("with pruned_start a record altered after the pruning point is still found") {
      const auto path = segments[2].second;
      std::string bytes = read_bytes(path);
      bytes[frames_tagged(bytes, FrameTag::record).at(5).offset + 20] ^= 0x01;
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true, .pruned_start = true});
      INFO(dump(report));
      CHECK(has_failure(report, first_kept, "root mismatch"));
    }
    SUBCASE("with pruned_start a segment missing after the first one kept is still a failure") {
      std::filesystem::remove(segments[3].second);
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true, .pruned_start = true});
      INFO(dump(report));
      CHECK(has_failure(report, segments[4].second.filename().string(), "missing"));
    }
    SUBCASE("records after the pruning point still get proofs that check offline; pruned ones are named") {
      for (std::uint64_t leaf : {pruned_records, pruned_records + 1, std::uint64_t{1999}}) {
        CAPTURE(leaf);
        Result<InclusionProof> proof = prove_inclusion(dir.path(), leaf);
        REQUIRE_MESSAGE(proof.ok(), (proof.ok() ? "" : proof.error().message));
        CHECK(check_proof_document(inclusion_proof_to_json(proof.value()), trust(key)).ok());
      }
      Result<InclusionProof> gone = prove_inclusion(dir.path(), 3);
      REQUIRE_FALSE(gone.ok());
      CHECK(gone.error().message == "record 3 was pruned: the log now starts at record " + std::to_string(pruned_records));
      // From the first checkpoint kept to the newest.
      const std::string kept_bytes = read_bytes(segments[2].second);
      const FrameSpan kept_frame = frames_tagged(kept_bytes, FrameTag::checkpoint).at(0);
      Result<Checkpoint> kept = decode_checkpoint(std::string_view(kept_bytes).substr(
          kept_frame.offset + frame_header_size, kept_frame.size - frame_header_size));
      REQUIRE(kept.ok());
      Result<ConsistencyProof> consistency = prove_consistency(dir.path(), kept.value().tree_size, 0);
      REQUIRE_MESSAGE(consistency.ok(), (consistency.ok() ? "" : consistency.error().message));
      CHECK(check_proof_document(consistency_proof_to_json(consistency.value()), trust(key)).ok());
    }
    SUBCASE("a kept checkpoint inside the pruned records cannot vouch for the log; a later one does") {
      VerifyReport stale = verify_log(dir.path(), trust(key),
                                      {.require_closed = true, .kept_checkpoint = early.value(), .pruned_start = true});
      INFO(dump(stale));
      CHECK(has_failure(stale, first_kept, "lies in the pruned segments"));
      VerifyReport current = verify_log(dir.path(), trust(key),
                                        {.require_closed = true, .kept_checkpoint = newest.value(), .pruned_start = true});
      INFO(dump(current));
      CHECK(current.ok());
    }
  }

  TEST_CASE("a replayed older checkpoint is detected") {
    OneSegmentLog f(30);
    auto checkpoints = frames_tagged(f.bytes, FrameTag::checkpoint);
    auto records = frames_tagged(f.bytes, FrameTag::record);
    const std::string old = f.bytes.substr(checkpoints[0].offset, checkpoints[0].size);
    f.bytes.insert(records[25].offset, old);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    INFO(dump(report));
    CHECK(has_failure(report, seg1, "an older checkpoint was replayed here"));
  }

  TEST_CASE("checkpoints signed by a foreign key are rejected, rotated keys are accepted") {
    TempDir dir;
    SecretKey first = generate_key(KeyKind::audit_signing);
    SecretKey second = generate_key(KeyKind::audit_signing);
    write_log(options_for(dir.path()), first, 12);
    // After a rotation the writer checks the first key's checkpoints with the keyring beside the key.
    TempDir keys;
    REQUIRE(append_public_key(keys.path() / "audit-signing.pub", public_key_of(first)).ok());
    AuditOptions rotated_options = options_for(dir.path());
    rotated_options.signing_key = keys.path() / "audit-signing.key";
    write_log(rotated_options, second, 12, 12);

    TrustedKeys both;
    both.add(public_key_of(first));
    both.add(public_key_of(second));
    VerifyReport rotated = verify_log(dir.path(), both, {.require_closed = true});
    INFO(dump(rotated));
    CHECK(rotated.ok());
    CHECK(rotated.records_valid == 24);

    VerifyReport only_first = verify_log(dir.path(), trust(first));
    CHECK(has_failure(only_first, "segment-000002.log",
                      "signed by key " + second.metadata.key_id + ", which is not among the trusted keys"));
    CHECK(only_first.records_valid == 12);

    SecretKey stranger = generate_key(KeyKind::audit_signing);
    VerifyReport foreign = verify_log(dir.path(), trust(stranger));
    CHECK(foreign.checkpoints_valid == 0);
    CHECK_FALSE(foreign.ok());
  }

  TEST_CASE("a checkpoint re-signed by an attacker's key under a trusted key id is rejected") {
    OneSegmentLog f(30);
    auto checkpoints = frames_tagged(f.bytes, FrameTag::checkpoint);
    // Overwrite the signature bytes of the second checkpoint (last 64 bytes of its frame).
    const std::size_t signature_at = checkpoints[1].offset + checkpoints[1].size - 64;
    for (std::size_t i = 0; i < 64; ++i) f.bytes[signature_at + i] = static_cast<char>(i);
    write_bytes(f.path, f.bytes);
    VerifyReport report = f.verify();
    CHECK(has_failure(report, seg1, "signature by key " + f.key.metadata.key_id + " is invalid"));
  }

  TEST_CASE("an empty or foreign directory is reported, not accepted") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    VerifyReport empty = verify_log(dir.path(), trust(key));
    CHECK_FALSE(empty.ok());
    CHECK(empty.failures[0].message.find("no audit segments") != std::string::npos);
    write_bytes(dir.path() / seg1, "not a segment at all");
    VerifyReport garbage = verify_log(dir.path(), trust(key));
    CHECK(has_failure(garbage, seg1, "not an audit segment"));
    // The finding carries the offset; the message does not repeat it.
    REQUIRE(garbage.failures.size() >= 1);
    CHECK(garbage.failures[0].offset == 0);
    CHECK(garbage.failures[0].message.find("offset") == std::string::npos);
  }

  // A single change in one segment is reported once, where it is: the later checkpoints of that
  // segment and the segments after it are not reported as modified too.
  TEST_CASE("a modified record in an earlier segment is reported once, and later segments verify") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const auto path = segments[0].second;
    std::string bytes = read_bytes(path);
    auto records = frames_tagged(bytes, FrameTag::record);
    auto checkpoints = frames_tagged(bytes, FrameTag::checkpoint);
    bytes[records[12].offset + 20] ^= 0x01;
    write_bytes(path, bytes);
    VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].segment == seg1);
    CHECK(report.failures[0].offset == checkpoints[1].offset);
    CHECK(report.failures[0].message.find("root mismatch") != std::string::npos);
    CHECK(report.failures[0].message.find("the 10 record(s) since the previous checkpoint (from offset " +
                                          std::to_string(records[10].offset) + " to offset " +
                                          std::to_string(checkpoints[1].offset) + ")") != std::string::npos);
    CHECK(report.segments_valid == segments.size() - 1);
    // Only the records of the first segment after its first checkpoint are left unverified.
    CHECK(report.records_valid == 2000 - (records.size() - 10));
    bool resumed = false;
    for (const auto& note : report.notes) {
      resumed = resumed || note.find("checked in full again from segment-000002.log") != std::string::npos;
    }
    CHECK(resumed);
  }

  TEST_CASE("a segment header whose tree state differs from the records before it is reported at the header") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const auto path = segments[1].second;
    std::string bytes = read_bytes(path);
    const FrameSpan header = frames_of(bytes).at(0);
    REQUIRE(header.tag == FrameTag::header);
    bytes[header.offset + header.size - 1] ^= 0x01;  // the last byte of its last frontier hash
    write_bytes(path, bytes);
    VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    REQUIRE_FALSE(report.failures.empty());
    const VerifyFinding& first = report.failures[0];
    CHECK(first.segment == path.filename().string());
    CHECK(first.offset == header.offset);
    CHECK(first.message.find(", as many records as precede it, but the records before it differ from those the "
                             "segment was started after (earlier records modified)") != std::string::npos);
    CHECK(first.message.find("a segment was dropped") == std::string::npos);
    // Only that segment fails: the next one's header is checked against the signed checkpoint before it.
    CHECK(report.segments_valid == segments.size() - 1);
  }

  TEST_CASE("a deleted or inserted record is reported once, at the range it was in") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const auto path = segments[1].second;
    const std::string original = read_bytes(path);
    auto records = frames_tagged(original, FrameTag::record);
    auto checkpoints = frames_tagged(original, FrameTag::checkpoint);
    // A record three after the segment's first checkpoint, the checkpoint after it and the one before.
    std::size_t k = 0;
    while (records[k].offset < checkpoints[0].offset) ++k;
    k += 3;
    std::size_t after = 0;
    while (checkpoints[after].offset < records[k].offset) ++after;
    REQUIRE(after > 0);
    REQUIRE(after < checkpoints.size());
    const std::string name = segments[1].second.filename().string();

    SUBCASE("deleted") {
      std::string bytes = original;
      bytes.erase(records[k].offset, records[k].size);
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == name);
      CHECK(report.failures[0].offset == checkpoints[after].offset - records[k].size);
      const std::string& message = report.failures[0].message;
      CHECK(message.find("records were deleted or inserted before it, among the ") != std::string::npos);
      const std::size_t first_in_range = checkpoints[after - 1].offset + checkpoints[after - 1].size;
      CHECK(message.find("since the previous checkpoint (from offset " + std::to_string(first_in_range) + " to offset " +
                         std::to_string(checkpoints[after].offset - records[k].size) + ")") != std::string::npos);
      CHECK(report.segments_valid == segments.size() - 1);
    }
    SUBCASE("inserted") {
      std::string bytes = original;
      bytes.insert(records[k].offset, original.substr(records[k].offset, records[k].size));
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == name);
      CHECK(report.failures[0].message.find("records were deleted or inserted before it") != std::string::npos);
      CHECK(report.segments_valid == segments.size() - 1);
    }
  }

  TEST_CASE("a closed segment whose closing checkpoint was removed fails, even as the last segment") {
    OneSegmentLog log(25);  // checkpoints at 10 and 20, the closing one at 25
    auto& [dir, key, path, bytes] = log;
    auto frames = frames_of(bytes);
    REQUIRE(frames.size() >= 2);
    const FrameSpan closing = frames[frames.size() - 2];
    REQUIRE(closing.tag == FrameTag::checkpoint);
    REQUIRE(frames.back().tag == FrameTag::end);
    bytes.erase(closing.offset, closing.size);
    auto records = frames_tagged(bytes, FrameTag::record);
    bytes[records[22].offset + 20] ^= 0x01;  // and a record it covered altered
    write_bytes(path, bytes);
    for (bool require_closed : {false, true}) {
      VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = require_closed});
      INFO(dump(report));
      CHECK_FALSE(report.ok());
      CHECK(has_failure(report, seg1, "5 record(s) from offset " + std::to_string(records[20].offset) +
                                          " are not covered by a checkpoint, but the segment is closed"));
      CHECK(report.records_valid == 20);
    }
  }

  TEST_CASE("a kept checkpoint of tree size 0 checks against an empty log and one that grew since") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    write_log(options_for(dir.path()), key, 0);
    Result<Checkpoint> empty = latest_checkpoint(dir.path());
    REQUIRE(empty.ok());
    REQUIRE(empty->tree_size == 0);
    VerifyReport at_zero = verify_log(dir.path(), trust(key), {.kept_checkpoint = empty.value()});
    INFO(dump(at_zero));
    CHECK(at_zero.ok());
    write_log(options_for(dir.path()), key, 12);
    VerifyReport grown = verify_log(dir.path(), trust(key), {.require_closed = true, .kept_checkpoint = empty.value()});
    INFO(dump(grown));
    CHECK(grown.ok());
    CHECK(grown.records_valid == 12);
    // A tree-size-0 checkpoint of another log is still refused.
    TempDir other;
    write_log(options_for(other.path()), key, 0);
    Result<Checkpoint> foreign = latest_checkpoint(other.path());
    REQUIRE(foreign.ok());
    VerifyReport mixed = verify_log(dir.path(), trust(key), {.kept_checkpoint = foreign.value()});
    CHECK(has_failure(mixed, seg1, "it belongs to another audit log"));
  }
}
