#include "gateway/cli/audit_command.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_reader.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/file_io.hpp"
#include "crypto/key_file.hpp"
#include "crypto/sealed_capture.hpp"
#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {

namespace {

namespace json = boost::json;
using namespace sovereign::crypto;

constexpr const char* usage = R"(usage: sovereign audit COMMAND ...

  verify DIR --key PUBKEY [--key PUBKEY ...] [--require-closed] [--checkpoint KEPT.json]
      check every record, checkpoint signature and segment; exit 1 on any failure; with a
      checkpoint kept from an earlier 'audit checkpoint', also that the log still holds its tree
  query DIR [--tenant T] [--model M] [--since TIME] [--until TIME] [--decision allow|deny]
            [--rule R] [--detector D] [--backend B] [--zone Z] [--kind decision|outcome]
            [--request-id ID] [--format table|json|csv] [--limit N]
      decision, rule, detector, backend and zone select requests (either of a request's two
      records may meet each); the others, and the time range, select records
  tail DIR [-f] [-n N]            the last N records (default 10); -f keeps following
  prove DIR RECORD                inclusion proof (JSON) for a record: its leaf index or request id
  prove-consistency DIR --from SIZE [--to SIZE]
                                  consistency proof (JSON) between two signed checkpoints
  checkpoint DIR                  the latest signed checkpoint (JSON), to keep for later proofs
  check-proof FILE --key PUBKEY   check a proof document offline; exit 1 if it does not hold
  open --secret-key FILE [--out DIR] CAPTURE...
                                  decrypt sealed payload captures with the auditor's secret key
)";

constexpr std::size_t max_failures_shown = 50;
constexpr std::size_t max_proof_file_bytes = 1 << 20;
constexpr std::size_t max_capture_file_bytes = max_capture_body_bytes + (1 << 20);

std::optional<std::uint64_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(text);
}

int usage_error(const std::string& message) {
  std::cerr << "sovereign audit: " << message << "\n\n" << usage;
  return 2;
}

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

// ---- verify ---------------------------------------------------------------------------------

int verify(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("verify needs exactly one DIR");
  std::optional<TrustedKeys> keys = load_trusted(args);
  if (!keys) return 2;
  VerifyOptions options;
  options.require_closed = args.flag("--require-closed");
  if (auto file = args.value("--checkpoint")) {
    Result<std::string> text = read_small_file(*file, 1 << 20);
    if (!text) return usage_error("--checkpoint: " + text.error().message);
    Result<Checkpoint> kept = checkpoint_from_json(text.value());
    if (!kept) return usage_error("--checkpoint " + *file + ": " + kept.error().message);
    options.kept_checkpoint = kept.value();
  }
  const VerifyReport report = verify_log(args.positionals()[0], *keys, options);
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

// ---- query and tail -------------------------------------------------------------------------

// A record as the gateway writes it; fields it lacks read as empty.
struct ParsedRecord {
  std::uint64_t leaf_index = 0;
  std::string raw;
  json::object object;
};

std::string field_text(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

bool array_contains(const json::object& object, std::string_view key, const std::string& wanted) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_array()) return false;
  for (const json::value& item : value->as_array()) {
    if (item.is_string() && item.as_string() == wanted) return true;
  }
  return false;
}

bool object_has_key(const json::object& object, std::string_view key, const std::string& wanted) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_object() && value->as_object().contains(wanted);
}

// A --since/--until bound as records write times (YYYY-MM-DDTHH:MM:SS.mmmZ, compared as text): at
// least the date, optionally a time to any precision, optionally ending in Z. "…T03:04:05Z" means
// 03:04:05.000, so it becomes "…T03:04:05.000Z" (as text, "Z" sorts after ".123Z").
std::optional<std::string> time_bound(std::string text) {
  static const std::string shape = "dddd-dd-ddTdd:dd:dd.ddd";
  if (!text.empty() && text.back() == 'Z') text.pop_back();
  if (text.size() < 10 || text.size() > shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return std::nullopt;
  }
  if (text.size() == 19) text += ".000Z";      // whole seconds
  else if (text.size() == shape.size()) text += 'Z';
  return text;
}

