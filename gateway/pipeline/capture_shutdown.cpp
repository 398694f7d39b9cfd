#include "gateway/pipeline/capture_shutdown.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/post.hpp>

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {

bool finish_captures(GatewayServices& services) {
  // Shared with the marker: when the thread is abandoned, the marker (still queued behind the
  // hung write) outlives this call and may run after it.
  auto finished = std::make_shared<std::promise<void>>();
  std::future<void> reached = finished->get_future();
  const auto handed_over = std::chrono::steady_clock::now();
  boost::asio::post(services.capture_writer, [finished] { finished->set_value(); });
  if (reached.wait_for(services.capture_health.write_timeout()) == std::future_status::ready) return true;

  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - handed_over);
  const std::optional<std::string> stall = services.capture_health.stalled(std::chrono::steady_clock::now());
  log_event("error", "captures_abandoned",
            "the capture thread did not finish within audit.capture_write_timeout_ms (" +
                std::to_string(waited.count()) + " ms) after the drain: " +
                std::to_string(services.capture_health.outstanding()) +
                " capture write(s) or probe(s) of the capture directory still outstanding" +
                (stall ? " (" + *stall + ")" : std::string()) +
                "; left unfinished and not joined, the process exits without them (none was reported written to "
                "its request; a partial temporary file may remain in the capture directory)");
  return false;
}

}  // namespace sovereign::gateway
