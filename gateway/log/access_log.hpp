#pragma once
// Structured access log: one JSON object per request, metadata only (never payload content).
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

struct AccessRecord {
  std::string time;        // RFC 3339 UTC with milliseconds
  std::string request_id;
  std::string remote;
  std::string method;
  std::string path;
  std::string tenant;
  std::string model;
  std::string backend;
  std::string zone;
  unsigned status = 0;
  std::string error_code;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t duration_us = 0;  // integer: JSON readers and log tools handle it exactly
  bool stream = false;
};

class AccessLog {
 public:
  // Opens the configured destination; nullopt target "off" logs nothing.
  static std::unique_ptr<AccessLog> open(const AccessLogConfig& config, std::string& error);
  ~AccessLog();

  void write(const AccessRecord& record);

 private:
  explicit AccessLog(std::FILE* out, bool owned) : out_(out), owned_(owned) {}
  std::FILE* out_;
  bool owned_;
  std::mutex mutex_;
};

// Operational log lines (startup, reload, refusals) as JSON on stderr.
void log_event(const std::string& level, const std::string& event, const std::string& message);

std::string rfc3339_now();

}  // namespace sovereign::gateway
