#pragma once
// The admin listener's routes: /metrics (Prometheus text format), /healthz (the process is alive),
// /readyz (a configuration is loaded and the API listeners accept requests).
#include "gateway/http/request_handler.hpp"
#include "gateway/pipeline/gateway_services.hpp"

namespace sovereign::gateway {

class AdminHandler : public RequestHandler {
 public:
  explicit AdminHandler(GatewayServices& services) : services_(services) {}
  void handle(HttpRequest& request, const ConnectionInfo& connection,
              ResponseSink& sink, std::function<void(bool)> complete) override;

 private:
  void sample_module_metrics();

  GatewayServices& services_;
};

}  // namespace sovereign::gateway
