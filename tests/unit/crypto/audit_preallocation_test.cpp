// Strict mode grows the segment it appends to ahead of the records, in zeros: readers stop where the
// zeros begin, recovery after a crash writes on over them (no quarantine), close cuts them off, and
// zeros before data that landed (a torn write into that space) are cut like a torn frame.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "crypto/audit_reader.hpp"
#include "crypto/audit_segment.hpp"
#include "audit_test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

// End of the last whole frame of a segment's bytes, and how many zero bytes follow it.
struct Walk {
  std::uint64_t frames_end = 0;
  std::uint64_t zero_tail = 0;
  bool error = false;
};

Walk walk(const std::string& bytes) {
  FrameParser parser(bytes);
  while (parser.next()) {
  }
  return {parser.offset(), parser.zero_tail_bytes(), parser.error().has_value()};
}

std::string segment_with_one_record() {
  std::string bytes(segment_magic);
  append_frame(bytes, FrameTag::record, R"({"kind":"decision"})");
  return bytes;
}

// Appends `count` records and waits until the writer has also grown the file after them: it does so
// after a batch's callbacks, so one more record, confirmed after that, marks the end of it.
void write_and_settle(AuditWriter& writer, int first, int count) {
  write_records(writer, first, count);
  write_records(writer, first + count, 1);
}

// What kill -9 leaves: a copy of the open segment taken while the writer runs, after `records`
// records (+1 to settle) with checkpoints every 10.
void copy_while_writing(const std::filesystem::path& into, const SecretKey& key, int records) {
  TempDir live;
  auto writer = AuditWriter::open(options_for(live.path()), key);
  REQUIRE(writer.ok());
  write_and_settle(*writer.value(), 0, records);
  std::filesystem::copy_file(live.path() / seg1, into / seg1);
  writer.value()->close();
}

// A live segment's image whose last checkpoint begins in one 512-byte sector and ends in the next
// (tried with more records until one does): `sector` is where that next sector begins.
struct TornCheckpoint {
  std::string image;
  FrameSpan checkpoint;
  std::size_t sector = 0;
  std::uint64_t tree_size = 0;  // records before that checkpoint
};

TornCheckpoint straddling_checkpoint_image(const std::filesystem::path& into, const SecretKey& key) {
  for (int records = 24; records < 200; records += 10) {
    TempDir attempt;
    copy_while_writing(attempt.path(), key, records);
    std::string image = read_bytes(attempt.path() / seg1);
    const FrameSpan last = frames_tagged(image, FrameTag::checkpoint).back();
    const std::size_t sector = (last.offset / 512 + 1) * 512;
    if (sector < last.offset + last.size && sector + 512 <= image.size() &&
        walk(image).frames_end > last.offset + last.size) {
      std::filesystem::copy_file(attempt.path() / seg1, into / seg1);
      std::uint64_t before = 0;
      for (const FrameSpan& r : frames_tagged(image, FrameTag::record)) before += r.offset < last.offset ? 1 : 0;
      return {std::move(image), last, sector, before};
    }
  }
  FAIL("no checkpoint crossed a sector boundary");
  return {};
}

