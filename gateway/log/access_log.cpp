#include "gateway/log/access_log.hpp"

#include <chrono>
#include <ctime>

#include <boost/json.hpp>

namespace sovereign::gateway {

std::string rfc3339_now() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

std::unique_ptr<AccessLog> AccessLog::open(const AccessLogConfig& config, std::string& error) {
  switch (config.target) {
    case AccessLogTarget::off: return nullptr;
    case AccessLogTarget::stderr_stream: return std::unique_ptr<AccessLog>(new AccessLog(stderr, false));
    case AccessLogTarget::stdout_stream: return std::unique_ptr<AccessLog>(new AccessLog(stdout, false));
    case AccessLogTarget::file: {
      std::FILE* file = std::fopen(config.file.c_str(), "a");
      if (file == nullptr) {
        error = "cannot open access log '" + config.file.string() + "' for appending";
        return nullptr;
      }
      return std::unique_ptr<AccessLog>(new AccessLog(file, true));
    }
  }
  return nullptr;
}

AccessLog::~AccessLog() {
  if (owned_) std::fclose(out_);
}

void AccessLog::write(const AccessRecord& r) {
  boost::json::object line{{"time", r.time},       {"type", "access"},        {"request_id", r.request_id},
                           {"remote", r.remote},   {"method", r.method},      {"path", r.path},
                           {"tenant", r.tenant},   {"model", r.model},        {"backend", r.backend},
                           {"zone", r.zone},       {"status", r.status},      {"bytes_in", r.bytes_in},
                           {"bytes_out", r.bytes_out}, {"duration_us", r.duration_us}, {"stream", r.stream}};
  if (!r.error_code.empty()) line["error"] = r.error_code;
  std::string text = boost::json::serialize(line);
  text += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void log_event(const std::string& level, const std::string& event, const std::string& message) {
  boost::json::object line{{"time", rfc3339_now()}, {"level", level}, {"event", event}, {"message", message}};
  std::string text = boost::json::serialize(line);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace sovereign::gateway
