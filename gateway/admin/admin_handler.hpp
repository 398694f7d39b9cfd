#pragma once
// The admin listener's routes: /metrics (Prometheus text format), /healthz (the process is alive),
// /readyz (API requests can be served: 503 with the reason while starting, draining, while the
// audit log cannot be written, or while sealed captures the policy asks for cannot be). While
// captures fail, /readyz and /metrics start probes of the capture directory, so that a gateway out
// of rotation still sees it recover.
#include <string>

#include "gateway/http/request_handler.hpp"
#include "gateway/pipeline/gateway_services.hpp"

namespace sovereign::gateway {

class AdminHandler : public RequestHandler {
 public:
  explicit AdminHandler(GatewayServices& services) : services_(services) {}
  void handle(HttpRequest& request, const ConnectionInfo& connection,
              ResponseSink& sink, Callback<void(bool)> complete) override;

 private:
  void sample_module_metrics();
  // Empty when ready; otherwise why not, for /readyz.
  std::string not_ready_reason() const;

  GatewayServices& services_;
};

}  // namespace sovereign::gateway
