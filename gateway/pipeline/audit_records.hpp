#pragma once
// The two audit records every decided request leaves (docs/AUDIT.md): the decision, written before
// anything leaves the gateway, and the outcome, written after the response. Metadata, counts and
// digests only: never a payload, never a key.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sovereign::gateway {

// The facts view the exchange's own state: they are written into the record at once.
struct DecisionFacts {
  std::string_view request_id;
  std::string_view tenant;
  std::string_view model;
  std::string_view endpoint;
  std::string_view decision;  // allow | deny
  std::vector<std::string_view> rules;          // every matched rule, whatever its mode
  std::vector<std::string_view> warn_rules;     // of those, the ones in warn mode (not enforced)
  std::vector<std::string_view> dry_run_rules;  // and in dry-run mode (not enforced)
  std::string_view policy_version;
  std::string_view data_class;
  const std::map<std::string, int>* detectors = nullptr;  // none: written as {}
  const std::map<std::string, int>* unscanned = nullptr;  // part type -> parts let through unscanned
  std::span<const std::string> allowed_zones;
  std::span<const std::string> allowed_backends;  // empty: any backend in the zones
  bool capture_payload = false;
  std::string_view payload_sha256;
};

struct OutcomeFacts {
  std::string_view request_id;
  std::string_view tenant;
  std::string_view model;
  std::string_view backend;
  std::string_view zone;
  unsigned status = 0;
  std::string_view error;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t latency_us = 0;
  std::string_view response_sha256;
  const std::map<std::string, int>* output_detectors = nullptr;  // none: written as {}
  std::span<const std::string> captures;         // file names of the sealed captures written
  std::span<const std::string> captures_failed;  // parts ("request", "response") whose capture failed
};

std::string decision_record(const DecisionFacts& facts, std::string_view time);
std::string outcome_record(const OutcomeFacts& facts, std::string_view time);

}  // namespace sovereign::gateway
