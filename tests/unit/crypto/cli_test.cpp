// `sovereign keys` and `sovereign audit` end to end: keys made by the CLI sign a real log that the
// CLI verifies, queries, proves and checks; tampering and bad input give the documented exit codes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <iostream>
#include <sstream>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_writer.hpp"
#include "crypto/key_file.hpp"
#include "crypto/key_store.hpp"
#include "crypto/sealed_capture.hpp"
#include "crypto/vault_journal.hpp"
#include "gateway/cli/audit_command.hpp"
#include "gateway/cli/keys_command.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

struct Run {
  int status;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  const std::string group = args.front();
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  const int status = group == "audit" ? sovereign::gateway::run_audit_command(rest)
                                      : sovereign::gateway::run_keys_command(rest);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {status, out.str(), err.str()};
}

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

std::string decision(int i) {
  const bool deny = i % 5 == 0;
  return R"({"kind":"decision","time":"2026-11-22T03:04:)" + std::string(i < 10 ? "0" : "") + std::to_string(i) +
         R"(.000Z","request_id":"req-)" + std::to_string(i) + R"(","tenant":")" + (i % 2 ? "acme" : "globex") +
         R"(","model":"demo","endpoint":"chat.completions","decision":")" + (deny ? "deny" : "allow") +
         R"(","rules":[")" + (deny ? "no-health-data" : "default-allow") +
         R"("],"policy_version":"v1","data_class":"internal","detectors":{)" + (i % 3 ? R"("EMAIL":2)" : "") +
         R"(},"backend":"site-gpu","zone":"site","payload_sha256":"00"})";
}

// The two records the gateway writes for request i: the decision (no backend or zone yet: it is
// written before routing) and the outcome (backend and zone, half a second later).
std::vector<std::string> request_records(int i) {
  const bool deny = i % 5 == 0;
  const std::string second = (i < 10 ? "0" : "") + std::to_string(i);
  const std::string head = R"("request_id":"req-)" + std::to_string(i) + R"(","tenant":")" + (i % 2 ? "acme" : "globex") +
                           R"(","model":"demo")";
  const std::string backend = deny ? "" : (i % 4 == 0 ? "hall-b" : "site-gpu");
  const std::string zone = deny ? "" : (i % 4 == 0 ? "hall-b" : "site");
  return {R"({"kind":"decision","time":"2026-11-22T03:04:)" + second + R"(.000Z",)" + head +
              R"(,"endpoint":"chat.completions","decision":")" + (deny ? "deny" : "allow") + R"(","rules":[")" +
              (deny ? "no-health-data" : "default-allow") + R"("],"detectors":{)" + (i % 3 ? R"("EMAIL":2)" : "") +
              R"(},"zones":["site","hall-b"],"payload_sha256":"00"})",
          R"({"kind":"outcome","time":"2026-11-22T03:04:)" + second + R"(.500Z",)" + head + R"(,"backend":")" + backend +
              R"(","zone":")" + zone + R"(","status":)" + (deny ? "403" : "200") + R"(,"output_detectors":{}})"};
}

struct Site {
  TempDir dir;
  std::filesystem::path keys = dir.path() / "keys";
  std::filesystem::path audit = dir.path() / "audit";
  std::string pub() const { return (keys / "audit-signing.pub").string(); }

  Site() {
    Run init = run({"keys", "init", "--dir", keys.string()});
    REQUIRE(init.status == 0);
  }

  void write(int first, int count) {
    std::vector<std::string> records;
    for (int i = 0; i < count; ++i) records.push_back(decision(first + i));
    write_records(records);
  }

  void write_records(const std::vector<std::string>& records, std::uint64_t segment_max_bytes = 64ULL << 20) {
    AuditOptions options;
    options.segment_max_bytes = segment_max_bytes;
    options.directory = audit;
    options.signing_key = keys / "audit-signing.key";
    options.checkpoint_every_records = 10;
    auto writer = AuditWriter::open(options);
    REQUIRE(writer.ok());
    std::vector<std::promise<bool>> done(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      writer.value()->append(records[i], [&done, i](const AppendResult& r) { done[i].set_value(r.ok); });
    }
    for (auto& d : done) REQUIRE(d.get_future().get());
    writer.value()->close();
  }
};

}  // namespace

