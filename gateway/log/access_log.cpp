#include "gateway/log/access_log.hpp"

#include <chrono>
#include <ctime>

#include "gateway/log/json_line.hpp"

namespace sovereign::gateway {

// Called for every audit record and log line: the date and time of day are formatted once per
// second and thread, the milliseconds every time.
std::string rfc3339_now() {
  thread_local std::time_t formatted_second = -1;
  thread_local char prefix[24] = {};
  thread_local std::size_t prefix_length = 0;
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  if (seconds != formatted_second) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    prefix_length = std::strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &utc);
    formatted_second = seconds;
  }
  std::string out(prefix, prefix_length);
  const char tail[] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                       static_cast<char>('0' + millis % 10), 'Z'};
  out.append(tail, sizeof tail);
  return out;
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
  JsonLine line(384);
  line.add("time", r.time)
      .add("type", "access")
      .add("request_id", r.request_id)
      .add("remote", r.remote)
      .add("method", r.method)
      .add("path", r.path)
      .add("tenant", r.tenant)
      .add("model", r.model)
      .add("backend", r.backend)
      .add("zone", r.zone)
      .add("status", r.status)
      .add("bytes_in", r.bytes_in)
      .add("bytes_out", r.bytes_out)
      .add("duration_us", r.duration_us)
      .add("stream", r.stream);
  if (!r.error_code.empty()) line.add("error", r.error_code);
  std::string text = line.finish();
  text += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void log_event(const std::string& level, const std::string& event, const std::string& message) {
  std::string text =
      JsonLine().add("time", rfc3339_now()).add("level", level).add("event", event).add("message", message).finish();
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace sovereign::gateway
