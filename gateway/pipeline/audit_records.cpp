#include "gateway/pipeline/audit_records.hpp"

#include "gateway/log/json_line.hpp"

namespace sovereign::gateway {
namespace {

const std::map<std::string, int>& or_none(const std::map<std::string, int>* counts) {
  static const std::map<std::string, int> none;
  return counts != nullptr ? *counts : none;
}

// The fields every record begins with: which kind, when, and whose request for which model.
JsonLine record_head(std::string_view kind, std::string_view time, std::string_view request_id,
                     std::string_view tenant, std::string_view model) {
  JsonLine record(512);
  record.add("kind", kind).add("time", time).add("request_id", request_id).add("tenant", tenant).add("model", model);
  return record;
}

}  // namespace

std::string decision_record(const DecisionFacts& f, std::string_view time) {
  JsonLine record = record_head("decision", time, f.request_id, f.tenant, f.model);
  record.add("endpoint", f.endpoint)
      .add("decision", f.decision)
      .add_strings("rules", f.rules);
  if (!f.warn_rules.empty()) record.add_strings("warn_rules", f.warn_rules);
  if (!f.dry_run_rules.empty()) record.add_strings("dry_run_rules", f.dry_run_rules);
  // Parts let through unscanned are counted beside the detectors, as "unscanned:image_url", so that
  // `audit query --detector unscanned:image_url` finds them (no detector name holds a ':').
  std::map<std::string, int> with_unscanned;
  if (f.unscanned != nullptr && !f.unscanned->empty()) {
    with_unscanned = or_none(f.detectors);
    for (const auto& [type, count] : *f.unscanned) with_unscanned["unscanned:" + type] = count;
  }
  record.add("policy_version", f.policy_version)
      .add("data_class", f.data_class)
      .add_counts("detectors", with_unscanned.empty() ? or_none(f.detectors) : with_unscanned)
      .add_strings("zones", f.allowed_zones);
  if (!f.allowed_backends.empty()) record.add_strings("backends", f.allowed_backends);
  return record.add("capture", f.capture_payload).add("payload_sha256", f.payload_sha256).finish();
}

std::string outcome_record(const OutcomeFacts& f, std::string_view time) {
  JsonLine record = record_head("outcome", time, f.request_id, f.tenant, f.model);
  record.add("backend", f.backend)
      .add("zone", f.zone)
      .add("status", f.status)
      .add("bytes_in", f.bytes_in)
      .add("bytes_out", f.bytes_out)
      .add("latency_us", f.latency_us)
      .add("response_sha256", f.response_sha256)
      .add_counts("output_detectors", or_none(f.output_detectors));
  if (!f.error.empty()) record.add("error", f.error);
  if (!f.captures.empty()) record.add_strings("captures", f.captures);
  if (!f.captures_failed.empty()) record.add_strings("captures_failed", f.captures_failed);
  return record.finish();
}

}  // namespace sovereign::gateway
