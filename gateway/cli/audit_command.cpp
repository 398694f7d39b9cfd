#include "gateway/cli/audit_command.hpp"

#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_reader.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/file_io.hpp"
#include "crypto/key_file.hpp"
#include "crypto/sealed_capture.hpp"
#include "gateway/cli/arguments.hpp"
#include "gateway/cli/audit_cli_common.hpp"
#include "gateway/cli/number_option.hpp"

namespace sovereign::gateway {

namespace {

namespace json = boost::json;
using namespace sovereign::crypto;

constexpr const char* usage = R"(usage: sovereign audit COMMAND ...

  verify DIR --key PUBKEY [--key PUBKEY ...] [--require-closed] [--checkpoint KEPT.json] [--pruned]
      check every record, checkpoint signature and segment; exit 1 on any failure, 2 when DIR
      or a key cannot be used; with a checkpoint kept from an earlier 'audit checkpoint', also that the log still holds its tree;
      --pruned: the oldest segments were deleted under a retention policy (start where the log does)
  query DIR [--tenant T] [--model M] [--since TIME] [--until TIME] [--decision allow|deny]
            [--rule R] [--detector D] [--backend B] [--zone Z] [--kind decision|outcome]
            [--request-id ID] [--format table|json|csv] [--limit N]
      decision, rule, detector, backend and zone select requests (either of a request's two
      records may meet each); the others, and the time range, select records
  tail DIR [-f] [-n N]            the last N records (default 10); -f keeps following
  prove DIR RECORD [--tree-size SIZE]
                                  inclusion proof (JSON) for a record (its leaf index or request id)
                                  under the latest checkpoint, or under the checkpoint of SIZE (one
                                  kept from an earlier 'audit checkpoint', for check-proof --checkpoint)
  prove-consistency DIR --from SIZE [--to SIZE]
                                  consistency proof (JSON) between two signed checkpoints
  checkpoint DIR                  the latest signed checkpoint (JSON), to keep for later proofs
  check-proof FILE --key PUBKEY [--checkpoint KEPT.json]
                                  check a proof document offline; exit 1 if it does not hold; with
                                  the checkpoint kept from an earlier 'audit checkpoint', also that
                                  the proof starts from it (without one a proof shows only that it
                                  is consistent in itself)
  open --secret-key FILE [--passphrase-file FILE] [--out DIR] CAPTURE...
                                  decrypt sealed payload captures with the auditor's secret key
                                  (a protected key's passphrase: --passphrase-file, or the
                                  SOVEREIGN_KEY_PASSPHRASE_FILE / SOVEREIGN_KEY_PASSPHRASE variables)
)";

constexpr std::size_t max_failures_shown = 50;
constexpr std::size_t max_proof_file_bytes = 1 << 20;
constexpr std::size_t max_capture_file_bytes = max_capture_body_bytes + (1 << 20);

}  // namespace

namespace audit_cli {

std::optional<std::uint64_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(text);
}

const CommandUsage audit_usage("sovereign audit", usage);

int usage_error(const std::string& message) { return audit_usage.error(message); }

std::string field_text(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

}  // namespace audit_cli

namespace {

using audit_cli::field_text;
using audit_cli::parse_count;
using audit_cli::usage_error;


std::optional<TrustedKeys> load_trusted(const Arguments& args) {
  const std::vector<std::string>& key_files = args.values("--key");
  if (key_files.empty()) {
    std::cerr << "sovereign audit: --key PUBKEY is required (the audit-signing public key file, e.g. "
                 "var/keys/audit-signing.pub)\n";
    return std::nullopt;
  }
  Result<TrustedKeys> keys = TrustedKeys::from_keyring_files(key_files);
  if (!keys) {
    std::cerr << "sovereign audit: " << keys.error().message << '\n';
    return std::nullopt;
  }
  return std::move(keys.value());
}

// The checkpoint an auditor kept from an earlier 'audit checkpoint' (--checkpoint FILE); nullopt
// and a usage error when it cannot be read.
std::optional<Checkpoint> read_kept_checkpoint(const std::string& file) {
  Result<std::string> text = read_small_file(file, 1 << 20);
  if (!text) {
    usage_error("--checkpoint: " + text.error().message);
    return std::nullopt;
  }
  Result<Checkpoint> kept = checkpoint_from_json(text.value());
  if (!kept) {
    usage_error("--checkpoint " + file + ": " + kept.error().message);
    return std::nullopt;
  }
  return kept.value();
}

// ---- verify ---------------------------------------------------------------------------------

int verify(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("verify needs exactly one DIR");
  std::optional<TrustedKeys> keys = load_trusted(args);
  if (!keys) return 2;
  VerifyOptions options;
  options.require_closed = args.flag("--require-closed");
  options.pruned_start = args.flag("--pruned");
  if (auto file = args.value("--checkpoint")) {
    options.kept_checkpoint = read_kept_checkpoint(*file);
    if (!options.kept_checkpoint) return 2;
  }
  // Nothing to verify is unusable input, like a missing key: exit 2, not a verdict on a log.
  const std::filesystem::path directory = args.positionals()[0];
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    std::cerr << "sovereign audit: " << directory.string()
              << (std::filesystem::exists(directory, ec) ? ": not a directory" : ": no such directory")
              << " (verify takes the audit log's directory, audit.directory in gateway.yaml)\n";
    return 2;
  }
  const VerifyReport report = verify_log(directory, *keys, options);
  for (std::size_t i = 0; i < report.failures.size() && i < max_failures_shown; ++i) {
    const VerifyFinding& f = report.failures[i];
    std::cout << "FAIL " << (f.segment.empty() ? args.positionals()[0] : f.segment + " offset " + std::to_string(f.offset))
              << ": " << f.message << '\n';
  }
  if (report.failures.size() > max_failures_shown) {
    std::cout << "... and " << report.failures.size() - max_failures_shown << " more failures\n";
  }
  for (const std::string& note : report.notes) std::cout << "note: " << note << '\n';
  std::cout << report.summary() << '\n';
  return report.ok() ? 0 : 1;
}

