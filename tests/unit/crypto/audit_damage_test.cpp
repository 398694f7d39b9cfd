// Damage that looks like something a crash leaves, and must not be taken for it: a record frame's
// length altered (a "partial frame" with the log going on after it), checkpoints whose roots were
// recomputed over altered records without a valid signature, and the totals of a segment whose
// framing breaks. Each is told with its segment and offset by verify, the writer and the reader.
#include <doctest/doctest.h>

#include "crypto/audit_reader.hpp"
#include "crypto/key_file.hpp"
#include "audit_test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// What a LogReader (query, tail, checkpoint, prove) makes of a log: the records it visited and how it ended.
struct ReadOutcome {
  std::uint64_t records = 0;
  Status status;
};

ReadOutcome read_log(const std::filesystem::path& dir) {
  LogReader reader(dir);
  ReadOutcome outcome;
  outcome.status = reader.read_new([&](const LogRecord&) { ++outcome.records; }, [](const LogCheckpoint&) {});
  return outcome;
}

// Adds 65,536 to a frame's length, as one flipped bit does: the frame now claims more bytes than
// the file holds, as the last frame of a log whose writer stopped mid-write would.
void flip_length_bit_16(std::string& bytes, std::size_t frame_offset) { bytes[frame_offset + 3] ^= 1; }

// Rewrites every checkpoint's root to the one the segment's records give now, signature left as it
// was: what someone who can write the directory, but holds no signing key, makes of an altered record.
void recompute_checkpoint_roots(std::string& bytes) {
  TreeFrontier frontier;
  FrameParser parser(bytes);
  std::vector<std::pair<std::uint64_t, std::string>> rewritten;
  while (std::optional<Frame> frame = parser.next()) {
    if (frame->tag == FrameTag::record) frontier.append(merkle::hash_leaf(frame->payload));
    if (frame->tag != FrameTag::checkpoint) continue;
    Result<Checkpoint> checkpoint = decode_checkpoint(frame->payload);
    REQUIRE(checkpoint.ok());
    checkpoint->root = frontier.root();
    rewritten.emplace_back(frame->offset + frame_header_size, encode_checkpoint(checkpoint.value()));
  }
  for (const auto& [offset, payload] : rewritten) bytes.replace(offset, payload.size(), payload);
}

}  // namespace

