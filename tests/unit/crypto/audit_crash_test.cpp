// kill -9 of a process that is appending in strict mode: afterwards the log verifies, every record
// whose on_durable reported success is in it, and reopening signs and closes what was left.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "crypto/audit_reader.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/audit_writer.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

// Child: appends numbered records forever from four threads; reports each acknowledged
// (leaf index, record number) pair on the pipe.
[[noreturn]] void append_until_killed(const std::filesystem::path& dir, const SecretKey& key, int ack_fd) {
  AuditOptions options;
  options.directory = dir;
  options.durability = Durability::strict;
  options.checkpoint_every_records = 50;
  options.segment_max_bytes = 65536;
  auto writer = AuditWriter::open(options, key);
  if (!writer) _exit(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t n = static_cast<std::uint64_t>(t);; n += 4) {
        writer.value()->append("{\"record\":" + std::to_string(n) + "}", [ack_fd, n](const AppendResult& r) {
          if (!r.ok) return;
          const std::uint64_t pair[2] = {r.leaf_index, n};
          if (::write(ack_fd, pair, sizeof pair) != sizeof pair) _exit(4);
        });
        if (n % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  _exit(0);
}

}  // namespace

TEST_CASE("after kill -9 in strict mode every acknowledged record is in a log that verifies") {
  TempDir dir;
  SecretKey key = generate_key(KeyKind::audit_signing);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    append_until_killed(dir.path(), key, fds[1]);
  }
  ::close(fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  std::map<std::uint64_t, std::uint64_t> acknowledged;  // leaf index -> record number
  std::uint64_t pair[2];
  while (::read(fds[0], pair, sizeof pair) == static_cast<ssize_t>(sizeof pair)) acknowledged[pair[0]] = pair[1];
  ::close(fds[0]);
  REQUIRE(acknowledged.size() > 100);

  TrustedKeys trusted;
  trusted.add(public_key_of(key));
  VerifyReport crashed = verify_log(dir.path(), trusted);
  INFO(crashed.summary());
  CHECK(crashed.ok());

  std::map<std::uint64_t, std::string> in_log;
  LogReader reader(dir.path());
  REQUIRE(reader.read_new([&](const LogRecord& r) { in_log[r.leaf_index] = std::string(r.bytes); },
                          [](const LogCheckpoint&) {})
              .ok());
  std::size_t missing = 0;
  for (const auto& [leaf, number] : acknowledged) {
    auto it = in_log.find(leaf);
    if (it == in_log.end() || it->second != "{\"record\":" + std::to_string(number) + "}") ++missing;
  }
  CHECK(missing == 0);

  AuditOptions options;
  options.directory = dir.path();
  auto reopened = AuditWriter::open(options, key);
  REQUIRE(reopened.ok());
  CHECK(reopened.value()->recovery().tree_size == in_log.size());
  reopened.value()->close();
  VerifyReport closed = verify_log(dir.path(), trusted, {.require_closed = true});
  INFO(closed.summary());
  CHECK(closed.ok());
  CHECK(closed.records_valid == in_log.size());
}
