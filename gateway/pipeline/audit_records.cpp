#include "gateway/pipeline/audit_records.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// Two records per request: each is built in a stack arena rather than node by node on the heap.
constexpr std::size_t record_arena_bytes = 4096;

json::array strings(const std::vector<std::string>& items, const json::storage_ptr& sp) {
  json::array out(sp);
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

json::object counts(const std::map<std::string, int>& items, const json::storage_ptr& sp) {
  json::object out(sp);
  for (const auto& [name, count] : items) out[name] = count;
  return out;
}

}  // namespace

std::string decision_record(const DecisionFacts& f, const std::string& time) {
  unsigned char buffer[record_arena_bytes];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::storage_ptr sp(&arena);
  return json::serialize(json::object({{"kind", "decision"},
                                      {"time", time},
                                      {"request_id", f.request_id},
                                      {"tenant", f.tenant},
                                      {"model", f.model},
                                      {"endpoint", f.endpoint},
                                      {"decision", f.decision},
                                      {"rules", strings(f.rules, sp)},
                                      {"policy_version", f.policy_version},
                                      {"data_class", f.data_class},
                                      {"detectors", counts(f.detectors, sp)},
                                      {"zones", strings(f.allowed_zones, sp)},
                                      {"capture", f.capture_payload},
                                      {"payload_sha256", f.payload_sha256}},
                                     sp));
}

std::string outcome_record(const OutcomeFacts& f, const std::string& time) {
  unsigned char buffer[record_arena_bytes];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::storage_ptr sp(&arena);
  json::object record({{"kind", "outcome"},
                      {"time", time},
                      {"request_id", f.request_id},
                      {"tenant", f.tenant},
                      {"model", f.model},
                      {"backend", f.backend},
                      {"zone", f.zone},
                      {"status", f.status},
                      {"bytes_in", f.bytes_in},
                      {"bytes_out", f.bytes_out},
                      {"latency_us", f.latency_us},
                      {"response_sha256", f.response_sha256},
                      {"output_detectors", counts(f.output_detectors, sp)}},
                     sp);
  if (!f.error.empty()) record["error"] = f.error;
  if (!f.captures.empty()) record["captures"] = strings(f.captures, sp);
  return json::serialize(record);
}

}  // namespace sovereign::gateway