TEST_CASE("keys init creates private key files and public keyrings, and keeps existing keys") {
  Site site;
  for (const char* name : {"audit-signing.key", "vault.key", "auditor.key"}) {
    struct stat st {};
    REQUIRE(::stat((site.keys / name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK(std::filesystem::exists(site.keys / "audit-signing.pub"));
  CHECK(std::filesystem::exists(site.keys / "auditor.pub"));
  Run again = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(again.status == 0);
  CHECK(again.out.find("kept     audit-signing key") != std::string::npos);
  Run list = run({"keys", "list", "--dir", site.keys.string()});
  CHECK(list.status == 0);
  CHECK(list.out.find("vault.key  secret  vault") != std::string::npos);
  ::chmod((site.keys / "vault.key").c_str(), 0644);
  Run unsafe = run({"keys", "list", "--dir", site.keys.string()});
  CHECK(unsafe.status == 1);
  CHECK(unsafe.out.find("UNSAFE: ") != std::string::npos);
  Run exported = run({"keys", "export-public", "audit-signing", "--dir", site.keys.string()});
  CHECK(exported.status == 0);
  CHECK(exported.out.find("sovereign-public-key-v1 audit-signing ") == 0);
  Run on_command_line = run({"keys", "init", "--passphrase=x"});
  CHECK(on_command_line.status == 2);
  CHECK(on_command_line.err.find("passphrases are never taken on the command line") != std::string::npos);
  Run misspelt = run({"keys", "list", "--dri", site.keys.string()});
  CHECK(misspelt.status == 2);
  CHECK(misspelt.err.find("unknown option '--dri'") != std::string::npos);
  Run equals = run({"keys", "list", "--dir=" + site.keys.string()});
  CHECK(equals.status == 1);  // the key made world-readable above is still reported
  CHECK(equals.out.find("UNSAFE: ") != std::string::npos);
  CHECK(run({"keys", "rotate", "gateway", "--dir", site.keys.string()}).status == 2);
}

TEST_CASE("audit verify passes a clean log and fails a tampered one, naming segment and offset") {
  Site site;
  site.write(0, 25);
  Run no_value = run({"audit", "verify", site.audit.string(), "--key"});
  CHECK(no_value.status == 2);
  CHECK(no_value.err.find("--key needs a value") != std::string::npos);
  Run clean = run({"audit", "verify", site.audit.string(), "--key", site.pub()});
  INFO(clean.out << clean.err);
  CHECK(clean.status == 0);
  CHECK(clean.out.find("1/1 segments valid, 25/25 records valid, 3/3 checkpoints valid") != std::string::npos);

  const auto segment = site.audit / "segment-000001.log";
  std::string bytes = read_bytes(segment);
  auto records = frames_tagged(bytes, FrameTag::record);
  bytes[records[3].offset + 30] ^= 0x20;
  write_bytes(segment, bytes);
  Run tampered = run({"audit", "verify", site.audit.string(), "--key", site.pub()});
  CHECK(tampered.status == 1);
  CHECK(tampered.out.find("FAIL segment-000001.log offset ") != std::string::npos);
  CHECK(tampered.out.find("root mismatch") != std::string::npos);
  CHECK(tampered.out.find("0/1 segments valid") != std::string::npos);

  CHECK(run({"audit", "verify", site.audit.string()}).status == 2);
  write_bytes(site.dir.path() / "garbage.pub", "not a key\n");
  Run garbage = run({"audit", "verify", site.audit.string(), "--key", (site.dir.path() / "garbage.pub").string()});
  CHECK(garbage.status == 2);
  CHECK(garbage.err.find("garbage.pub:1: expected 'sovereign-public-key-v1") != std::string::npos);
}

// Runs `command` and says whether it returned within a few seconds. A reader that waits in open(2)
// for the FIFO's writer (what a plain open of a FIFO does) is then released by opening the FIFO for
// writing as often as needed, so that the failing check ends instead of hanging the suite.
template <class Command>
auto without_waiting_on(const std::filesystem::path& fifo, Command command) {
  auto done = std::async(std::launch::async, command);
  const bool in_time = done.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  while (done.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // opens only while a reader waits
    if (writer >= 0) ::close(writer);
  }
  return std::pair{in_time, done.get()};
}

TEST_CASE("audit commands and vault check refuse a FIFO named like their files instead of waiting on it") {
  Site site;
  site.write(0, 12);
  const std::string dir = site.audit.string();
  const auto fifo = site.audit / "segment-000002.log";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::vector<std::vector<std::string>> readers = {
      {"audit", "verify", dir, "--key", site.pub()}, {"audit", "query", dir},    {"audit", "tail", dir},
      {"audit", "checkpoint", dir},                  {"audit", "prove", dir, "3"}};
  for (const auto& args : readers) {
    const auto [in_time, result] = without_waiting_on(fifo, [&] { return run(args); });
    const Run& r = result;
    INFO(args[1] << ": " << r.out << r.err);
    CHECK(in_time);
    CHECK(result.status != 0);
    CHECK((result.out + result.err).find(fifo.string() + ": not a regular file") != std::string::npos);
  }
  std::filesystem::remove(fifo);

  // The files an auditor names on the command line: a key, a proof, a kept checkpoint.
  const auto named = site.dir.path() / "named.fifo";
  REQUIRE(::mkfifo(named.c_str(), 0600) == 0);
  const std::vector<std::vector<std::string>> named_readers = {
      {"audit", "verify", dir, "--key", named.string()},
      {"audit", "verify", dir, "--key", site.pub(), "--checkpoint", named.string()},
      {"audit", "check-proof", named.string(), "--key", site.pub()}};
  for (const auto& args : named_readers) {
    const auto [in_time, result] = without_waiting_on(named, [&] { return run(args); });
    const Run& r = result;
    INFO(args[1] << ": " << r.out << r.err);
    CHECK(in_time);
    CHECK(result.status == 2);
    CHECK(result.err.find(named.string() + ": not a regular file") != std::string::npos);
  }

  // vault check reads DIR/mappings.vault.
  const auto vault = site.dir.path() / "vault";
  std::filesystem::create_directories(vault);
  const auto mappings = vault / VaultJournal::file_name;
  REQUIRE(::mkfifo(mappings.c_str(), 0600) == 0);
  auto [in_time, checked] = without_waiting_on(mappings, [&] { return VaultJournal::check(mappings, [](JournalRecord&) {}); });
  CHECK(in_time);
  REQUIRE_FALSE(checked.ok());
  CHECK(checked.error().message == mappings.string() + ": not a regular file");
}

TEST_CASE("a checkpoint kept from an earlier look catches records and segments cut from the end of the log") {
  Site site;
  site.write(0, 12);
  const std::string dir = site.audit.string();
  const auto kept_file = [&](const std::string& name) {
    Run latest = run({"audit", "checkpoint", dir});
    REQUIRE(latest.status == 0);
    write_bytes(site.dir.path() / name, latest.out);
    return (site.dir.path() / name).string();
  };
  const std::string first = kept_file("first.json");  // tree size 12
  site.write(12, 12);                                  // a second segment, 24 records
  const std::string second = kept_file("second.json");
  auto verify_with = [&](const std::string& kept) {
    return run({"audit", "verify", dir, "--key", site.pub(), "--checkpoint", kept});
  };
  Run grown = verify_with(first);
  INFO(grown.out << grown.err);
  CHECK(grown.status == 0);  // the log grew since: its first 12 records are still the ones signed then
  CHECK(verify_with(second).status == 0);

  // The last segment deleted whole: without the kept checkpoint the log looks complete.
  std::filesystem::remove(site.audit / "segment-000002.log");
  CHECK(run({"audit", "verify", dir, "--key", site.pub()}).status == 0);
  Run cut = verify_with(second);
  CHECK(cut.status == 1);
  CHECK(cut.out.find("the log holds 12 records, but the kept checkpoint of ") != std::string::npos);
  CHECK(cut.out.find("signed 24: records were removed from the end of the log") != std::string::npos);
  CHECK(verify_with(first).status == 0);

  // A rewritten record before the kept size: the root at that size differs.
  const auto segment = site.audit / "segment-000001.log";
  std::string bytes = read_bytes(segment);
  bytes[frames_tagged(bytes, FrameTag::record)[2].offset + 30] ^= 0x01;
  write_bytes(segment, bytes);
  Run rewritten = verify_with(first);
  CHECK(rewritten.status == 1);
  CHECK(rewritten.out.find("the kept checkpoint of ") != std::string::npos);
  CHECK(rewritten.out.find("was rewritten since that checkpoint was kept") != std::string::npos);

  // A kept checkpoint that is not one: refused before anything is read, naming the field.
  write_bytes(site.dir.path() / "bad.json", R"({"log_id":"00","tree_size":12})");
  Run bad = verify_with((site.dir.path() / "bad.json").string());
  CHECK(bad.status == 2);
  CHECK(bad.err.find("$.log_id: expected 32 hex digits") != std::string::npos);
}

TEST_CASE("a kept checkpoint edited or signed elsewhere is reported as such, never as records cut from the log") {
  Site site;
  site.write(0, 12);
  const std::string dir = site.audit.string();
  Run latest = run({"audit", "checkpoint", dir});
  REQUIRE(latest.status == 0);
  const auto kept_with = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string text = latest.out;
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    write_bytes(site.dir.path() / name, text);
    return (site.dir.path() / name).string();
  };
  const auto verify_with = [&](const std::string& kept, bool pruned = false) {
    std::vector<std::string> args = {"audit", "verify", dir, "--key", site.pub(), "--checkpoint", kept};
    if (pruned) args.push_back("--pruned");
    return run(args);
  };

  // Its tree size raised past the log's: the signature no longer covers it.
  Run raised = verify_with(kept_with("raised.json", R"("tree_size":12)", R"("tree_size":500)"));
  INFO(raised.out);
  CHECK(raised.status == 1);
  CHECK(raised.out.find("the kept checkpoint of ") != std::string::npos);
  CHECK(raised.out.find("(tree size 500): signature by key ") != std::string::npos);
  CHECK(raised.out.find("is invalid") != std::string::npos);
  CHECK(raised.out.find("records were removed") == std::string::npos);

  // Another log's checkpoint (signed by a key the auditor does not trust), of a larger tree.
  Site elsewhere;
  elsewhere.write(0, 30);
  Run other = run({"audit", "checkpoint", elsewhere.audit.string()});
  REQUIRE(other.status == 0);
  write_bytes(site.dir.path() / "other.json", other.out);
  Run untrusted = verify_with((site.dir.path() / "other.json").string());
  CHECK(untrusted.status == 1);
  CHECK(untrusted.out.find("records were removed") == std::string::npos);
  CHECK(untrusted.out.find("belongs to another audit log") != std::string::npos);

  // On a pruned log, a kept checkpoint before the pruning point whose size was lowered.
  std::vector<std::string> records;
  for (int i = 0; i < 600; ++i) records.push_back(decision(i));
  Site pruned_site;
  pruned_site.write_records(records, 65536);
  std::filesystem::remove(pruned_site.audit / "segment-000001.log");
  Run pruned_latest = run({"audit", "checkpoint", pruned_site.audit.string()});
  REQUIRE(pruned_latest.status == 0);
  std::string lowered = pruned_latest.out;
  const std::size_t size_at = lowered.find(R"("tree_size":600)");
  REQUIRE(size_at != std::string::npos);
  lowered.replace(size_at, 15, R"("tree_size":1)");
  write_bytes(pruned_site.dir.path() / "lowered.json", lowered);
  Run in_pruned = run({"audit", "verify", pruned_site.audit.string(), "--key", pruned_site.pub(), "--pruned",
                       "--checkpoint", (pruned_site.dir.path() / "lowered.json").string()});
  INFO(in_pruned.out);
  CHECK(in_pruned.status == 1);
  CHECK(in_pruned.out.find("(tree size 1): signature by key ") != std::string::npos);
  CHECK(in_pruned.out.find("lies in the pruned segments") == std::string::npos);
}

TEST_CASE("audit verify --pruned accepts a log whose oldest segment was deleted, and says so") {
  Site site;
  std::vector<std::string> records;
  for (int i = 0; i < 600; ++i) records.push_back(decision(i));
  site.write_records(records, 65536);
  REQUIRE(std::filesystem::exists(site.audit / "segment-000002.log"));
  std::filesystem::remove(site.audit / "segment-000001.log");
  Run strict = run({"audit", "verify", site.audit.string(), "--key", site.pub()});
  CHECK(strict.status == 1);
  CHECK(strict.out.find("segment segment-000001.log missing") != std::string::npos);
  Run pruned = run({"audit", "verify", site.audit.string(), "--key", site.pub(), "--pruned"});
  INFO(pruned.out << pruned.err);
  CHECK(pruned.status == 0);
  CHECK(pruned.out.find("note: segment segment-000001.log was pruned: the log's first ") != std::string::npos);
}

TEST_CASE("rotating the signing key keeps older checkpoints verifiable") {
  Site site;
  site.write(0, 12);
  Run rotated = run({"keys", "rotate", "audit-signing", "--dir", site.keys.string()});
  CHECK(rotated.status == 0);
  site.write(12, 12);
  Run verified = run({"audit", "verify", site.audit.string(), "--key", site.pub(), "--require-closed"});
  INFO(verified.out);
  CHECK(verified.status == 0);
  CHECK(verified.out.find("24/24 records valid") != std::string::npos);
}

TEST_CASE("audit query filters records and requests and prints table, json and csv") {
  Site site;
  std::vector<std::string> records;
  for (int i = 0; i < 20; ++i)
    for (auto& record : request_records(i)) records.push_back(std::move(record));
  site.write_records(records);  // 20 requests, 40 records; requests 0, 5, 10, 15 denied
  const std::string dir = site.audit.string();
  Run acme = run({"audit", "query", dir, "--tenant", "acme", "--format", "json"});
  CHECK(acme.status == 0);
  CHECK(count_lines(acme.out) == 20);
  // Request filters print both records of each request they select.
  Run denied = run({"audit", "query", dir, "--decision", "deny", "--format", "csv"});
  CHECK(count_lines(denied.out) == 1 + 8);
  CHECK(denied.out.find("leaf,time,kind,request_id") == 0);
  CHECK(count_lines(run({"audit", "query", dir, "--decision", "deny", "--kind", "outcome", "--format", "json"}).out) == 4);
  Run rule = run({"audit", "query", dir, "--rule", "no-health-data", "--format", "json"});
  CHECK(count_lines(rule.out) == 8);
  Run email = run({"audit", "query", dir, "--detector", "EMAIL", "--format", "json"});
  CHECK(count_lines(email.out) == 26);
  // The decision is in one record and the zone in the other: allowed requests that went to hall-b.
  Run hall_b = run({"audit", "query", dir, "--decision", "allow", "--zone", "hall-b", "--format", "json"});
  CHECK(count_lines(hall_b.out) == 8);
  for (const char* id : {"req-4\"", "req-8\"", "req-12\"", "req-16\""}) CHECK(hall_b.out.find(id) != std::string::npos);
  CHECK(hall_b.out.find("req-0\"") == std::string::npos);
  CHECK(run({"audit", "query", dir, "--decision", "deny", "--zone", "site"}).out.find("0 record(s)") != std::string::npos);
  Run window = run({"audit", "query", dir, "--since", "2026-11-22T03:04:05", "--until", "2026-11-22T03:04:10"});
  CHECK(window.out.find("10 record(s)") != std::string::npos);
  CHECK(window.out.find("req-5 ") != std::string::npos);
  Run table = run({"audit", "query", dir, "--zone", "site", "--limit", "3"});
  CHECK(table.out.find("3 record(s)") != std::string::npos);
  // Whole seconds with a Z mean .000 of that second; minutes and the Z alone are accepted too.
  Run zulu = run({"audit", "query", dir, "--since", "2026-11-22T03:04:05Z", "--until", "2026-11-22T03:04:10Z"});
  CHECK(zulu.status == 0);
  CHECK(zulu.out.find("10 record(s)") != std::string::npos);
  CHECK(run({"audit", "query", dir, "--since", "2026-11-22T03:04Z"}).out.find("40 record(s)") != std::string::npos);
  CHECK(run({"audit", "query", dir, "--until", "2026-11-22T03:04:05.000Z"}).out.find("10 record(s)") != std::string::npos);
  CHECK(run({"audit", "query", dir, "--since", "yesterday"}).status == 2);
  // Detector names match whatever their case; decisions and kinds are checked, not silently unmatched;
  // impossible dates are refused.
  CHECK(count_lines(run({"audit", "query", dir, "--detector", "email", "--format", "json"}).out) == 26);
  CHECK(count_lines(run({"audit", "query", dir, "--detector", "Email", "--format", "json"}).out) == 26);
  CHECK(count_lines(run({"audit", "query", dir, "--decision", "Deny", "--format", "json"}).out) == 8);
  Run maybe = run({"audit", "query", dir, "--decision", "maybe"});
  CHECK(maybe.status == 2);
  CHECK(maybe.err.find("--decision 'maybe' must be allow or deny") != std::string::npos);
  Run kind = run({"audit", "query", dir, "--kind", "outcomes"});
  CHECK(kind.status == 2);
  CHECK(kind.err.find("--kind 'outcomes' must be decision or outcome") != std::string::npos);
  for (const char* impossible : {"2026-13-45", "2026-02-29", "2026-11-31", "2026-11-22T24:00", "2026-11-22T03:60",
                                 "2026-11-22T03:04:61Z", "2026-11-22T0", "2026-11-22T03:04:05."}) {
    Run refused = run({"audit", "query", dir, "--since", impossible});
    INFO(impossible);
    CHECK(refused.status == 2);
    CHECK(refused.err.find("--since '" + std::string(impossible) + "' must look like 2026-11-22") != std::string::npos);
    CHECK(refused.out.find("record(s)") == std::string::npos);
  }
  CHECK(run({"audit", "query", dir, "--since", "2028-02-29", "--format", "json"}).status == 0);
  CHECK(run({"audit", "query", dir, "--since", "2026-11-22T03:04:05ZZ"}).status == 2);
  CHECK(run({"audit", "query", dir, "--format", "xml"}).status == 2);
  CHECK(run({"audit", "query", dir, "--colour"}).status == 2);
  // A range that ends before it starts, or where it starts, can match nothing: said, not printed empty.
  for (const auto& [since, until] : {std::pair{"2026-11-23", "2026-11-22"}, std::pair{"2026-11-22T03:04", "2026-11-22T03:04:00Z"},
                                     std::pair{"2026-11-22T03", "2026-11-22"}}) {
    Run backwards = run({"audit", "query", dir, "--since", since, "--until", until});
    INFO(since << " " << until);
    CHECK(backwards.status == 2);
    CHECK(backwards.err.find(std::string("--since ") + since + " is not before --until " + until +
                             ": no record can match (--until is exclusive)") != std::string::npos);
    CHECK(backwards.out.empty());
  }
  // Bounds of different precision compare as the instants they name.
  CHECK(run({"audit", "query", dir, "--since", "2026-11-22", "--until", "2026-11-22T03:04:05.5"}).out.find(
            "11 record(s)") != std::string::npos);
  Run last = run({"audit", "tail", dir, "-n", "3"});
  CHECK(last.status == 0);
  CHECK(count_lines(last.out) == 3);
  CHECK(last.out.find("39 {") != std::string::npos);
}

TEST_CASE("audit query and tail never print a record's control characters raw to the terminal") {
  Site site;
  // A forged record: JSON whose strings hold an escape sequence and a newline, and one that is raw bytes.
  site.write_records({R"({"kind":"decision","time":"2026-11-22T03:04:05.000Z","request_id":"req-\u001b[2J",)"
                      R"("tenant":"acme\nrow","rules":["r\u001b]0;title\u0007"]})",
                      "\x1b[31mnot json\r"});
  const std::string dir = site.audit.string();
  for (const std::string format : {"table", "csv"}) {
    Run query = run({"audit", "query", dir, "--format", format});
    INFO(format << ": " << query.out << query.err);
    CHECK(query.status == 0);
    CHECK(query.out.find('\x1b') == std::string::npos);
    CHECK(query.out.find('\x07') == std::string::npos);
    CHECK(query.out.find(R"(req-\u001b[2J)") != std::string::npos);
    CHECK(query.out.find(R"(acme\u000arow)") != std::string::npos);
    CHECK(count_lines(query.out) == (format == "table" ? 3U : 2U));  // header, one row (and the count)
  }
  Run tail = run({"audit", "tail", dir});
  INFO(tail.out);
  CHECK(tail.status == 0);
  CHECK(tail.out.find('\x1b') == std::string::npos);
  CHECK(tail.out.find('\r') == std::string::npos);
  CHECK(tail.out.find(R"(1 \u001b[31mnot json\u000d)") != std::string::npos);
  CHECK(count_lines(tail.out) == 2);
}

TEST_CASE("audit prove output checks offline with check-proof, and an altered proof fails") {
  Site site;
  site.write(0, 30);
  const std::string dir = site.audit.string();
  Run proof = run({"audit", "prove", dir, "7"});
  REQUIRE(proof.status == 0);
  write_bytes(site.dir.path() / "proof.json", proof.out);
  Run checked = run({"audit", "check-proof", (site.dir.path() / "proof.json").string(), "--key", site.pub()});
  CHECK(checked.status == 0);
  CHECK(checked.out.find("valid: record 7 is in the log") == 0);

  Run by_request = run({"audit", "prove", dir, "req-12"});
  CHECK(by_request.status == 0);
  CHECK(by_request.out.find("\"leaf_index\":12") != std::string::npos);
  CHECK(run({"audit", "prove", dir, "req-404"}).status == 1);

  std::string altered = proof.out;
  altered.replace(altered.find("\"leaf_index\":7"), 14, "\"leaf_index\":8");
  write_bytes(site.dir.path() / "altered.json", altered);
  Run rejected = run({"audit", "check-proof", (site.dir.path() / "altered.json").string(), "--key", site.pub()});
  CHECK(rejected.status == 1);
  CHECK(rejected.out.find("INVALID: ") == 0);

  // The readable time is not signed; one that disagrees with the signed time_ms was edited.
  std::string retimed = proof.out;
  const std::size_t time_at = retimed.find("\"time\":\"");
  REQUIRE(time_at != std::string::npos);
  retimed.replace(time_at + 8, 4, "1999");
  write_bytes(site.dir.path() / "retimed.json", retimed);
  Run retimed_check = run({"audit", "check-proof", (site.dir.path() / "retimed.json").string(), "--key", site.pub()});
  CHECK(retimed_check.status == 1);
  CHECK(retimed_check.out.find("$.checkpoint.time: '1999-") != std::string::npos);
  CHECK(retimed_check.out.find("the unsigned time field was altered") != std::string::npos);

  Run consistency = run({"audit", "prove-consistency", dir, "--from", "10"});
  REQUIRE(consistency.status == 0);
  write_bytes(site.dir.path() / "consistency.json", consistency.out);
  Run consistent = run({"audit", "check-proof", (site.dir.path() / "consistency.json").string(), "--key", site.pub()});
  CHECK(consistent.status == 0);
  CHECK(consistent.out.find("extends the log at tree size 10") != std::string::npos);
  Run latest = run({"audit", "checkpoint", dir});
  CHECK(latest.status == 0);
  CHECK(latest.out.find("\"tree_size\":30") != std::string::npos);
}

TEST_CASE("audit open decrypts captures with the auditor's secret key only") {
  Site site;
  auto store = CaptureStore::open(site.audit / "captures", site.keys / "auditor.pub");
  REQUIRE(store.ok());
  auto path = store->write({"req-1", "request", 1700000000000}, R"({"messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(path.ok());
  Run opened = run({"audit", "open", "--secret-key", (site.keys / "auditor.key").string(), path->string()});
  CHECK(opened.status == 0);
  CHECK(opened.out == R"({"messages":[{"role":"user","content":"hi"}]})");
  CHECK(opened.err.find("request req-1, request") != std::string::npos);
  Run wrong = run({"audit", "open", "--secret-key", (site.keys / "vault.key").string(), path->string()});
  CHECK(wrong.status == 2);
  CHECK(wrong.err.find("this is the vault secret key; this command needs the auditor secret key (auditor.key)") != std::string::npos);
  Run rotated = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  CHECK(rotated.status == 0);
  Run old_capture = run({"audit", "open", "--secret-key", (site.keys / "auditor.key").string(), path->string()});
  CHECK(old_capture.status == 1);
  CHECK(old_capture.err.find("sealed to auditor key ") != std::string::npos);
}

TEST_CASE("passphrase-protected keys from keys init open only with the passphrase in the environment") {
  TempDir dir;
  write_private(dir.path() / "pass", "a long passphrase\n");
  Run init = run({"keys", "init", "--dir", (dir.path() / "keys").string(), "--passphrase-file",
                  (dir.path() / "pass").string()});
  REQUIRE(init.status == 0);
  CHECK(init.out.find("passphrase-protected") != std::string::npos);
  AuditOptions options;
  options.directory = dir.path() / "audit";
  options.signing_key = dir.path() / "keys" / "audit-signing.key";
  auto refused = AuditWriter::open(options);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("is passphrase-protected") != std::string::npos);
  ::setenv("SOVEREIGN_KEY_PASSPHRASE_FILE", (dir.path() / "pass").c_str(), 1);
  auto opened = AuditWriter::open(options);
  ::unsetenv("SOVEREIGN_KEY_PASSPHRASE_FILE");
  CHECK(opened.ok());
}

TEST_CASE("keys init keeps an auditor key whose secret was moved off the host, and rotate works from auditor.pub") {
  Site site;
  const auto keyring = site.keys / "auditor.pub";
  auto before = read_public_keys(keyring);
  REQUIRE(before.ok());
  REQUIRE(before->size() == 1);
  // The operator follows keys init's advice: auditor.key leaves the host.
  const auto offsite = site.dir.path() / "offsite-auditor.key";
  std::filesystem::rename(site.keys / "auditor.key", offsite);

  Run again = run({"keys", "init", "--dir", site.keys.string()});
  INFO(again.out << again.err);
  CHECK(again.status == 0);
  CHECK(again.out.find("kept     auditor key " + before->back().key_id + " (public key in " + keyring.string() +
                       "; its secret is held elsewhere)") != std::string::npos);
  CHECK(again.out.find("Give ") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(site.keys / "auditor.key"));
  auto after_init = read_public_keys(keyring);
  REQUIRE(after_init.ok());
  CHECK(after_init->size() == 1);
  // Captures are still sealed to the key whose secret the auditor holds.
  auto store = CaptureStore::open(site.audit / "captures", keyring);
  REQUIRE(store.ok());
  auto capture = store->write({"req-1", "request", 1700000000000}, "body");
  REQUIRE(capture.ok());
  CHECK(run({"audit", "open", "--secret-key", offsite.string(), capture->string()}).out == "body");

  Run rotated = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  INFO(rotated.out << rotated.err);
  CHECK(rotated.status == 0);
  auto after_rotate = read_public_keys(keyring);
  REQUIRE(after_rotate.ok());
  REQUIRE(after_rotate->size() == 2);
  auto new_key = read_key_metadata(site.keys / "auditor.key");
  REQUIRE(new_key.ok());
  CHECK(new_key->key_id == after_rotate->back().key_id);
  CHECK(rotated.out.find("rotated  auditor key " + before->back().key_id + " -> " + new_key->key_id) !=
        std::string::npos);
  CHECK(rotated.out.find("remove it from this host") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(site.keys / ("auditor." + before->back().key_id + ".key")));

  // With neither the secret nor the keyring there is nothing to rotate.
  std::filesystem::remove(site.keys / "auditor.key");
  std::filesystem::remove(keyring);
  Run nothing = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  CHECK(nothing.status == 1);
  CHECK(nothing.err.find("do not exist (run 'sovereign keys init' first)") != std::string::npos);
}

TEST_CASE("keys init says when a key it keeps is readable by others, which the gateway would refuse") {
  Site site;
  ::chmod((site.keys / "vault.key").c_str(), 0644);
  Run again = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(again.status == 1);
  CHECK(again.out.find("kept     vault key ") != std::string::npos);
  CHECK(again.out.find("UNSAFE   " + (site.keys / "vault.key").string() +
                       ": permissions 0644 let group or others read a secret; run: chmod 600 " +
                       (site.keys / "vault.key").string()) != std::string::npos);
  ::chmod((site.keys / "vault.key").c_str(), 0600);
  Run fixed = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(fixed.status == 0);
  CHECK(fixed.out.find("UNSAFE") == std::string::npos);
}

// Keys made by keys init under the passphrase in `pass`; `other` holds a different passphrase.
struct ProtectedKeys {
  TempDir dir;
  std::filesystem::path keys = dir.path() / "keys";
  std::string pass = (dir.path() / "pass").string();
  std::string other = (dir.path() / "other").string();

  ProtectedKeys() {
    write_private(pass, "a long passphrase\n");
    write_private(other, "another passphrase\n");
    REQUIRE(run({"keys", "init", "--dir", keys.string(), "--passphrase-file", pass}).status == 0);
  }
};

TEST_CASE("keys init adds a missing key only with the protection and passphrase of the keys there") {
  ProtectedKeys site;
  const auto& keys = site.keys;
  const std::string& pass = site.pass;
  const std::string& other = site.other;
  std::filesystem::remove(keys / "vault.key");

  // The gateway reads one passphrase for all of its keys: a vault key under another passphrase, or
  // none, would not open beside the others (or would sit unprotected among protected keys).
  Run different = run({"keys", "init", "--dir", keys.string(), "--passphrase-file", other});
  CHECK(different.status == 1);
  CHECK(different.err.find("the passphrase given does not open " + (keys / "audit-signing.key").string()) !=
        std::string::npos);
  CHECK(different.err.find("so run keys init with the one they use") != std::string::npos);
  Run none = run({"keys", "init", "--dir", keys.string()});
  CHECK(none.status == 1);
  CHECK(none.err.find((keys / "audit-signing.key").string() +
                      " is passphrase-protected, and keys init gives the keys it adds that protection") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(keys / "vault.key"));

  Run same = run({"keys", "init", "--dir", keys.string(), "--passphrase-file", pass});
  INFO(same.out << same.err);
  CHECK(same.status == 0);
  CHECK(same.out.find("created  vault key ") != std::string::npos);
  auto secret = read_passphrase_file(pass);
  REQUIRE(secret.ok());
  CHECK(read_secret_key_file(keys / "vault.key", &secret.value(), KeyKind::vault).ok());

  // Unprotected keys get no protected neighbour either; with every key there, nothing is checked.
  Site plain;
  std::filesystem::remove(plain.keys / "vault.key");
  Run protect_one = run({"keys", "init", "--dir", plain.keys.string(), "--passphrase-file", pass});
  CHECK(protect_one.status == 1);
  CHECK(protect_one.err.find("audit-signing.key is not passphrase-protected") != std::string::npos);
  CHECK(run({"keys", "init", "--dir", plain.keys.string()}).status == 0);
  CHECK(run({"keys", "init", "--dir", plain.keys.string(), "--passphrase-file", pass}).status == 0);
}

TEST_CASE("keys list and export-public read no passphrase, so a passphrase setting cannot stop them") {
  Site site;
  ::setenv("SOVEREIGN_KEY_PASSPHRASE_FILE", (site.dir.path() / "no-such-file").c_str(), 1);
  Run list = run({"keys", "list", "--dir", site.keys.string()});
  Run exported = run({"keys", "export-public", "auditor", "--dir", site.keys.string()});
  Run init = run({"keys", "init", "--dir", site.keys.string()});
  ::unsetenv("SOVEREIGN_KEY_PASSPHRASE_FILE");
  CHECK(list.status == 0);
  CHECK(list.out.find("vault.key  secret  vault") != std::string::npos);
  CHECK(exported.status == 0);
  CHECK(exported.out.find("sovereign-public-key-v1 auditor ") == 0);
  // The commands that write keys still read it, and say what is wrong with it.
  CHECK(init.status == 2);
  CHECK(init.err.find("SOVEREIGN_KEY_PASSPHRASE_FILE: " + (site.dir.path() / "no-such-file").string()) !=
        std::string::npos);
  Run given = run({"keys", "list", "--dir", site.keys.string(), "--passphrase-file", "pass"});
  CHECK(given.status == 2);
  CHECK(given.err.find("--passphrase-file is for init and rotate") != std::string::npos);
}

namespace {

// The key ids a keyring holds, in order.
std::vector<std::string> keyring_ids(const std::filesystem::path& keyring) {
  auto keys = read_public_keys(keyring);
  REQUIRE(keys.ok());
  std::vector<std::string> ids;
  for (const auto& key : keys.value()) ids.push_back(key.key_id);
  return ids;
}

}  // namespace

TEST_CASE("rotating a signing key the keyring lacks records its public key first, so its checkpoints still verify") {
  for (const bool lost : {true, false}) {
    CAPTURE(lost);
    Site site;
    site.write(0, 12);
    const auto signing_pub = site.keys / "audit-signing.pub";
    auto old_key = read_key_metadata(site.keys / "audit-signing.key");
    REQUIRE(old_key.ok());
    // The keyring was lost, or copied from another site: either way it lacks the key that signed.
    Site elsewhere;
    std::filesystem::remove(signing_pub);
    if (!lost) std::filesystem::copy_file(elsewhere.keys / "audit-signing.pub", signing_pub);
    const std::vector<std::string> before = lost ? std::vector<std::string>{} : keyring_ids(signing_pub);

    Run rotated = run({"keys", "rotate", "audit-signing", "--dir", site.keys.string()});
    INFO(rotated.out << rotated.err);
    REQUIRE(rotated.status == 0);
    auto new_key = read_key_metadata(site.keys / "audit-signing.key");
    REQUIRE(new_key.ok());
    std::vector<std::string> expected = before;
    expected.push_back(old_key->key_id);
    expected.push_back(new_key->key_id);
    CHECK(keyring_ids(signing_pub) == expected);
    CHECK(rotated.out.find("recorded old audit-signing key " + old_key->key_id + " in " + signing_pub.string() +
                           (lost ? " (the file was missing: recreated from " : " (it held other keys only: derived from ") +
                           (site.keys / "audit-signing.key").string() + ")\n") == 0);
    // It does not claim a keyring that lost keys keeps every one.
    CHECK(rotated.out.find("keeps every public key") == std::string::npos);
    CHECK(rotated.out.find("any signed by keys before " + old_key->key_id + " need the keyring that held them") !=
          std::string::npos);

    site.write(12, 12);
    Run verified = run({"audit", "verify", site.audit.string(), "--key", site.pub(), "--require-closed"});
    INFO(verified.out);
    CHECK(verified.status == 0);
    CHECK(verified.out.find("24/24 records valid") != std::string::npos);
  }
}

TEST_CASE("keys rotate refuses to replace a secret whose public key the keyring lacks and cannot be derived") {
  Site site;
  const auto key_file = site.keys / "audit-signing.key";
  const auto signing_pub = site.keys / "audit-signing.pub";
  std::filesystem::remove(signing_pub);
  // Another secret under the same key-id: the public key derived from it would not be the one that signed.
  std::string text = read_bytes(key_file);
  const std::size_t secret_at = text.find("secret: ") + 8;
  text.replace(secret_at, 64, std::string(64, 'a'));
  write_private(key_file, text);
  Run rotated = run({"keys", "rotate", "audit-signing", "--dir", site.keys.string()});
  CHECK(rotated.status == 1);
  CHECK(rotated.err.find(signing_pub.string() + " does not hold the public key of " + key_file.string()) !=
        std::string::npos);
  CHECK(rotated.err.find("does not match the key") != std::string::npos);
  CHECK(rotated.err.find("; nothing was changed\n") != std::string::npos);
  CHECK(read_bytes(key_file) == text);
  CHECK_FALSE(std::filesystem::exists(signing_pub));
}

TEST_CASE("rotating an auditor key the keyring lacks records the old public key beside the kept secret") {
  Site site;
  const auto auditor_pub = site.keys / "auditor.pub";
  auto old_key = read_key_metadata(site.keys / "auditor.key");
  REQUIRE(old_key.ok());
  std::filesystem::remove(auditor_pub);
  Run rotated = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  INFO(rotated.out << rotated.err);
  REQUIRE(rotated.status == 0);
  CHECK(rotated.out.find("recorded old auditor key " + old_key->key_id + " in " + auditor_pub.string() +
                         " (the file was missing: recreated from ") == 0);
  auto new_key = read_key_metadata(site.keys / "auditor.key");
  REQUIRE(new_key.ok());
  CHECK(keyring_ids(auditor_pub) == std::vector<std::string>{old_key->key_id, new_key->key_id});
  CHECK(std::filesystem::exists(site.keys / ("auditor." + old_key->key_id + ".key")));
}

TEST_CASE("keys init recreates a missing keyring from the secret it keeps, with the passphrase of a protected one") {
  Site site;
  const auto signing_pub = site.keys / "audit-signing.pub";
  site.write(0, 12);
  auto key = read_key_metadata(site.keys / "audit-signing.key");
  REQUIRE(key.ok());
  std::filesystem::remove(signing_pub);
  Run again = run({"keys", "init", "--dir", site.keys.string()});
  INFO(again.out << again.err);
  CHECK(again.status == 0);
  CHECK(again.out.find("kept     audit-signing key " + key->key_id + " (" + (site.keys / "audit-signing.key").string() +
                       ")\nrecorded audit-signing key " + key->key_id + " in " + signing_pub.string() +
                       " (the file was missing: recreated from ") != std::string::npos);
  CHECK(keyring_ids(signing_pub) == std::vector<std::string>{key->key_id});
  Run verified = run({"audit", "verify", site.audit.string(), "--key", site.pub(), "--require-closed"});
  CHECK(verified.status == 0);
  // Nothing to repair: nothing said.
  Run complete = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(complete.out.find("recorded") == std::string::npos);

  // A protected key is opened only to repair its keyring, and so needs the passphrase then.
  ProtectedKeys protected_site;
  const auto protected_pub = protected_site.keys / "audit-signing.pub";
  CHECK(run({"keys", "init", "--dir", protected_site.keys.string()}).status == 0);
  std::filesystem::remove(protected_pub);
  Run without = run({"keys", "init", "--dir", protected_site.keys.string()});
  CHECK(without.status == 1);
  CHECK(without.err.find(protected_pub.string() + " does not hold the public key of ") != std::string::npos);
  CHECK(without.err.find("the key is passphrase-protected; pass --passphrase-file FILE") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(protected_pub));
  Run with = run({"keys", "init", "--dir", protected_site.keys.string(), "--passphrase-file", protected_site.pass});
  INFO(with.out << with.err);
  CHECK(with.status == 0);
  CHECK(with.out.find("recorded audit-signing key ") != std::string::npos);
  CHECK(keyring_ids(protected_pub).size() == 1);
}

TEST_CASE("keys rotate and init refuse a damaged keyring before they change anything") {
  Site site;
  const auto signing_pub = site.keys / "audit-signing.pub";
  const std::string damaged = "garbage\n" + read_bytes(signing_pub);
  write_bytes(signing_pub, damaged);
  auto before = read_key_metadata(site.keys / "audit-signing.key");
  REQUIRE(before.ok());
  Run rotated = run({"keys", "rotate", "audit-signing", "--dir", site.keys.string()});
  CHECK(rotated.status == 1);
  CHECK(rotated.err.find(signing_pub.string() + ":1: expected 'sovereign-public-key-v1 KIND KEY-ID PUBLIC-KEY-HEX "
                         "CREATED'; nothing was changed: restore " + signing_pub.string()) != std::string::npos);
  auto after = read_key_metadata(site.keys / "audit-signing.key");
  REQUIRE(after.ok());
  CHECK(after->key_id == before->key_id);
  CHECK(read_bytes(signing_pub) == damaged);

  // keys init adding a missing key to a damaged keyring: refused too, and no secret is written.
  std::filesystem::remove(site.keys / "audit-signing.key");
  Run init = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(init.status == 1);
  CHECK(init.err.find("nothing was changed") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(site.keys / "audit-signing.key"));

  // A keyring of another kind: the auditor key is not moved aside, the keyring not appended to.
  Site other;
  const auto auditor_pub = other.keys / "auditor.pub";
  write_bytes(auditor_pub, read_bytes(other.keys / "audit-signing.pub"));
  Run wrong_kind = run({"keys", "rotate", "auditor", "--dir", other.keys.string()});
  CHECK(wrong_kind.status == 1);
  CHECK(wrong_kind.err.find(auditor_pub.string() + ": holds audit-signing key ") != std::string::npos);
  CHECK(wrong_kind.err.find("but it is the keyring of auditor keys; nothing was changed") != std::string::npos);
  CHECK(std::filesystem::exists(other.keys / "auditor.key"));
  CHECK(read_bytes(auditor_pub) == read_bytes(other.keys / "audit-signing.pub"));
}

TEST_CASE("keys rotate keeps passphrase protection and takes only the passphrase the other keys use") {
  ProtectedKeys site;
  const auto& keys = site.keys;
  const std::string& pass = site.pass;
  const std::string& other = site.other;
  auto original = read_key_metadata(keys / "audit-signing.key");
  REQUIRE(original.ok());

  Run unprotected = run({"keys", "rotate", "audit-signing", "--dir", keys.string()});
  CHECK(unprotected.status == 1);
  CHECK(unprotected.err.find("audit-signing.key is passphrase-protected, and rotation keeps that protection") !=
        std::string::npos);
  Run wrong = run({"keys", "rotate", "audit-signing", "--dir", keys.string(), "--passphrase-file", other});
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("the passphrase given does not open " + (keys / "audit-signing.key").string()) !=
        std::string::npos);
  auto unchanged = read_key_metadata(keys / "audit-signing.key");
  REQUIRE(unchanged.ok());
  CHECK(unchanged->key_id == original->key_id);

  Run rotated = run({"keys", "rotate", "audit-signing", "--dir", keys.string(), "--passphrase-file", pass});
  INFO(rotated.out << rotated.err);
  CHECK(rotated.status == 0);
  CHECK(rotated.out.find("(passphrase-protected)") != std::string::npos);
  auto rotated_key = read_key_metadata(keys / "audit-signing.key");
  REQUIRE(rotated_key.ok());
  CHECK(rotated_key->key_id != original->key_id);
  CHECK(rotated_key->passphrase_protected);
  auto secret = read_passphrase_file(pass);
  REQUIRE(secret.ok());
  CHECK(read_secret_key_file(keys / "audit-signing.key", &secret.value(), KeyKind::audit_signing).ok());

  // An auditor key held elsewhere is rotated with the protection of the keys still here.
  std::filesystem::remove(keys / "auditor.key");
  CHECK(run({"keys", "rotate", "auditor", "--dir", keys.string()}).status == 1);
  CHECK(run({"keys", "rotate", "auditor", "--dir", keys.string(), "--passphrase-file", other}).status == 1);
  CHECK(run({"keys", "rotate", "auditor", "--dir", keys.string(), "--passphrase-file", pass}).status == 0);
  auto auditor = read_key_metadata(keys / "auditor.key");
  REQUIRE(auditor.ok());
  CHECK(auditor->passphrase_protected);

  // Unprotected keys stay unprotected: a passphrase is refused rather than protecting one key alone.
  Site plain;
  Run protect_one = run({"keys", "rotate", "vault", "--dir", plain.keys.string(), "--passphrase-file", pass});
  CHECK(protect_one.status == 1);
  CHECK(protect_one.err.find("vault.key is not passphrase-protected") != std::string::npos);
  CHECK(run({"keys", "rotate", "vault", "--dir", plain.keys.string()}).status == 0);
  auto vault = read_key_metadata(plain.keys / "vault.key");
  REQUIRE(vault.ok());
  CHECK_FALSE(vault->passphrase_protected);
}

TEST_CASE("check-proof --checkpoint holds a proof to the checkpoint the auditor kept, not the log's own") {
  Site site;
  site.write(0, 10);
  const std::string dir = site.audit.string();
  const auto file = [&](const std::string& name, const std::string& text) {
    write_bytes(site.dir.path() / name, text);
    return (site.dir.path() / name).string();
  };
  Run latest = run({"audit", "checkpoint", dir});
  REQUIRE(latest.status == 0);
  const std::string kept = file("kept.json", latest.out);  // tree size 10
  site.write(10, 20);                                       // tree size 30
  Run proof = run({"audit", "prove-consistency", dir, "--from", "10"});
  REQUIRE(proof.status == 0);
  const std::string consistency = file("consistency.json", proof.out);
  auto check = [&](const std::string& proof_file, const std::string& kept_file) {
    return run({"audit", "check-proof", proof_file, "--key", site.pub(), "--checkpoint", kept_file});
  };

  Run alone = run({"audit", "check-proof", consistency, "--key", site.pub()});
  CHECK(alone.status == 0);
  CHECK(alone.out.find("the proof is consistent in itself; pass --checkpoint KEPT.json") != std::string::npos);
  Run held = check(consistency, kept);
  INFO(held.out << held.err);
  CHECK(held.status == 0);
  CHECK(held.out.find("extends the checkpoint you kept, at tree size 10") != std::string::npos);

  // The log was rewritten and re-signed with the gateway's key: the auditor's copy of tree size 10
  // signed another root than the one the rewritten log embeds in its proof.
  auto key = read_secret_key_file(site.keys / "audit-signing.key", nullptr, KeyKind::audit_signing);
  REQUIRE(key.ok());
  auto signer = CheckpointSigner::from_key(key.value());
  REQUIRE(signer.ok());
  auto original = checkpoint_from_json(latest.out);
  REQUIRE(original.ok());
  Checkpoint before_rewrite = original.value();
  before_rewrite.root[0] ^= 0x01;
  signer->sign(before_rewrite);
  Run rewritten = check(consistency, file("before-rewrite.json", checkpoint_to_json(before_rewrite)));
  CHECK(rewritten.status == 1);
  CHECK(rewritten.out.find("INVALID: ") == 0);
  CHECK(rewritten.out.find("the log was rewritten and re-signed since that checkpoint was kept") != std::string::npos);

  // A kept checkpoint altered after signing is refused on its signature.
  Checkpoint forged = original.value();
  forged.root[0] ^= 0x01;
  Run unsigned_kept = check(consistency, file("forged.json", checkpoint_to_json(forged)));
  CHECK(unsigned_kept.status == 1);
  CHECK(unsigned_kept.out.find("the kept checkpoint ") != std::string::npos);

  // A proof from another tree size does not start at the kept checkpoint.
  Run from_20 = run({"audit", "prove-consistency", dir, "--from", "20"});
  REQUIRE(from_20.status == 0);
  Run elsewhere = check(file("from-20.json", from_20.out), kept);
  CHECK(elsewhere.status == 1);
  CHECK(elsewhere.out.find("the proof's old checkpoint is at tree size 20, the kept checkpoint at 10") !=
        std::string::npos);

  // Inclusion proofs rest on the kept checkpoint too when one is given.
  Run inclusion = run({"audit", "prove", dir, "3"});
  REQUIRE(inclusion.status == 0);
  const std::string inclusion_file = file("inclusion.json", inclusion.out);
  Run now = run({"audit", "checkpoint", dir});
  REQUIRE(now.status == 0);
  CHECK(check(inclusion_file, file("now.json", now.out)).status == 0);
  Run older = check(inclusion_file, kept);
  CHECK(older.status == 1);
  CHECK(older.out.find("the proof's checkpoint is at tree size 30, the kept checkpoint at 10; ask for a proof from "
                       "the kept tree size (audit prove DIR 3 --tree-size 10)") != std::string::npos);
  // ... which prove makes: the record under the kept checkpoint, which then checks against it.
  Run at_kept = run({"audit", "prove", dir, "3", "--tree-size", "10"});
  INFO(at_kept.out << at_kept.err);
  REQUIRE(at_kept.status == 0);
  Run under_kept = check(file("inclusion-10.json", at_kept.out), kept);
  INFO(under_kept.out);
  CHECK(under_kept.status == 0);
  CHECK(under_kept.out.find("valid: record 3 is in the log under the checkpoint at tree size 10") != std::string::npos);
  Run past = run({"audit", "prove", dir, "12", "--tree-size", "10"});
  CHECK(past.status == 1);
  CHECK(past.err.find("record 12 is not in the tree of size 10; prove it under a later checkpoint") != std::string::npos);
  Run no_such = run({"audit", "prove", dir, "3", "--tree-size", "15"});
  CHECK(no_such.status == 1);
  CHECK(no_such.err.find("no checkpoint with tree size 15 in the log") != std::string::npos);
  CHECK(run({"audit", "prove", dir, "3", "--tree-size", "ten"}).status == 2);
}

TEST_CASE("audit open takes --passphrase-file for a protected auditor key, as its error message says") {
  TempDir dir;
  const auto keys = dir.path() / "keys";
  const std::string pass = (dir.path() / "pass").string();
  write_private(pass, "a long passphrase\n");
  write_private(dir.path() / "other", "another passphrase\n");
  REQUIRE(run({"keys", "init", "--dir", keys.string(), "--passphrase-file", pass}).status == 0);
  auto store = CaptureStore::open(dir.path() / "captures", keys / "auditor.pub");
  REQUIRE(store.ok());
  auto capture = store->write({"req-1", "request", 1700000000000}, "sealed body");
  REQUIRE(capture.ok());
  const std::string secret = (keys / "auditor.key").string();

  Run without = run({"audit", "open", "--secret-key", secret, capture->string()});
  CHECK(without.status == 2);
  CHECK(without.err.find("pass --passphrase-file FILE (serve, keys, audit open)") != std::string::npos);
  Run opened = run({"audit", "open", "--secret-key", secret, "--passphrase-file", pass, capture->string()});
  INFO(opened.out << opened.err);
  CHECK(opened.status == 0);
  CHECK(opened.out == "sealed body");
  Run wrong = run({"audit", "open", "--secret-key", secret, "--passphrase-file", (dir.path() / "other").string(),
                   capture->string()});
  CHECK(wrong.status == 2);
  CHECK(wrong.err.find("wrong passphrase") != std::string::npos);
  Run missing = run({"audit", "open", "--secret-key", secret, "--passphrase-file", (dir.path() / "none").string(),
                     capture->string()});
  CHECK(missing.status == 2);
  CHECK(missing.err.find("--passphrase-file: " + (dir.path() / "none").string() + ": cannot stat") != std::string::npos);
  // A passphrase file others can read is refused like a key file, with the fix.
  ::chmod(pass.c_str(), 0640);
  Run readable = run({"audit", "open", "--secret-key", secret, "--passphrase-file", pass, capture->string()});
  CHECK(readable.status == 2);
  CHECK(readable.err.find("--passphrase-file: " + pass + ": permissions 0640 let group or others read a secret; run: "
                          "chmod 600 " + pass) != std::string::npos);
  CHECK(readable.out.empty());
}

TEST_CASE("keys rotate refuses an old key others can read, or a link, and keys init flags a kept one") {
  Site site;
  const auto auditor = site.keys / "auditor.key";
  ::chmod(auditor.c_str(), 0640);
  Run refused = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  CHECK(refused.status == 1);
  CHECK(refused.err.find(auditor.string() + ": permissions 0640 let group or others read a secret; run: chmod 600 " +
                         auditor.string()) != std::string::npos);
  CHECK(refused.err.find("nothing was changed") != std::string::npos);
  CHECK(std::filesystem::exists(auditor));  // not renamed
  for (KeyKind kind : {KeyKind::audit_signing, KeyKind::vault}) {
    const auto path = site.keys / (std::string(key_kind_name(kind)) + ".key");
    ::chmod(path.c_str(), 0644);
    Run other = run({"keys", "rotate", std::string(key_kind_name(kind)), "--dir", site.keys.string()});
    CHECK(other.status == 1);
    CHECK(other.err.find("permissions 0644") != std::string::npos);
    ::chmod(path.c_str(), 0600);
  }

  // A link to the secret: rotation would rename the link, not the secret.
  ::chmod(auditor.c_str(), 0600);
  const auto elsewhere = site.dir.path() / "auditor-elsewhere.key";
  std::filesystem::rename(auditor, elsewhere);
  std::filesystem::create_symlink(elsewhere, auditor);
  Run linked = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  CHECK(linked.status == 1);
  CHECK(linked.err.find(auditor.string() + ": is a symbolic link") != std::string::npos);
  CHECK(std::filesystem::is_symlink(auditor));
  std::filesystem::remove(auditor);
  std::filesystem::rename(elsewhere, auditor);

  // A rotation of a private key works; the old key it keeps is then checked by keys init.
  Run rotated = run({"keys", "rotate", "auditor", "--dir", site.keys.string()});
  REQUIRE(rotated.status == 0);
  const auto kept = kept_auditor_keys(site.keys);
  REQUIRE(kept.size() == 1);
  struct stat st {};
  REQUIRE(::stat(kept[0].c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  ::chmod(kept[0].c_str(), 0640);
  Run init = run({"keys", "init", "--dir", site.keys.string()});
  CHECK(init.status == 1);
  CHECK(init.out.find("UNSAFE   " + kept[0].string() + ": permissions 0640") != std::string::npos);
}

TEST_CASE("audit verify of a directory that is not there is unusable input (exit 2); open --out names a missing directory") {
  Site site;
  site.write(0, 5);
  Run missing = run({"audit", "verify", (site.dir.path() / "nodir").string(), "--key", site.pub()});
  CHECK(missing.status == 2);
  CHECK(missing.err.find("nodir: no such directory") != std::string::npos);
  write_bytes(site.dir.path() / "afile", "x");
  Run file = run({"audit", "verify", (site.dir.path() / "afile").string(), "--key", site.pub()});
  CHECK(file.status == 2);
  CHECK(file.err.find("afile: not a directory") != std::string::npos);
  CHECK(run({"audit", "verify", site.audit.string(), "--key", site.pub()}).status == 0);

  auto store = CaptureStore::open(site.audit / "captures", site.keys / "auditor.pub");
  REQUIRE(store.ok());
  auto path = store->write({"req-1", "request", 1700000000000}, "{}");
  REQUIRE(path.ok());
  const std::string out = (site.dir.path() / "opened").string();
  Run no_out = run({"audit", "open", "--secret-key", (site.keys / "auditor.key").string(), "--out", out, path->string()});
  CHECK(no_out.status == 2);
  CHECK(no_out.err == "sovereign audit: --out " + out + ": the directory does not exist (create it first)\n");
  std::filesystem::create_directory(out);
  Run opened = run({"audit", "open", "--secret-key", (site.keys / "auditor.key").string(), "--out", out, path->string()});
  CHECK(opened.status == 0);
  CHECK(read_bytes(std::filesystem::path(out) / (path->filename().string() + ".body")) == "{}");
}

TEST_CASE("audit options given a number past their range say so and name the maximum") {
  Site site;
  site.write(0, 3);
  const std::string dir = site.audit.string();
  const std::string huge = "99999999999999999999";
  const std::string too_large = " " + huge + " is too large: at most 18446744073709551615";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"audit", "tail", dir, "-n", huge}, "-n" + too_large},
      {{"audit", "query", dir, "--limit", huge}, "--limit" + too_large},
      {{"audit", "prove", dir, "1", "--tree-size", huge}, "--tree-size" + too_large},
      {{"audit", "prove-consistency", dir, "--from", huge}, "--from" + too_large},
      {{"audit", "prove-consistency", dir, "--from", "1", "--to", huge}, "--to" + too_large},
      {{"audit", "tail", dir, "-n", "ten"}, "-n needs a whole number, got 'ten'"}};
  for (const auto& [args, message] : cases) {
    Run r = run(args);
    INFO(args[1] << ": " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find("sovereign audit: " + message + "\n") != std::string::npos);
  }
  Run largest = run({"audit", "tail", dir, "-n", "18446744073709551615"});
  CHECK(largest.status == 0);
  CHECK(count_lines(largest.out) == 3);
}

TEST_CASE("a key file of another kind is named as such, never refused for its permissions or shape") {
  Site site;
  site.write(0, 3);
  auto store = CaptureStore::open(site.audit / "captures", site.keys / "auditor.pub");
  REQUIRE(store.ok());
  auto capture = store->write({"req-1", "request", 1700000000000}, R"({"messages":[]})");
  REQUIRE(capture.ok());
  const auto key = [&](const char* name) { return (site.keys / name).string(); };
  const std::string dir = site.audit.string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      // Public keyrings (0644 by design) given as the secret key.
      {{"audit", "open", "--secret-key", key("auditor.pub"), capture->string()},
       key("auditor.pub") + ": this is the auditor public keyring; this command needs the auditor secret key (auditor.key)"},
      {{"audit", "open", "--secret-key", key("audit-signing.pub"), capture->string()},
       key("audit-signing.pub") +
           ": this is the audit-signing public keyring; this command needs the auditor secret key (auditor.key)"},
      // Secret keys given as the public keyring.
      {{"audit", "verify", dir, "--key", key("audit-signing.key")},
       key("audit-signing.key") + ": this is the audit-signing secret key; this command needs the audit-signing " +
           "public keyring (audit-signing.pub), which holds no secret"},
      {{"audit", "verify", dir, "--key", key("auditor.key")},
       key("auditor.key") + ": this is the auditor secret key; this command needs the audit-signing public keyring " +
           "(audit-signing.pub), which holds no secret"},
      {{"audit", "check-proof", key("vault.key"), "--key", key("vault.key")},
       key("vault.key") + ": this is the vault secret key; this command needs the audit-signing public keyring " +
           "(audit-signing.pub), which holds no secret"},
  };
  for (const Case& c : cases) {
    Run r = run(c.args);
    INFO(c.args[1] << " " << c.args[2] << ": " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find("sovereign audit: " + c.message + "\n") != std::string::npos);
    CHECK(r.err.find("permissions") == std::string::npos);
  }
  // The secret of a key given in the wrong place is never quoted back.
  const std::string signing = read_bytes(site.keys / "audit-signing.key");
  const std::string secret = signing.substr(signing.find("secret: ") + 8, 64);
  CHECK(run({"audit", "verify", dir, "--key", key("audit-signing.key")}).err.find(secret) == std::string::npos);
}

TEST_CASE("audit query says why it skips a record: nested too deep, not JSON, or not an object") {
  Site site;
  const std::string deep = R"({"kind":"decision","nested":)" + std::string(40, '[') + std::string(40, ']') + "}";
  site.write_records({decision(0), deep, "[1,2]", "{\"kind\":", decision(4)});
  Run r = run({"audit", "query", site.audit.string(), "--format", "json"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(count_lines(r.out) == 2);
  CHECK(r.err.find(": record 1 is nested deeper than the 32 levels of objects and arrays the reader takes; skipped\n") !=
        std::string::npos);
  CHECK(r.err.find(": record 2 is not a JSON object; skipped\n") != std::string::npos);
  CHECK(r.err.find(": record 3 is not valid JSON (") != std::string::npos);
}