bool any_quarantine_file(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().find("quarantine") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_SUITE("audit-preallocation") {
  TEST_CASE("the frame parser ends cleanly at zeros after a frame, and calls zeros before data a torn write") {
    const std::string frames = segment_with_one_record();
    for (std::size_t zeros : {1, 4, 5, 100, 70000}) {
      CAPTURE(zeros);
      const Walk w = walk(frames + std::string(zeros, '\0'));
      CHECK_FALSE(w.error);
      CHECK(w.frames_end == frames.size());
      CHECK(w.zero_tail == zeros);
    }
    CHECK(walk(frames).zero_tail == 0);

    // Zeros to the end of their 512-byte sector (one that did not land), then data.
    const std::string torn_bytes = frames + std::string(512 - frames.size(), '\0') + "R";
    FrameParser torn(torn_bytes);
    while (torn.next()) {
    }
    REQUIRE(torn.error().has_value());
    INFO(*torn.error());
    CHECK(torn.stopped_on_truncation());
    CHECK(torn.offset() == frames.size());
    CHECK(torn.error()->find("zero bytes where a frame should begin") != std::string::npos);
    CHECK(torn.zero_tail_bytes() == 0);

    // Zeros that stop inside their sector with data after them are no sector left unwritten.
    const std::string zeroed_bytes = frames + std::string(100, '\0') + "R";
    FrameParser zeroed(zeroed_bytes);
    while (zeroed.next()) {
    }
    REQUIRE(zeroed.error().has_value());
    CHECK_FALSE(zeroed.stopped_on_truncation());
    CHECK(zeroed.error()->find("unknown frame tag 0x00") != std::string::npos);
  }

  TEST_CASE("a strict writer's open segment is preallocated, verifies while open, and is cut at close") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    write_and_settle(*writer.value(), 0, 29);
    const auto path = dir.path() / seg1;
    const Walk open = walk(read_bytes(path));
    CHECK_FALSE(open.error);
    CHECK(open.zero_tail > 0);
    CHECK(std::filesystem::file_size(path) == open.frames_end + open.zero_tail);
    CHECK(std::filesystem::file_size(path) >= (1u << 20));
    VerifyReport running = verify_log(dir.path(), trust(key), {});
    INFO(dump(running));
    CHECK(running.ok());
    CHECK(running.records_valid + running.unsigned_records == 30);

    writer.value()->close();
    const Walk closed = walk(read_bytes(path));
    CHECK(closed.zero_tail == 0);
    CHECK(std::filesystem::file_size(path) == closed.frames_end);
    CHECK(verify_log(dir.path(), trust(key), {.require_closed = true}).ok());
  }

  TEST_CASE("a relaxed writer appends without preallocating") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.durability = Durability::relaxed;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    write_records(*writer.value(), 0, 30);
    const Walk open = walk(read_bytes(dir.path() / seg1));
    CHECK(open.zero_tail == 0);
    writer.value()->close();
  }

  TEST_CASE("preallocation never grows a segment past segment_max_bytes") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options = options_for(dir.path());
    options.segment_max_bytes = 65536;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    write_and_settle(*writer.value(), 0, 999);  // several segments
    auto listed = list_segments(dir.path());
    REQUIRE(listed.ok());
    REQUIRE(listed->size() >= 2);
    for (const auto& [index, file] : listed.value()) CHECK(std::filesystem::file_size(file) <= 65536);
    writer.value()->close();
    CHECK(verify_log(dir.path(), trust(key), {.require_closed = true}).ok());
  }

  // What kill -9 leaves: the open segment with its zeros. The copy is taken while the writer runs.
  TEST_CASE("after a crash the writer writes on over the preallocated zeros, quarantining nothing") {
    TempDir crashed;
    SecretKey key = generate_key(KeyKind::audit_signing);
    copy_while_writing(crashed.path(), key, 24);
    const std::uint64_t image_size = std::filesystem::file_size(crashed.path() / seg1);
    REQUIRE(walk(read_bytes(crashed.path() / seg1)).zero_tail > 0);

    auto writer = AuditWriter::open(options_for(crashed.path()), key);
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == 25);
    CHECK(writer.value()->recovery().discarded_tail_bytes == 0);
    CHECK(writer.value()->recovery().quarantined_bytes == 0);
    CHECK(writer.value()->recovery().quarantine_file.empty());
    write_records(*writer.value(), 25, 5);
    CHECK(std::filesystem::file_size(crashed.path() / seg1) == image_size);  // written over the zeros
    writer.value()->close();
    CHECK_FALSE(any_quarantine_file(crashed.path()));
    VerifyReport report = verify_log(crashed.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == 30);
  }

  TEST_CASE("zeros before data that landed after a crash are cut like a torn frame, and the log verifies") {
    TempDir crashed;
    SecretKey key = generate_key(KeyKind::audit_signing);
    copy_while_writing(crashed.path(), key, 24);
    std::string image = read_bytes(crashed.path() / seg1);
    const Walk before = walk(image);
    // A later page of a batch landed, an earlier one did not.
    image.replace(static_cast<std::size_t>(before.frames_end) + 4096, 3, "R{x");
    write_bytes(crashed.path() / seg1, image);
    VerifyReport torn = verify_log(crashed.path(), trust(key), {});
    INFO(dump(torn));
    CHECK(torn.ok());

    auto writer = AuditWriter::open(options_for(crashed.path()), key);
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == 25);
    // The torn bytes up to the last that landed go to the quarantine file (with four zeros after it,
    // which could be a frame's length); the zeros after them do not.
    CHECK(writer.value()->recovery().discarded_tail_bytes == 4096 + 3 + 4);
    CHECK(std::filesystem::file_size(writer.value()->recovery().quarantine_file) == 4096 + 3 + 4);
    writer.value()->close();
    VerifyReport report = verify_log(crashed.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == 25);
  }

  // The last checkpoint of a batch that never synced, torn by a power loss while records after it
  // landed: its frame begins in a sector that reached the disk and ends in one that did not (zeros).
  // Cut with all after it, as a torn frame is. Not where no zeros end the segment.
  TEST_CASE("a checkpoint torn in preallocated space is cut, with the records after it; elsewhere it refuses start") {
    TempDir crashed;
    SecretKey key = generate_key(KeyKind::audit_signing);
    const TornCheckpoint torn = straddling_checkpoint_image(crashed.path(), key);
    std::string image = torn.image;
    const FrameSpan last = torn.checkpoint;
    image.replace(torn.sector, 512, std::string(512, '\0'));  // the sector after its start did not land
    write_bytes(crashed.path() / seg1, image);

    auto writer = AuditWriter::open(options_for(crashed.path()), key);
    INFO((writer.ok() ? std::string() : writer.error().message));
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == torn.tree_size);
    CHECK(writer.value()->recovery().discarded_tail_bytes > 0);
    CHECK(std::filesystem::exists(writer.value()->recovery().quarantine_file));
    write_records(*writer.value(), 1000, 2);
    writer.value()->close();
    VerifyReport report = verify_log(crashed.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == torn.tree_size + 2);

    // The same checkpoint in a segment that does not end in zeros is damage: start-up is refused.
    TempDir damaged;
    image.resize(last.offset + last.size + 64);
    image.replace(image.size() - 64, 64, std::string(64, 'x'));
    write_bytes(damaged.path() / seg1, image);
    auto refused = AuditWriter::open(options_for(damaged.path()), key);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("offset " + std::to_string(last.offset)) != std::string::npos);
  }

  // A power loss leaves zeros where a sector did not land; it does not flip a bit or change a record.
  // A checkpoint that does not check out for such a reason is damage (or tampering) even in a
  // preallocated segment: cutting it would move the acknowledged records after it to the quarantine
  // file and have the writer sign the altered records it covered.
  TEST_CASE("a checkpoint altered in preallocated space, or the records it signs, refuses start and nothing is cut") {
    SecretKey key = generate_key(KeyKind::audit_signing);
    TempDir live;
    copy_while_writing(live.path(), key, 24);  // checkpoints after records 10 and 20, 5 records after
    const std::string image = read_bytes(live.path() / seg1);
    const FrameSpan last = frames_tagged(image, FrameTag::checkpoint).back();
    const auto records = frames_tagged(image, FrameTag::record);
    REQUIRE(records.size() == 25);
    REQUIRE(walk(image).zero_tail > 512);

    std::string flipped_signature = image;
    flipped_signature[last.offset + last.size - 10] ^= 0x40;
    std::string altered_record = image;
    const FrameSpan signed_record = records[15];  // covered by the checkpoint after record 20
    const std::size_t digit = altered_record.find("req-15", signed_record.offset) + 4;
    REQUIRE(digit < signed_record.offset + signed_record.size);
    altered_record[digit] = '9';

    for (const std::string& damaged_image : {flipped_signature, altered_record}) {
      TempDir dir;
      write_bytes(dir.path() / seg1, damaged_image);
      auto refused = AuditWriter::open(options_for(dir.path()), key);
      REQUIRE_FALSE(refused.ok());
      INFO(refused.error().message);
      CHECK(refused.error().message.find("offset " + std::to_string(last.offset)) != std::string::npos);
      CHECK(read_bytes(dir.path() / seg1) == damaged_image);  // nothing cut
      CHECK_FALSE(any_quarantine_file(dir.path()));
    }
  }

  // A crash tears whole sectors, so zeros at a frame boundary that stop before the sector ends, with
  // data after them, are not a torn write: a frame tag zeroed is damage, as it was before segments
  // were preallocated, for recovery, verify and the readers alike.
  TEST_CASE("a few zero bytes where a frame begins, followed by data in the same sector, are damage, not a tear") {
    SecretKey key = generate_key(KeyKind::audit_signing);
    TempDir live;
    copy_while_writing(live.path(), key, 24);
    std::string image = read_bytes(live.path() / seg1);
    const auto records = frames_tagged(image, FrameTag::record);
    const auto checkpoints = frames_tagged(image, FrameTag::checkpoint);
    // An unsigned record after the last checkpoint whose first bytes lie well inside a sector.
    std::optional<FrameSpan> target;
    for (const FrameSpan& r : records)
      if (r.offset > checkpoints.back().offset && r.offset % 512 + frame_header_size + 8 < 512) target = r;
    REQUIRE(target.has_value());
    image.replace(target->offset, frame_header_size, std::string(frame_header_size, '\0'));

    FrameParser parser(image);
    while (parser.next()) {
    }
    REQUIRE(parser.error().has_value());
    CHECK_FALSE(parser.stopped_on_truncation());
    CHECK(parser.error()->find("unknown frame tag 0x00") != std::string::npos);

    TempDir dir;
    write_bytes(dir.path() / seg1, image);
    auto refused = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("offset " + std::to_string(target->offset)) != std::string::npos);
    CHECK(read_bytes(dir.path() / seg1) == image);
    CHECK_FALSE(any_quarantine_file(dir.path()));
    VerifyReport report = verify_log(dir.path(), trust(key), {});
    INFO(dump(report));
    CHECK_FALSE(report.ok());
  }

  // A record frame whose header landed and whose payload's last page did not: zeros end its payload.
  TEST_CASE("a record whose payload did not wholly land in preallocated space is quarantined, not adopted") {
    TempDir crashed;
    SecretKey key = generate_key(KeyKind::audit_signing);
    copy_while_writing(crashed.path(), key, 24);
    std::string image = read_bytes(crashed.path() / seg1);
    const FrameSpan last = frames_tagged(image, FrameTag::record).back();
    const std::size_t half = last.size / 2;
    image.replace(last.offset + half, last.size - half, std::string(last.size - half, '\0'));
    write_bytes(crashed.path() / seg1, image);

    auto writer = AuditWriter::open(options_for(crashed.path()), key);
    REQUIRE(writer.ok());
    CHECK(writer.value()->recovery().tree_size == 24);
    // Its payload ends in zeros with only zeros after it: a frame still being written when the
    // power failed, cut like a torn frame (up to the last byte that landed), never adopted.
    CHECK(writer.value()->recovery().discarded_tail_bytes == half + 4);
    CHECK_FALSE(writer.value()->recovery().quarantine_file.empty());
    writer.value()->close();
    VerifyReport report = verify_log(crashed.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == 24);
  }

  // `audit tail -f` polls every 200 ms: a poll reads what the writer appended since the last one,
  // not the preallocated zeros after it again.
  TEST_CASE("polling a live preallocated segment reads the new records, not the zeros ahead of them again") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    write_and_settle(*writer.value(), 0, 5);
    REQUIRE(walk(read_bytes(dir.path() / seg1)).zero_tail > (1u << 20));

    LogReader reader(dir.path());
    std::vector<std::uint64_t> leaves;
    auto on_record = [&](const LogRecord& r) { leaves.push_back(r.leaf_index); };
    REQUIRE(reader.read_new(on_record, [](const LogCheckpoint&) {}));
    CHECK(leaves.size() == 6);
    for (int poll = 0; poll < 3; ++poll) {
      const std::uint64_t before = reader.bytes_read();
      write_records(*writer.value(), 100 + poll * 4, 4);
      REQUIRE(reader.read_new(on_record, [](const LogCheckpoint&) {}));
      CHECK(reader.bytes_read() - before <= (256u << 10));
    }
    const std::uint64_t before = reader.bytes_read();
    REQUIRE(reader.read_new(on_record, [](const LogCheckpoint&) {}));  // nothing new
    CHECK(reader.bytes_read() - before <= (256u << 10));
    REQUIRE(leaves.size() == 18);
    for (std::size_t i = 0; i < leaves.size(); ++i) CHECK(leaves[i] == i);

    // Across the rotation at close the reader still follows the log to its end frame.
    writer.value()->close();
    REQUIRE(reader.read_new(on_record, [](const LogCheckpoint&) {}));
    CHECK(leaves.size() == 18);
  }

  // A full disk (here a file size limit, as in audit_log_test) leaves no room for the zeros: the
  // writer appends as it would without them, and does not write and cut off megabytes of zeros at
  // every group commit meanwhile (on a shared disk, each such attempt fills it for everyone else).
  TEST_CASE("with no room for the zeros the writer appends, and tries again only once the records grew a step") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    auto writer = AuditWriter::open(options_for(dir.path()), key);
    REQUIRE(writer.ok());
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    rlimit small = old;
    small.rlim_cur = 1 << 20;  // room for the records below, not for a step of zeros
    setrlimit(RLIMIT_FSIZE, &small);
    for (int batch = 0; batch < 40; ++batch) write_records(*writer.value(), batch, 1);
    const AuditWriterStats stats = writer.value()->stats();
    const std::uint64_t size = std::filesystem::file_size(dir.path() / seg1);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(stats.preallocations == 0);
    CHECK(stats.preallocations_refused == 1);
    CHECK(size < (64u << 10));  // the records alone: no zeros left behind
    CHECK(walk(read_bytes(dir.path() / seg1)).zero_tail == 0);
    writer.value()->close();
    VerifyReport report = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(report));
    CHECK(report.ok());
    CHECK(report.records_valid == 40);
  }

  // A closed segment ends with its end frame: the writer cut its zeros before it started the next.
  TEST_CASE("verify fails zeros appended after a closed segment's end frame, and notes them in the last segment") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    write_log(options_for(dir.path()), key, 5);
    const std::uint64_t end_of_first = std::filesystem::file_size(dir.path() / seg1);
    {
      std::ofstream out(dir.path() / seg1, std::ios::binary | std::ios::app);
      out << std::string(8192, '\0');
    }
    VerifyReport last_only = verify_log(dir.path(), trust(key), {.require_closed = true});
    INFO(dump(last_only));
    CHECK(last_only.ok());  // a crash between the end frame and the cut leaves this
    CHECK(std::any_of(last_only.notes.begin(), last_only.notes.end(),
                      [](const std::string& n) { return n.find("8,192 zero bytes after the segment's end frame") != std::string::npos; }));

    write_log(options_for(dir.path()), key, 3, 5);  // cuts them (recovery), then segment 2
    CHECK(std::filesystem::file_size(dir.path() / seg1) == end_of_first);
    {
      std::ofstream out(dir.path() / seg1, std::ios::binary | std::ios::app);
      out << std::string(4096, '\0');
    }
    VerifyReport report = verify_log(dir.path(), trust(key), {});
    INFO(dump(report));
    CHECK_FALSE(report.ok());
    CHECK(has_failure(report, seg1, "zero bytes after the segment's end frame"));
  }

  // A reader of a live strict log can meet the frame the writer is copying in: its first bytes,
  // then the zeros of the preallocated space. It must read as a frame still being written (as a
  // partial frame at the end of a growing file does), never as a record with zeros in it.
  TEST_CASE("a frame half copied into preallocated space reads as one still being written") {
    const std::string frames = segment_with_one_record();
    std::string whole;
    append_frame(whole, FrameTag::record, R"({"kind":"outcome","status":200})");
    for (std::size_t copied : {std::size_t{1}, std::size_t{3}, frame_header_size, frame_header_size + 7, whole.size() - 1}) {
      CAPTURE(copied);
      const std::string bytes = frames + whole.substr(0, copied) + std::string(4096, '\0');
      FrameParser parser(bytes);
      REQUIRE(parser.next());  // the whole record before it
      CHECK_FALSE(parser.next());
      REQUIRE(parser.error().has_value());
      CHECK(parser.stopped_on_truncation());
      CHECK(parser.offset() == frames.size());
    }
    // Whole, it is read; and a frame whose payload ends in a zero byte with data after it is whole.
    CHECK(walk(frames + whole + std::string(4096, '\0')).frames_end == frames.size() + whole.size());
    std::string zero_ended;
    append_frame(zero_ended, FrameTag::checkpoint, std::string(135, 'c') + std::string(1, '\0'));
    const Walk followed = walk(frames + zero_ended + whole);
    CHECK_FALSE(followed.error);
    CHECK(followed.frames_end == frames.size() + zero_ended.size() + whole.size());
    // A checkpoint's signature ends in a zero byte 1 time in 16: as the last frame before the zeros
    // it is whole; only four zero bytes at its end read as a checkpoint still being copied.
    const Walk last_before_zeros = walk(frames + zero_ended + std::string(4096, '\0'));
    CHECK_FALSE(last_before_zeros.error);
    CHECK(last_before_zeros.frames_end == frames.size() + zero_ended.size());
    std::string four_zeros;
    append_frame(four_zeros, FrameTag::checkpoint, std::string(132, 'c') + std::string(4, '\0'));
    const std::string copying_bytes = frames + four_zeros + std::string(4096, '\0');
    FrameParser copying_parser(copying_bytes);
    REQUIRE(copying_parser.next());
    CHECK_FALSE(copying_parser.next());
    CHECK(copying_parser.stopped_on_truncation());
  }
}