// Filters on the record itself (tenant, model, kind, request id, time) hold per record. Filters on
// what a request's two records say between them (decision and rules in the decision record,
// backend and zone in the outcome record, detectors in either) hold for a request when any of its
// records meets each; every record of a request that meets them all is printed.
struct Filter {
  std::map<std::string, std::string> equals;  // record field -> wanted value
  std::optional<std::string> since, until;
  std::optional<std::string> decision, backend, zone, rule, detector;

  static constexpr std::size_t max_requests = 10'000'000;  // request ids remembered by the first pass

  bool by_request() const { return decision || backend || zone || rule || detector; }

  // `any_kind`: ignore --kind (the first pass of a request filter reads both kinds of record).
  bool record_matches(const json::object& record, bool any_kind = false) const {
    for (const auto& [field, wanted] : equals) {
      if (any_kind && field == "kind") continue;
      if (field_text(record, field) != wanted) return false;
    }
    const std::string time = field_text(record, "time");
    if (since && time < *since) return false;
    if (until && time >= *until) return false;
    return true;
  }

  // Bit i set: the record meets the i-th request filter that is set.
  unsigned request_criteria_met(const json::object& record) const {
    unsigned met = 0;
    unsigned bit = 1;
    auto check = [&](const std::optional<std::string>& wanted, auto&& holds) {
      if (!wanted) return;
      if (holds(*wanted)) met |= bit;
      bit <<= 1;
    };
    check(decision, [&](const std::string& w) { return field_text(record, "decision") == w; });
    check(backend, [&](const std::string& w) { return field_text(record, "backend") == w; });
    check(zone, [&](const std::string& w) { return field_text(record, "zone") == w; });
    check(rule, [&](const std::string& w) { return array_contains(record, "rules", w); });
    check(detector, [&](const std::string& w) {
      return object_has_key(record, "detectors", w) || object_has_key(record, "output_detectors", w);
    });
    return met;
  }

  unsigned all_request_criteria() const {
    const int set = decision.has_value() + backend.has_value() + zone.has_value() + rule.has_value() + detector.has_value();
    return (1u << set) - 1;
  }
};

const std::vector<std::string> table_columns = {"leaf", "time", "kind", "request_id", "tenant", "model",
                                                "decision", "status", "rules", "backend", "zone"};

std::string column_value(const ParsedRecord& record, const std::string& column) {
  if (column == "leaf") return std::to_string(record.leaf_index);
  if (column == "rules") {
    const json::value* rules = record.object.if_contains("rules");
    std::string out;
    if (rules != nullptr && rules->is_array()) {
      for (const json::value& r : rules->as_array()) {
        if (!out.empty()) out += ' ';
        out += r.is_string() ? std::string(r.as_string()) : json::serialize(r);
      }
    }
    return out;
  }
  return field_text(record.object, column);
}

std::string csv_escape(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class RecordPrinter {
 public:
  explicit RecordPrinter(std::string format) : format_(std::move(format)) {}

  void header() {
    if (format_ == "csv") {
      for (std::size_t i = 0; i < table_columns.size(); ++i) std::cout << (i ? "," : "") << table_columns[i];
      std::cout << '\n';
    }
  }

  void print(const ParsedRecord& record) {
    if (format_ == "json") {
      json::object line{{"leaf_index", record.leaf_index}, {"record", record.object}};
      std::cout << json::serialize(line) << '\n';
    } else if (format_ == "csv") {
      for (std::size_t i = 0; i < table_columns.size(); ++i) {
        std::cout << (i ? "," : "") << csv_escape(column_value(record, table_columns[i]));
      }
      std::cout << '\n';
    } else {
      rows_.push_back(record);
    }
  }

  // Tables are aligned, so they are printed once all rows are known.
  void finish() {
    if (format_ != "table") return;
    std::vector<std::size_t> widths;
    for (const std::string& column : table_columns) widths.push_back(column.size());
    std::vector<std::vector<std::string>> cells;
    for (const ParsedRecord& record : rows_) {
      std::vector<std::string> row;
      for (std::size_t i = 0; i < table_columns.size(); ++i) {
        row.push_back(column_value(record, table_columns[i]));
        widths[i] = std::max(widths[i], row.back().size());
      }
      cells.push_back(std::move(row));
    }
    auto print_row = [&](const std::vector<std::string>& row) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
      std::cout << line << '\n';
    };
    print_row(table_columns);
    for (const auto& row : cells) print_row(row);
    std::cout << rows_.size() << " record(s)\n";
    rows_.clear();
  }

 private:
  std::string format_;
  std::vector<ParsedRecord> rows_;
};

