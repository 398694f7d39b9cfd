#include "gateway/pipeline/audit_records.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

json::array strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

json::object counts(const std::map<std::string, int>& items) {
  json::object out;
  for (const auto& [name, count] : items) out[name] = count;
  return out;
}

}  // namespace

std::string decision_record(const DecisionFacts& f, const std::string& time) {
  return json::serialize(json::object{{"kind", "decision"},
                                      {"time", time},
                                      {"request_id", f.request_id},
                                      {"tenant", f.tenant},
                                      {"model", f.model},
                                      {"endpoint", f.endpoint},
                                      {"decision", f.decision},
                                      {"rules", strings(f.rules)},
                                      {"policy_version", f.policy_version},
                                      {"data_class", f.data_class},
                                      {"detectors", counts(f.detectors)},
                                      {"zones", strings(f.allowed_zones)},
                                      {"capture", f.capture_payload},
                                      {"payload_sha256", f.payload_sha256}});
}

std::string outcome_record(const OutcomeFacts& f, const std::string& time) {
  json::object record{{"kind", "outcome"},
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
                      {"output_detectors", counts(f.output_detectors)}};
  if (!f.error.empty()) record["error"] = f.error;
  if (!f.captures.empty()) record["captures"] = strings(f.captures);
  return json::serialize(record);
}

}  // namespace sovereign::gateway