// ---- proofs ---------------------------------------------------------------------------------

int prove(const Arguments& args) {
  if (args.positionals().size() != 2) return usage_error("prove needs DIR and RECORD (a leaf index or a request id)");
  std::optional<std::uint64_t> tree_size;
  if (auto text = args.value("--tree-size")) {
    auto parsed = parse_whole_number("--tree-size", *text);
    if (auto* problem = std::get_if<std::string>(&parsed)) return usage_error(*problem);
    tree_size = std::get<std::uint64_t>(parsed);
  }
  const std::filesystem::path directory = args.positionals()[0];
  std::optional<std::uint64_t> leaf = parse_count(args.positionals()[1]);
  if (!leaf) {
    // A request id: prove its first record (the decision) and name the others.
    std::vector<std::uint64_t> matches;
    LogReader reader(directory);
    Status status = reader.read_new(
        [&](const LogRecord& record) {
          boost::system::error_code ec;
          json::value value = json::parse(std::string_view(record.bytes.data(), record.bytes.size()), ec);
          if (!ec && value.is_object() && field_text(value.as_object(), "request_id") == args.positionals()[1]) {
            matches.push_back(record.leaf_index);
          }
        },
        [](const LogCheckpoint&) {});
    if (!status) {
      std::cerr << "sovereign audit: " << status.error().message << '\n';
      return 2;
    }
    if (matches.empty()) {
      std::cerr << "sovereign audit: no record with request_id '" << args.positionals()[1] << "'\n";
      return 1;
    }
    leaf = matches.front();
    if (matches.size() > 1) {
      std::cerr << "note: request " << args.positionals()[1] << " has records";
      for (std::uint64_t m : matches) std::cerr << ' ' << m;
      std::cerr << "; proving " << *leaf << " (pass a leaf index for another)\n";
    }
  }
  Result<InclusionProof> proof = prove_inclusion(directory, *leaf, tree_size);
  if (!proof) {
    std::cerr << "sovereign audit: " << proof.error().message << '\n';
    return 1;
  }
  std::cout << inclusion_proof_to_json(proof.value()) << '\n';
  return 0;
}

int prove_consistency_command(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("prove-consistency needs exactly one DIR");
  auto from_text = args.value("--from");
  if (!from_text) return usage_error("prove-consistency needs --from SIZE (the tree size of an earlier checkpoint)");
  auto from = parse_whole_number("--from", *from_text);
  if (auto* problem = std::get_if<std::string>(&from)) return usage_error(*problem);
  std::variant<std::uint64_t, std::string> to = std::uint64_t{0};
  if (auto to_text = args.value("--to")) to = parse_whole_number("--to", *to_text);
  if (auto* problem = std::get_if<std::string>(&to)) return usage_error(*problem);
  Result<ConsistencyProof> proof =
      prove_consistency(args.positionals()[0], std::get<std::uint64_t>(from), std::get<std::uint64_t>(to));
  if (!proof) {
    std::cerr << "sovereign audit: " << proof.error().message << '\n';
    return 1;
  }
  std::cout << consistency_proof_to_json(proof.value()) << '\n';
  return 0;
}

int checkpoint(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("checkpoint needs exactly one DIR");
  Result<Checkpoint> latest = latest_checkpoint(args.positionals()[0]);
  if (!latest) {
    std::cerr << "sovereign audit: " << latest.error().message << '\n';
    return 1;
  }
  std::cout << checkpoint_to_json(latest.value()) << '\n';
  return 0;
}

