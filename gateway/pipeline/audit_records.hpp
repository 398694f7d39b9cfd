#pragma once
// The two audit records every decided request leaves (docs/AUDIT.md): the decision, written before
// anything leaves the gateway, and the outcome, written after the response. Metadata, counts and
// digests only: never a payload, never a key.
#include <map>
#include <string>
#include <vector>

namespace sovereign::gateway {

struct DecisionFacts {
  std::string request_id;
  std::string tenant;
  std::string model;
  std::string endpoint;
  std::string decision;  // allow | deny
  std::vector<std::string> rules;
  std::string policy_version;
  std::string data_class;
  std::map<std::string, int> detectors;
  std::vector<std::string> allowed_zones;
  bool capture_payload = false;
  std::string payload_sha256;
};

struct OutcomeFacts {
  std::string request_id;
  std::string tenant;
  std::string model;
  std::string backend;
  std::string zone;
  unsigned status = 0;
  std::string error;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t latency_us = 0;
  std::string response_sha256;
  std::map<std::string, int> output_detectors;
  std::vector<std::string> captures;  // file names of sealed captures, when the policy asked for them
};

std::string decision_record(const DecisionFacts& facts, const std::string& time);
std::string outcome_record(const OutcomeFacts& facts, const std::string& time);

}  // namespace sovereign::gateway