// `warn`: say so on stderr when the record is not a JSON object (once per query, not per pass).
std::optional<ParsedRecord> parse_record(const LogRecord& record, bool warn = true) {
  boost::system::error_code ec;
  json::value value = json::parse(std::string_view(record.bytes.data(), record.bytes.size()), ec);
  if (ec || !value.is_object()) {
    if (warn)
      std::cerr << "warning: " << record.segment << " offset " << record.offset << ": record "
                << record.leaf_index << " is not a JSON object; skipped\n";
    return std::nullopt;
  }
  return ParsedRecord{record.leaf_index, std::string(record.bytes), std::move(value.as_object())};
}

int query(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("query needs exactly one DIR");
  Filter filter;
  static const std::pair<const char*, const char*> exact_filters[] = {
      {"--tenant", "tenant"}, {"--model", "model"}, {"--kind", "kind"}, {"--request-id", "request_id"}};
  for (const auto& [option, field] : exact_filters) {
    if (auto value = args.value(option)) filter.equals[field] = *value;
  }
  filter.decision = args.value("--decision");
  filter.backend = args.value("--backend");
  filter.zone = args.value("--zone");

  filter.rule = args.value("--rule");
  filter.detector = args.value("--detector");
  for (auto [option, bound] : {std::pair{"--since", &filter.since}, std::pair{"--until", &filter.until}}) {
    const std::optional<std::string> text = args.value(option);
    if (!text) continue;
    *bound = time_bound(*text);
    if (!*bound) {
      return usage_error(std::string(option) + " '" + *text +
                         "' must look like 2026-11-22, 2026-11-22T03:04 or 2026-11-22T03:04:05Z (UTC)");
    }
  }
  const std::string format = args.value("--format").value_or("table");
  if (format != "table" && format != "json" && format != "csv") {
    return usage_error("--format must be table, json or csv");
  }
  std::optional<std::uint64_t> limit;
  if (auto text = args.value("--limit")) {
    limit = parse_count(*text);
    if (!limit) return usage_error("--limit needs a number");
  }
  // First pass, for request filters: which requests meet them, from all of their records.
  std::unordered_map<std::string, unsigned> requests;
  if (filter.by_request()) {
    LogReader first(args.positionals()[0]);
    bool too_many = false;
    Status status = first.read_new(
        [&](const LogRecord& record) {
          std::optional<ParsedRecord> parsed = parse_record(record, false);
          if (too_many || !parsed || !filter.record_matches(parsed->object, true)) return;
          const unsigned met = filter.request_criteria_met(parsed->object);
          if (met == 0) return;
          if (requests.size() >= Filter::max_requests) {
            too_many = true;
            return;
          }
          requests[field_text(parsed->object, "request_id")] |= met;
        },
        [](const LogCheckpoint&) {});
    if (!status) {
      std::cerr << "sovereign audit: " << status.error().message << '\n';
      return 2;
    }
    if (too_many) {
      std::cerr << "sovereign audit: more than " << Filter::max_requests
                << " requests match; narrow the query with --since/--until or --tenant\n";
      return 2;
    }
  }
  RecordPrinter printer(format);
  printer.header();
  std::uint64_t printed = 0;
  LogReader reader(args.positionals()[0]);
  Status status = reader.read_new(
      [&](const LogRecord& record) {
        if (limit && printed >= *limit) return;
        std::optional<ParsedRecord> parsed = parse_record(record);
        if (!parsed || !filter.record_matches(parsed->object)) return;
        if (filter.by_request()) {
          auto found = requests.find(field_text(parsed->object, "request_id"));
          if (found == requests.end() || found->second != filter.all_request_criteria()) return;
        }
        printer.print(*parsed);
        ++printed;
      },
      [](const LogCheckpoint&) {});
  printer.finish();
  if (!status) {
    std::cerr << "sovereign audit: " << status.error().message << '\n';
    return 2;
  }
  return 0;
}

