// `sovereign audit query` and `sovereign audit tail`: records of the audit log selected by what
// they say (tenant, time, decision, rule, detector, backend, zone...) and printed as a table, JSON
// lines or CSV; the last records, optionally followed as the gateway appends them.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "crypto/audit_reader.hpp"
#include "gateway/cli/audit_cli_common.hpp"
#include "gateway/cli/number_option.hpp"

namespace sovereign::gateway::audit_cli {
namespace {

namespace json = boost::json;
using namespace sovereign::crypto;

// A record as the gateway writes it; fields it lacks read as empty.
struct ParsedRecord {
  std::uint64_t leaf_index = 0;
  std::string raw;
  json::object object;
};

bool array_contains(const json::object& object, std::string_view key, const std::string& wanted) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_array()) return false;
  for (const json::value& item : value->as_array()) {
    if (item.is_string() && item.as_string() == wanted) return true;
  }
  return false;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// text in lower case when it is one of the two values, else nullopt.
std::optional<std::string> one_of(const std::string& text, std::string_view first, std::string_view second) {
  std::string value = lowercase(text);
  if (value == first || value == second) return value;
  return std::nullopt;
}

// Detector names are matched ignoring case: records name them as the policy's detectors do
// ("email"), people type them as the docs' EMAIL.
bool object_has_key_ignoring_case(const json::object& object, std::string_view key, const std::string& wanted) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_object()) return false;
  for (const auto& member : value->as_object()) {
    if (equal_ignoring_case(member.key(), wanted)) return true;
  }
  return false;
}

// The date and time in a bound that already has the shape of one: month 01-12, a day the month
// has, hours below 24, minutes and seconds below 60.
bool is_calendar_time(const std::string& text) {
  auto number = [&](std::size_t at, std::size_t digits) { return std::stoi(text.substr(at, digits)); };
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > days[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  if (text.size() >= 13 && number(11, 2) > 23) return false;
  if (text.size() >= 16 && number(14, 2) > 59) return false;
  if (text.size() >= 19 && number(17, 2) > 59) return false;
  return true;
}

// A --since/--until bound as records write times (YYYY-MM-DDTHH:MM:SS.mmmZ, compared as text): at
// least the date, optionally a time to any precision, optionally ending in Z. "…T03:04Z" means
// 03:04:00.000, so it becomes "…T03:04:00.000Z" (as text, "Z" sorts after ".123Z").
std::optional<std::string> time_bound(std::string text) {
  static const std::string shape = "dddd-dd-ddTdd:dd:dd.ddd";
  if (!text.empty() && text.back() == 'Z') text.pop_back();
  if (text.size() < 10 || text.size() > shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return std::nullopt;
  }
  // A partial field ("2026-11-2", "…T03:0") is not a time either.
  if (text.size() != 10 && text.size() != 13 && text.size() != 16 && text.size() < 19) return std::nullopt;
  if (text.size() == 20) return std::nullopt;
  if (!is_calendar_time(text)) return std::nullopt;
  // The rest of the time at its start, so that every bound has the records' shape and two bounds
  // compare as the instants they name.
  static const std::string start = "0000-00-00T00:00:00.000";
  return text + start.substr(text.size()) + 'Z';
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
      return object_has_key_ignoring_case(record, "detectors", w) ||
             object_has_key_ignoring_case(record, "output_detectors", w);
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

// Record text as it reaches the auditor's terminal: control characters (an escape sequence would
// let a forged record rewrite what is on the screen, a newline would split a row) are shown
// escaped as JSON writes them (ESC as a backslash and u001b). The gateway's
// own records hold none.
std::string printable(std::string_view text) {
  const auto is_control = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
  if (std::none_of(text.begin(), text.end(), is_control)) return std::string(text);
  std::string out;
  for (char c : text) {
    if (!is_control(c)) {
      out += c;
      continue;
    }
    static constexpr char digits[] = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(c);
    out.append("\\u00").append(1, digits[byte >> 4]).append(1, digits[byte & 0xf]);
  }
  return out;
}

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
    return printable(out);
  }
  return printable(field_text(record.object, column));
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

// Why a record that is not read as a JSON object was skipped: nested deeper than the reader
// takes (an object all the same, which "not a JSON object" would misreport), not JSON, or not an object.
std::string unreadable_record_reason(const boost::system::error_code& ec) {
  if (ec == json::error::too_deep)
    return "is nested deeper than the " + std::to_string(json::parse_options().max_depth) +
           " levels of objects and arrays the reader takes";
  if (ec) return "is not valid JSON (" + ec.message() + ")";
  return "is not a JSON object";
}

// `warn`: say so on stderr when the record is not a JSON object (once per query, not per pass).
std::optional<ParsedRecord> parse_record(const LogRecord& record, bool warn = true) {
  boost::system::error_code ec;
  json::value value = json::parse(std::string_view(record.bytes.data(), record.bytes.size()), ec);
  if (ec || !value.is_object()) {
    if (warn)
      std::cerr << "warning: " << record.segment << " offset " << record.offset << ": record "
                << record.leaf_index << " " << unreadable_record_reason(ec) << "; skipped\n";
    return std::nullopt;
  }
  return ParsedRecord{record.leaf_index, std::string(record.bytes), std::move(value.as_object())};
}

}  // namespace