TEST_SUITE("audit-damage") {
  TEST_CASE("a record frame whose length was altered is damage, not a torn tail, in verify, recovery and reading") {
    OneSegmentLog log(30);
    auto& [dir, key, path, closed] = log;
    const auto records = frames_tagged(closed, FrameTag::record);
    const auto checkpoints = frames_tagged(closed, FrameTag::checkpoint);
    REQUIRE(records.size() == 30);
    std::string damaged;
    SUBCASE("in a closed segment") { damaged = closed; }
    SUBCASE("in an open segment, with signed checkpoints after it") {
      damaged = closed.substr(0, checkpoints.back().offset);
    }
    flip_length_bit_16(damaged, records[12].offset);
    write_bytes(path, damaged);

    VerifyReport report = verify_log(dir.path(), trust(key));
    INFO(dump(report));
    CHECK_FALSE(report.ok());
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].segment == seg1);
    CHECK(report.failures[0].offset == records[12].offset);
    CHECK(contains(report.failures[0].message, "but a checkpoint or end frame of this log follows at offset " +
                                                   std::to_string(checkpoints[1].offset) +
                                                   ": the frame's length field was altered"));
    for (const std::string& note : report.notes) CHECK_FALSE(contains(note, "partial frame"));
    CHECK(report.records_valid == 10);
    CHECK(report.records_total == 30);
    // The checkpoints in the unreadable rest are checkpoints of the log, not valid ones.
    std::size_t checkpoints_written = 0;
    for (const auto& checkpoint : checkpoints) checkpoints_written += checkpoint.offset < damaged.size();
    CHECK(report.checkpoints_total == checkpoints_written);
    CHECK(report.checkpoints_valid < report.checkpoints_total);

    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE_FALSE(writer.ok());
    INFO(writer.error().message);
    CHECK(contains(writer.error().message, seg1 + " offset " + std::to_string(records[12].offset) + ": "));
    CHECK(contains(writer.error().message, "the segment is damaged (a frame's length altered), not torn by a crash"));
    CHECK(contains(writer.error().message, "sovereign audit verify"));
    // Nothing was cut, and nothing was moved aside.
    CHECK(read_bytes(path) == damaged);
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      CHECK_FALSE(contains(entry.path().filename().string(), "quarantine"));
    }

    const ReadOutcome read = read_log(dir.path());
    CHECK(read.records == 12);
    REQUIRE_FALSE(read.status.ok());
    CHECK(contains(read.status.error().message, seg1 + ": offset " + std::to_string(records[12].offset)));
    CHECK(contains(read.status.error().message, "the audit log is damaged here"));
  }

  // Recovery is repeated after a crash between the quarantine and the cut, and a later tear of the
  // log written on from the cut stands at the same offset: neither may stop the gateway for good.
  TEST_CASE("a torn last frame is still cut at start-up, its bytes moved to a quarantine file, never overwriting one") {
    OneSegmentLog log(25);
    auto& [dir, key, path, bytes] = log;
    const auto last = frames_tagged(bytes, FrameTag::record).back();
    bytes.resize(last.offset + last.size / 2);  // kill -9 in the middle of the last record's write
    write_bytes(path, bytes);
    const std::string tail = bytes.substr(last.offset);
    const auto first_copy = dir.path() / (seg1 + ".quarantine-" + std::to_string(last.offset));
    std::filesystem::path expected_copy = first_copy;
    std::string other_tail;
    SUBCASE("the first recovery") {
      const ReadOutcome read = read_log(dir.path());
      CHECK(read.status.ok());  // left for the next read: the writer may still be writing it
      CHECK(read.records == 24);
    }
    SUBCASE("the same tail again (a crash between the copy and the cut)") { write_bytes(first_copy, tail); }
    SUBCASE("another tail at the same offset (a later tear)") {
      other_tail = tail;
      other_tail.back() ^= 1;
      write_bytes(first_copy, other_tail);
      expected_copy = first_copy.string() + ".2";
    }

    auto writer = AuditWriter::open(options_for(dir.path()), key);
    INFO((writer.ok() ? std::string() : writer.error().message));
    REQUIRE(writer.ok());
    const AuditRecovery& recovery = writer.value()->recovery();
    CHECK(recovery.discarded_tail_bytes == last.size / 2);
    CHECK(recovery.quarantined_records == 0);
    CHECK(recovery.quarantine_file == expected_copy);
    CHECK(read_bytes(recovery.quarantine_file) == tail);
    if (!other_tail.empty()) CHECK(read_bytes(first_copy) == other_tail);  // the earlier evidence as it was
    CHECK_FALSE(std::filesystem::exists(expected_copy.string() + ".2"));
    writer.value()->close();
    VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == 24);
  }

  TEST_CASE("after a framing error the rest of the segment counts as records that are not valid") {
    SegmentedLog log;
    auto& [dir, key, segments] = log;
    const std::string seg2 = segments[1].second.filename().string();

    SUBCASE("an earlier segment: the next one is measured against it as damaged, not as records deleted") {
      std::string bytes = read_bytes(segments[0].second);
      const auto records = frames_tagged(bytes, FrameTag::record);
      bytes[records[20].offset] = 'X';
      write_bytes(segments[0].second, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].segment == seg1);
      CHECK(report.failures[0].offset == records[20].offset);
      CHECK(report.failures[0].message ==
            "unknown frame tag 0x58; the rest of the segment cannot be read; " + seg2 + " continues from tree size " +
                with_thousands(records.size()) + ", so " + with_thousands(records.size() - 20) +
                " record(s) after tree size 20 are in this damaged segment, where they cannot be read (not deleted: "
                "they count as records that are not valid)");
      CHECK(report.records_total == 2000);
      CHECK(report.records_valid == 2000 - (records.size() - 20));
      CHECK(report.segments_valid == segments.size() - 1);
    }
    SUBCASE("the last segment: its unreadable rest is measured by the checkpoints of this log after the damage") {
      const auto path = segments.back().second;
      std::string bytes = read_bytes(path);
      const auto records = frames_tagged(bytes, FrameTag::record);
      REQUIRE(records.size() > 12);
      bytes[records[5].offset] = 'X';
      write_bytes(path, bytes);
      VerifyReport report = verify_log(dir.path(), trust(key));
      INFO(dump(report));
      REQUIRE(report.failures.size() == 1);
      CHECK(report.failures[0].offset == records[5].offset);
      CHECK(report.records_total == 2000);
      CHECK(report.unsigned_records == 0);
      CHECK(report.segments_valid == segments.size() - 1);
    }
  }

  TEST_CASE("recovery checks every checkpoint's signature before it signs anything after it") {
    OneSegmentLog log(25);
    auto& [dir, key, path, closed] = log;
    const auto records = frames_tagged(closed, FrameTag::record);
    const auto checkpoints = frames_tagged(closed, FrameTag::checkpoint);

    SUBCASE("a signed record altered and the roots after it recomputed, signatures left as they were") {
      // An open last segment, as a crashed gateway leaves it: checkpoints at 10 and 20 records.
      std::string altered = closed.substr(0, checkpoints.back().offset);
      const std::size_t at = altered.find("req-12", records[12].offset);
      REQUIRE(at < records[13].offset);
      altered.replace(at, 6, "req-99");
      recompute_checkpoint_roots(altered);
      write_bytes(path, altered);
      auto writer = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE_FALSE(writer.ok());
      INFO(writer.error().message);
      CHECK(contains(writer.error().message, seg1 + " offset " + std::to_string(checkpoints[1].offset) +
                                                 ": the checkpoint (tree size 20): signature by key " +
                                                 key.metadata.key_id + " is invalid: the checkpoint or the "
                                                 "records before it were altered after it was signed"));
      CHECK(read_bytes(path) == altered);  // nothing signed over it
    }

    SUBCASE("checkpoints by an earlier key are checked with the keyring beside the signing key") {
      SecretKey next = generate_key(KeyKind::audit_signing);
      TempDir keys;
      AuditOptions options = options_for(dir.path());
      options.signing_key = keys.path() / "audit-signing.key";  // the key itself is given to open()
      const std::filesystem::path keyring = keys.path() / "audit-signing.pub";

      auto without_keyring = AuditWriter::open(options, next);
      REQUIRE_FALSE(without_keyring.ok());
      CHECK(contains(without_keyring.error().message, "signed by key " + key.metadata.key_id +
                                                          ", which is not the signing key (" + next.metadata.key_id +
                                                          "), and there is no keyring " + keyring.string()));

      REQUIRE(append_public_key(keyring, public_key_of(generate_key(KeyKind::audit_signing))).ok());
      auto stranger_only = AuditWriter::open(options, next);
      REQUIRE_FALSE(stranger_only.ok());
      CHECK(contains(stranger_only.error().message,
                     "offset " + std::to_string(checkpoints[0].offset) + ": the checkpoint (tree size 10): signed by key " +
                         key.metadata.key_id + ", which is not among the trusted keys"));

      REQUIRE(append_public_key(keyring, public_key_of(key)).ok());
      auto rotated = AuditWriter::open(options, next);
      INFO((rotated.ok() ? std::string() : rotated.error().message));
      REQUIRE(rotated.ok());
      write_records(*rotated.value(), 25, 5);
      rotated.value()->close();
      TrustedKeys both = trust(key);
      both.add(public_key_of(next));
      VerifyReport report = verify_log(dir.path(), both, {.require_closed = true});
      INFO(dump(report));
      CHECK(report.ok());
      CHECK(report.records_valid == 30);
    }
  }
}
