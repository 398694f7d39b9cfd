// Audit log throughput: appends per second in strict and relaxed mode with many concurrent
// appenders (group commit), and verification speed. Each figure is printed beside a peer measured
// in the same run on the same disk: the same bytes written with the same number of write(2) and
// fdatasync calls but no hashing or signing (append), and plain SHA-256 of the records (verify).
// Then the token vault: new mappings per second kept on disk against the same values in memory
// only, and reading them back at a restart against reading the file's bytes alone.
//
// usage: audit_bench [DIR] [RECORDS] [APPENDERS]   (DIR on the disk you care about; default ./audit-bench)
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "crypto/audit_reader.hpp"
#include "crypto/audit_segment.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/audit_writer.hpp"
#include "crypto/file_io.hpp"
#include "crypto/merkle.hpp"
#include "crypto/token_vault.hpp"

using namespace sovereign::crypto;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A decision record of realistic size (~420 bytes), unique per index.
std::string record(std::uint64_t i) {
  char buffer[640];
  std::snprintf(buffer, sizeof buffer,
                R"({"kind":"decision","time":"2026-11-22T03:04:05.%03lluZ","request_id":"req-%012llu",)"
                R"("tenant":"acme-%llu","model":"llama-3.1-8b","endpoint":"chat.completions","decision":"allow",)"
                R"("rules":["eu-residency","pii-tokenize"],"policy_version":"2026-11-20.3","data_class":"personal",)"
                R"("detectors":{"EMAIL":2,"IBAN":1},"backend":"site-gpu","zone":"site",)"
                R"("payload_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})",
                static_cast<unsigned long long>(i % 1000), static_cast<unsigned long long>(i),
                static_cast<unsigned long long>(i % 7));
  return buffer;
}

struct AppendRun {
  double seconds = 0;
  AuditWriterStats stats;
};

AppendRun run_appends(const std::filesystem::path& dir, const SecretKey& key, Durability durability,
                      std::uint64_t records, unsigned appenders) {
  // Records are made before the clock starts, as the peer's are.
  std::vector<std::string> prepared(records);
  for (std::uint64_t i = 0; i < records; ++i) prepared[i] = record(i);
  std::filesystem::remove_all(dir);
  AuditOptions options;
  options.directory = dir;
  options.durability = durability;
  options.max_queued_records = records + 1;
  auto writer = AuditWriter::open(options, key);
  if (!writer) {
    std::fprintf(stderr, "audit_bench: %s\n", writer.error().message.c_str());
    std::exit(1);
  }
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  // Each appender keeps a bounded number of records in flight, as request handlers would, and
  // sleeps (not spins) when it has to wait for the disk.
  constexpr std::ptrdiff_t in_flight_per_appender = 256;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      std::counting_semaphore<in_flight_per_appender> slots(in_flight_per_appender);
      for (std::uint64_t i = t; i < records; i += appenders) {
        slots.acquire();
        writer.value()->append(std::move(prepared[i]), [&](const AppendResult& r) {
          if (!r.ok) failed.fetch_add(1);
          done.fetch_add(1, std::memory_order_relaxed);
          slots.release();
        });
      }
      for (std::ptrdiff_t k = 0; k < in_flight_per_appender; ++k) slots.acquire();
    });
  }
  for (auto& thread : threads) thread.join();
  AppendRun run;
  run.seconds = seconds_since(start);
  run.stats = writer.value()->stats();
  writer.value()->close();
  if (failed != 0) {
    std::fprintf(stderr, "audit_bench: %llu appends failed\n", static_cast<unsigned long long>(failed.load()));
    std::exit(1);
  }
  return run;
}

// The peer: the same framed bytes, split into the same number of write(2) calls, with the same
// number of fdatasync calls, and nothing else.
double run_plain_writes(const std::filesystem::path& file, std::uint64_t records, std::uint64_t batches,
                        std::uint64_t syncs) {
  std::vector<std::string> frames(records);
  for (std::uint64_t i = 0; i < records; ++i) append_frame(frames[i], FrameTag::record, record(i));
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::exit(1);
  const std::uint64_t per_batch = std::max<std::uint64_t>(1, records / std::max<std::uint64_t>(1, batches));
  const std::uint64_t sync_every = std::max<std::uint64_t>(1, batches / std::max<std::uint64_t>(1, syncs));
  std::string buffer;
  std::uint64_t batch = 0;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < records; i += per_batch) {
    buffer.clear();
    for (std::uint64_t j = i; j < std::min(records, i + per_batch); ++j) buffer += frames[j];
    if (::write(fd, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size())) std::exit(1);
    if (++batch % sync_every == 0) ::fdatasync(fd);
  }
  ::fdatasync(fd);
  const double seconds = seconds_since(start);
  ::close(fd);
  std::filesystem::remove(file);
  return seconds;
}

double run_plain_hashing(const std::filesystem::path& dir) {
  const auto start = Clock::now();
  LogReader reader(dir);
  std::uint64_t sink = 0;
  Status status = reader.read_new([&](const LogRecord& r) { sink += merkle::hash_leaf(r.bytes)[0]; },
                                  [](const LogCheckpoint&) {});
  if (!status || sink == 1) std::fprintf(stderr, "%s", status ? "" : status.error().message.c_str());
  return seconds_since(start);
}