int query(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("query needs exactly one DIR");
  Filter filter;
  static const std::pair<const char*, const char*> exact_filters[] = {
      {"--tenant", "tenant"}, {"--model", "model"}, {"--request-id", "request_id"}};
  for (const auto& [option, field] : exact_filters) {
    if (auto value = args.value(option)) filter.equals[field] = *value;
  }
  // Records write decisions and kinds in lower case; any other value would silently match nothing.
  if (auto text = args.value("--decision")) {
    filter.decision = one_of(*text, "allow", "deny");
    if (!filter.decision) return usage_error("--decision '" + *text + "' must be allow or deny");
  }
  if (auto text = args.value("--kind")) {
    std::optional<std::string> kind = one_of(*text, "decision", "outcome");
    if (!kind) return usage_error("--kind '" + *text + "' must be decision or outcome");
    filter.equals["kind"] = *kind;
  }
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
  // Both bounds are text of one shape (time_bound), so they compare as the times they name.
  if (filter.since && filter.until && *filter.since >= *filter.until) {
    return usage_error("--since " + *args.value("--since") + " is not before --until " + *args.value("--until") +
                       ": no record can match (--until is exclusive)");
  }
  const std::string format = args.value("--format").value_or("table");
  if (format != "table" && format != "json" && format != "csv") {
    return usage_error("--format must be table, json or csv");
  }
  std::optional<std::uint64_t> limit;
  if (auto text = args.value("--limit")) {
    auto parsed = parse_whole_number("--limit", *text);
    if (auto* problem = std::get_if<std::string>(&parsed)) return usage_error(*problem);
    limit = std::get<std::uint64_t>(parsed);
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

namespace {

std::atomic<bool> stop_following{false};
extern "C" void on_stop_signal(int) { stop_following = true; }

constexpr auto follow_poll_interval = std::chrono::milliseconds(200);

enum class Awaited { existed, appeared, stopped };

// Until `directory` exists, saying once on stderr that it is awaited, or until SIGINT or SIGTERM.
// Any other reason it cannot be read is left for the reader to report.
Awaited wait_for_directory(const std::filesystem::path& directory) {
  std::error_code ec;
  if (std::filesystem::exists(directory, ec) || ec) return Awaited::existed;
  std::cerr << "sovereign audit: " << directory.string()
            << " does not exist yet; waiting for the gateway to create it (Ctrl-C to stop)\n";
  while (!stop_following) {
    std::this_thread::sleep_for(follow_poll_interval);
    if (std::filesystem::exists(directory, ec) || ec) return Awaited::appeared;
  }
  return Awaited::stopped;
}

}  // namespace

int tail(const Arguments& args) {
  if (args.positionals().size() != 1) return usage_error("tail needs exactly one DIR");
  std::uint64_t count = 10;
  if (auto text = args.value("-n")) {
    auto parsed = parse_whole_number("-n", *text);
    if (auto* problem = std::get_if<std::string>(&parsed)) return usage_error(*problem);
    count = std::get<std::uint64_t>(parsed);
  }
  const bool follow = args.flag("-f");
  if (follow) {
    stop_following = false;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    // Followed from before the gateway's first start: wait for the log, as `tail -F` waits for a file,
    // and then print every record, however many the gateway wrote before the next look.
    const Awaited awaited = wait_for_directory(args.positionals()[0]);
    if (awaited == Awaited::stopped) return 0;
    if (awaited == Awaited::appeared) count = std::numeric_limits<std::uint64_t>::max();
  }
  LogReader reader(args.positionals()[0]);
  std::deque<std::string> last;
  auto print_line = [](std::uint64_t leaf, std::string_view bytes) {
    std::cout << leaf << ' ' << printable(bytes) << '\n';
  };
  Status status = reader.read_new(
      [&](const LogRecord& record) {
        if (count == 0) return;
        last.push_back(std::to_string(record.leaf_index) + ' ' + printable(record.bytes));
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
  while (!stop_following) {
    std::this_thread::sleep_for(follow_poll_interval);
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

}  // namespace sovereign::gateway::audit_cli
