#include "gateway/cli/vault_command.hpp"

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "crypto/file_io.hpp"
#include "crypto/key_file.hpp"
#include "crypto/vault_journal.hpp"
#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {

namespace {

constexpr const char* usage = R"(usage: sovereign vault check DIR

  check DIR    read the token vault's mappings file (DIR/mappings.vault, vault.directory in
               gateway.yaml) without changing it, which is safe while the gateway runs: every
               record's checksum, and the live mappings by vault key and tenant. No key is needed;
               values stay encrypted. Exit status 1 when the file is damaged (naming the byte)
               or group- or world-accessible: the gateway would not start with it.
)";

const CommandUsage vault_usage("sovereign vault", usage);

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<std::size_t>(at), ",");
  return digits;
}

// The last record of each mapping decides it: later records only move its expiry on.
struct Mapping {
  std::string key_id;
  std::string tenant;
  std::int64_t expires_ms = 0;
};

int check(const std::filesystem::path& directory) {
  const std::filesystem::path file = directory / crypto::VaultJournal::file_name;
  std::map<std::tuple<std::string, std::string, std::string>, Mapping> mappings;  // tenant, scope, token
  auto report = crypto::VaultJournal::check(file, [&](crypto::JournalRecord& record) {
    mappings[{record.tenant, record.scope, record.token}] = {record.key_id, record.tenant, record.expires_ms};
  });
  if (!report) {
    std::cerr << "sovereign vault: " << report.error().message << "\n";
    return 1;
  }
  const std::int64_t now = crypto::unix_time_ms();
  std::map<std::string, std::map<std::string, std::uint64_t>> live;  // key id -> tenant -> mappings
  std::uint64_t live_count = 0;
  for (const auto& [names, mapping] : mappings) {
    if (mapping.expires_ms <= now) continue;
    ++live[mapping.key_id][mapping.tenant];
    ++live_count;
  }
  std::cout << file.string() << ": " << grouped(report->records) << " records valid ("
            << grouped(report->good_bytes) << " bytes)\n";
  std::cout << "  live mappings: " << grouped(live_count) << "\n";
  for (const auto& [key_id, tenants] : live) {
    std::cout << "    vault key " << key_id << ":";
    const char* separator = " ";
    for (const auto& [tenant, count] : tenants) {
      std::cout << separator << "tenant " << tenant << " " << grouped(count);
      separator = ", ";
    }
    std::cout << "\n";
  }
  std::cout << "  expired or superseded records: " << grouped(report->records - live_count)
            << " (dropped when the file is next rewritten)\n";
  if (live.size() > 1)
    std::cout << "  mappings of more than one vault key: only those of the key the gateway starts with are "
                 "restored; the others are dropped at its start\n";
  if (report->good_bytes < report->file_bytes)
    std::cout << "  the last " << grouped(report->file_bytes - report->good_bytes)
              << " bytes were cut short (the gateway or the machine stopped while writing them); the gateway cuts them "
                 "away at its next start\n";
  return 0;
}

}  // namespace

int run_vault_command(std::span<const std::string> args) {
  if (const auto answered = vault_usage.answer_without_subcommand(args)) return *answered;
  if (args[0] != "check") return vault_usage.error("unknown command '" + args[0] + "'");
  auto parsed = vault_usage.parse(args.subspan(1), ArgumentSpec().at_most(1));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  if (arguments.positionals().size() != 1) return vault_usage.error("check needs DIR");
  const std::filesystem::path directory = arguments.positionals()[0];
  // A file given for DIR (most likely vault.key, named next to the directory in gateway.yaml) would
  // otherwise be reported as "DIR/mappings.vault: Not a directory".
  std::error_code ec;
  if (std::filesystem::is_regular_file(directory, ec)) {
    const std::optional<std::string> key = crypto::key_file_description(directory);
    return vault_usage.error(directory.string() + (key ? ": this is " + *key + "; " : " is a file; ") +
                             "vault check takes the vault's directory (vault.directory in gateway.yaml, which " +
                             "holds " + std::string(crypto::VaultJournal::file_name) + ") and needs no key");
  }
  return check(directory);
}

}  // namespace sovereign::gateway