// Seconds to tokenize `values` new values (directory empty: in memory only).
double run_tokenize(const SecretKey& key, const std::filesystem::path& directory, std::uint64_t values) {
  VaultOptions options;
  options.directory = directory;
  options.max_entries = values + 1;
  options.max_entries_per_tenant = values + 1;
  auto vault = TokenVault::create(key, options);
  if (!vault) {
    std::fprintf(stderr, "audit_bench: %s\n", vault.error().message.c_str());
    std::exit(1);
  }
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < values; ++i) {
    auto token = vault.value()->tokenize("bench-tenant", "conversation-" + std::to_string(i % 1000), "IBAN",
                                         "DE89 3704 0044 0532 " + std::to_string(1'000'000 + i));
    if (!token) {
      std::fprintf(stderr, "audit_bench: %s\n", token.error().message.c_str());
      std::exit(1);
    }
  }
  return seconds_since(start);
}

double run_vault_open(const SecretKey& key, const std::filesystem::path& directory, std::uint64_t expected) {
  VaultOptions options;
  options.directory = directory;
  options.max_entries = expected + 1;
  const auto start = Clock::now();
  auto vault = TokenVault::create(key, options);
  const double elapsed = seconds_since(start);
  if (!vault || vault.value()->size() != expected) {
    std::fprintf(stderr, "audit_bench: the vault read back %s\n", vault ? "the wrong number of mappings" : vault.error().message.c_str());
    std::exit(1);
  }
  return elapsed;
}

void row(const char* what, double value, const char* unit, const char* peer, double peer_value) {
  std::printf("| %-34s | %12.0f %-9s | %-50s | %12.0f | %5.2f |\n", what, value, unit, peer, peer_value,
              value / peer_value);
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path base = argc > 1 ? argv[1] : "audit-bench";
  const std::uint64_t records = argc > 2 ? std::stoull(argv[2]) : 400000;
  const unsigned appenders = argc > 3 ? static_cast<unsigned>(std::stoul(argv[3])) : 64;
  std::filesystem::create_directories(base);
  const SecretKey key = generate_key(KeyKind::audit_signing);
  TrustedKeys trusted;
  trusted.add(public_key_of(key));

  const AppendRun strict = run_appends(base / "strict", key, Durability::strict, records, appenders);
  const double strict_peer =
      run_plain_writes(base / "peer.bin", records, strict.stats.write_batches, strict.stats.syncs);
  const AppendRun relaxed = run_appends(base / "relaxed", key, Durability::relaxed, records, appenders);
  const double relaxed_peer =
      run_plain_writes(base / "peer.bin", records, relaxed.stats.write_batches, relaxed.stats.syncs);

  const auto verify_start = Clock::now();
  const VerifyReport report = verify_log(base / "strict", trusted);
  const double verify_seconds = seconds_since(verify_start);
  if (!report.ok() || report.records_valid != records) {
    std::fprintf(stderr, "audit_bench: verification failed: %s\n", report.summary().c_str());
    return 1;
  }
  const double hash_seconds = run_plain_hashing(base / "strict");

  std::printf("Audit log: %llu records of ~%zu bytes, %u concurrent appenders, checkpoint every 1000 records\n\n",
              static_cast<unsigned long long>(records), record(0).size(), appenders);
  std::printf("| %-34s | %22s | %-50s | %12s | %5s |\n", "measurement", "value", "peer (same run, same disk)", "peer",
              "ratio");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(24, '-').c_str(),
              std::string(52, '-').c_str(), std::string(14, '-').c_str(), std::string(7, '-').c_str());
  char peer[128];
  std::snprintf(peer, sizeof peer, "write+fdatasync, same bytes, %llu writes/%llu syncs",
                static_cast<unsigned long long>(strict.stats.write_batches),
                static_cast<unsigned long long>(strict.stats.syncs));
  row("append, strict (records/s)", records / strict.seconds, "rec/s", peer, records / strict_peer);
  std::snprintf(peer, sizeof peer, "write+fdatasync, same bytes, %llu writes/%llu syncs",
                static_cast<unsigned long long>(relaxed.stats.write_batches),
                static_cast<unsigned long long>(relaxed.stats.syncs));
  row("append, relaxed (records/s)", records / relaxed.seconds, "rec/s", peer, records / relaxed_peer);
  row("verify (records/min)", records / verify_seconds * 60, "rec/min", "read + SHA-256 of each record only",
      records / hash_seconds * 60);
  std::printf("\nstrict: %.1f records per group commit; %llu checkpoints. verify: %s\n",
              static_cast<double>(records) / static_cast<double>(std::max<std::uint64_t>(1, strict.stats.write_batches)),
              static_cast<unsigned long long>(strict.stats.checkpoints_written), report.summary().c_str());

  // The token vault: 100,000 new mappings, then the same directory opened again.
  const std::uint64_t values = 100'000;
  const SecretKey vault_key = generate_key(KeyKind::vault);
  const double in_memory = run_tokenize(vault_key, {}, values);
  const double on_disk = run_tokenize(vault_key, base / "vault", values);
  const double reopen = run_vault_open(vault_key, base / "vault", values);
  const auto read_start = Clock::now();
  const auto bytes = read_small_file(base / "vault" / "mappings.vault", 1ull << 32);
  const double read_seconds = seconds_since(read_start);
  std::printf("\nToken vault: %llu new values (IBAN-like, 1000 conversations of one tenant), then read back; file %.1f MB\n\n",
              static_cast<unsigned long long>(values), bytes ? static_cast<double>(bytes->size()) / 1e6 : 0.0);
  row("tokenize, kept on disk (new/s)", values / on_disk, "map/s", "the same values, vault in memory only",
      values / in_memory);
  row("restart: mappings read back (/s)", values / reopen, "map/s", "reading the file's bytes alone", values / read_seconds);
  std::filesystem::remove_all(base);
  return 0;
}