int check_proof(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("check-proof needs exactly one proof FILE");
  std::optional<TrustedKeys> keys = load_trusted(args);
  if (!keys) return 2;
  Result<std::string> text = read_small_file(args.positionals()[0], max_proof_file_bytes);
  if (!text) {
    std::cerr << "sovereign audit: " << text.error().message << '\n';
    return 2;
  }
  std::optional<Checkpoint> kept;
  if (auto file = args.value("--checkpoint")) {
    kept = read_kept_checkpoint(*file);
    if (!kept) return 2;
  }
  Result<std::string> checked = check_proof_document(text.value(), *keys, kept ? &*kept : nullptr);
  if (!checked) {
    std::cout << "INVALID: " << args.positionals()[0] << ": " << checked.error().message << '\n';
    return 1;
  }
  std::cout << checked.value() << '\n';
  return 0;
}

// ---- sealed captures ------------------------------------------------------------------------

int open_captures(const Arguments& args) {
  auto key_path = args.value("--secret-key");
  if (!key_path) return usage_error("open needs --secret-key FILE (the auditor's secret key)");
  if (args.positionals().empty()) return usage_error("open needs at least one CAPTURE file");
  const std::optional<std::string> out_dir = args.value("--out");
  if (out_dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*out_dir, ec)) {
      std::cerr << "sovereign audit: --out " << *out_dir
                << (std::filesystem::exists(*out_dir, ec) ? ": not a directory" : ": the directory does not exist")
                << " (create it first)\n";
      return 2;
    }
  }
  Result<std::optional<SecretBytes>> passphrase =
      passphrase_from_file_or_environment(args.value("--passphrase-file"));
  if (!passphrase) {
    std::cerr << "sovereign audit: " << passphrase.error().message << '\n';
    return 2;
  }
  Result<SecretKey> key = read_secret_key_file(*key_path, passphrase->has_value() ? &passphrase->value() : nullptr,
                                               KeyKind::auditor);
  if (!key) {
    std::cerr << "sovereign audit: " << key.error().message << '\n';
    return 2;
  }
  int status = 0;
  for (const std::string& file : args.positionals()) {
    Result<std::string> sealed = read_small_file(file, max_capture_file_bytes);
    Result<OpenedCapture> opened = sealed ? open_capture(key.value(), sealed.value(), file)
                                          : Result<OpenedCapture>(sealed.error());
    if (!opened) {
      std::cerr << "sovereign audit: " << opened.error().message << '\n';
      status = 1;
      continue;
    }
    std::cerr << "capture " << file << ": request " << opened->metadata.request_id << ", " << opened->metadata.part
              << ", " << format_utc_ms(opened->metadata.time_ms) << ", " << opened->body.size() << " bytes\n";
    if (out_dir) {
      const std::filesystem::path target =
          std::filesystem::path(*out_dir) / (std::filesystem::path(file).filename().string() + ".body");
      if (Status written = write_file_atomically(target, opened->body, 0600, false); !written) {
        std::cerr << "sovereign audit: " << written.error().message << '\n';
        status = 1;
      }
    } else {
      std::cout << opened->body;
      if (args.positionals().size() > 1) std::cout << '\n';
    }
  }
  return status;
}

}  // namespace

int run_audit_command(std::span<const std::string> args) {
  if (const auto answered = audit_cli::audit_usage.answer_without_subcommand(args)) return *answered;
  const std::string& command = args[0];
  const auto rest = args.subspan(1);
  const std::set<std::string> query_options = {"--tenant",  "--model", "--since", "--until",      "--decision",
                                               "--rule",    "--detector", "--backend", "--zone", "--kind",
                                               "--request-id", "--format", "--limit"};
  ArgumentSpec spec;
  if (command == "verify") spec = ArgumentSpec().takes_values({"--key", "--checkpoint"}).repeats({"--key"}).takes_flags({"--require-closed", "--pruned"});
  else if (command == "query") spec = ArgumentSpec().takes_values(query_options);
  else if (command == "tail") spec = ArgumentSpec().takes_values({"-n"}).takes_flags({"-f"});
  else if (command == "prove") spec = ArgumentSpec().takes_values({"--tree-size"});
  else if (command == "checkpoint") spec = ArgumentSpec();
  else if (command == "prove-consistency") spec = ArgumentSpec().takes_values({"--from", "--to"});
  else if (command == "check-proof") spec = ArgumentSpec().takes_values({"--key", "--checkpoint"}).repeats({"--key"});
  else if (command == "open") spec = ArgumentSpec().takes_values({"--secret-key", "--out", "--passphrase-file"});
  else return usage_error("unknown command '" + command + "'");
  auto result = audit_cli::audit_usage.parse(rest, spec);
  if (auto* answered = std::get_if<int>(&result)) return *answered;
  const auto* parsed = &std::get<Arguments>(result);

  if (command == "verify") return verify(*parsed);
  if (command == "query") return audit_cli::query(*parsed);
  if (command == "tail") return audit_cli::tail(*parsed);
  if (command == "prove") return prove(*parsed);
  if (command == "prove-consistency") return prove_consistency_command(*parsed);
  if (command == "checkpoint") return checkpoint(*parsed);
  if (command == "check-proof") return check_proof(*parsed);
  return open_captures(*parsed);
}

}  // namespace sovereign::gateway