std::atomic<bool> stop_following{false};
extern "C" void on_stop_signal(int) { stop_following = true; }

int tail(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("tail needs exactly one DIR");
  std::uint64_t count = 10;
  if (auto text = args.value("-n")) {
    auto parsed = parse_count(*text);
    if (!parsed) return usage_error("-n needs a number");
    count = *parsed;
  }
  const bool follow = args.flag("-f");
  LogReader reader(args.positionals()[0]);
  std::deque<std::string> last;
  auto print_line = [](std::uint64_t leaf, std::string_view bytes) {
    std::cout << leaf << ' ' << bytes << '\n';
  };
  Status status = reader.read_new(
      [&](const LogRecord& record) {
        if (count == 0) return;
        last.push_back(std::to_string(record.leaf_index) + ' ' + std::string(record.bytes));
        if (last.size() > count) last.pop_front();
      },
      [](const LogCheckpoint&) {});
  if (!status) {
    std::cerr << "sovereign audit: " << status.error().message << '\n';
    return 2;
  }
  for (const std::string& line : last) std::cout << line << '\n';
  std::cout.flush();
  if (!follow) return 0;
  stop_following = false;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  while (!stop_following) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = reader.read_new([&](const LogRecord& record) { print_line(record.leaf_index, record.bytes); },
                             [](const LogCheckpoint&) {});
    if (!status) {
      std::cerr << "sovereign audit: " << status.error().message << '\n';
      return 2;
    }
    std::cout.flush();
  }
  return 0;
}

// ---- proofs ---------------------------------------------------------------------------------

int prove(const Arguments& args) {
  if (args.positionals().size() != 2) return usage_error("prove needs DIR and RECORD (a leaf index or a request id)");
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
  Result<InclusionProof> proof = prove_inclusion(directory, *leaf);
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
  auto from = parse_count(*from_text);
  std::optional<std::uint64_t> to = std::uint64_t{0};
  if (auto to_text = args.value("--to")) to = parse_count(*to_text);
  if (!from || !to) return usage_error("--from and --to take tree sizes (numbers)");
  Result<ConsistencyProof> proof = prove_consistency(args.positionals()[0], *from, *to);
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
  Result<std::string> checked = check_proof_document(text.value(), *keys);
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
  Result<std::optional<SecretBytes>> passphrase = passphrase_from_environment();
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
  const std::optional<std::string> out_dir = args.value("--out");
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
  if (args.empty() || args[0] == "help" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  const auto rest = args.subspan(1);
  const std::set<std::string> query_options = {"--tenant",  "--model", "--since", "--until",      "--decision",
                                               "--rule",    "--detector", "--backend", "--zone", "--kind",
                                               "--request-id", "--format", "--limit"};
  ArgumentSpec spec;
  if (command == "verify") spec = ArgumentSpec().takes_values({"--key", "--checkpoint"}).takes_flags({"--require-closed"});
  else if (command == "query") spec = ArgumentSpec().takes_values(query_options);
  else if (command == "tail") spec = ArgumentSpec().takes_values({"-n"}).takes_flags({"-f"});
  else if (command == "prove" || command == "checkpoint") spec = ArgumentSpec();
  else if (command == "prove-consistency") spec = ArgumentSpec().takes_values({"--from", "--to"});
  else if (command == "check-proof") spec = ArgumentSpec().takes_values({"--key"});
  else if (command == "open") spec = ArgumentSpec().takes_values({"--secret-key", "--out"});
  else return usage_error("unknown command '" + command + "'");
  auto result = Arguments::parse(rest, spec);
  if (auto* error = std::get_if<std::string>(&result)) return usage_error(*error);
  const auto* parsed = &std::get<Arguments>(result);

  if (command == "verify") return verify(*parsed);
  if (command == "query") return query(*parsed);
  if (command == "tail") return tail(*parsed);
  if (command == "prove") return prove(*parsed);
  if (command == "prove-consistency") return prove_consistency_command(*parsed);
  if (command == "checkpoint") return checkpoint(*parsed);
  if (command == "check-proof") return check_proof(*parsed);
  return open_captures(*parsed);
}

}  // namespace sovereign::gateway
