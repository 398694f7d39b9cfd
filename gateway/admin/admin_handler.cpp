#include "gateway/admin/admin_handler.hpp"

#include <boost/json.hpp>

#include "gateway/openai/api_error.hpp"
#include "gateway/pipeline/sealed_captures.hpp"

namespace sovereign::gateway {
namespace http = boost::beast::http;

void AdminHandler::sample_module_metrics() {
  auto& metrics = services_.metrics;
  metrics.connections_active().Set(static_cast<double>(services_.sessions.open.load()));
  if (auto snapshot = services_.current()) {
    std::vector<GatewayMetrics::EngineSample> samples;
    for (const auto& [backend, engine] : snapshot->engines) {
      auto stats = engine->stats();
      samples.push_back({backend, stats.device, static_cast<double>(stats.queue_depth),
                         static_cast<double>(stats.active_sequences), stats.tokens_per_second,
                         stats.kv_cache_used_fraction, static_cast<double>(stats.gpu_memory_used_bytes)});
    }
    metrics.set_engines(samples);
  }
  if (services_.vault) {
    metrics.set_vault(static_cast<double>(services_.vault->size()), static_cast<double>(services_.vault->capacity()),
                      static_cast<double>(services_.vault->journal_bytes()));
  }
  if (services_.audit) {
    auto stats = services_.audit->stats();
    metrics.set_audit({static_cast<double>(stats.records_written), static_cast<double>(stats.records_failed),
                       static_cast<double>(stats.checkpoints_written), static_cast<double>(stats.syncs),
                       static_cast<double>(stats.write_batches), static_cast<double>(stats.queued),
                       services_.audit->healthy()});
  }
  if (services_.captures) metrics.set_capture_store_healthy(services_.capture_health.healthy());
}

// Ready means that API requests can be served: started, not draining, and, with an audit log, the log
// can be written (otherwise every request is refused with 503 audit_unavailable, so a load balancer
// should send them elsewhere). Likewise sealed captures, where the policy in force asks for any: the
// requests it captures would all be refused with 503 capture_unavailable. Backends' health is left
// out: one model's backend being down does not make the others unavailable, and /metrics reports it.
std::string AdminHandler::not_ready_reason() const {
  const std::shared_ptr<RuntimeSnapshot> snapshot = services_.current();
  if (snapshot == nullptr) return "starting: the backends' host names are being looked up";
  if (!services_.ready.load()) return "starting";
  if (services_.sessions.draining.load()) return "draining: shutting down";
  if (services_.audit && !services_.audit->healthy())
    return "the audit log cannot be written, so requests are refused: " + services_.audit->health_detail();
  if (snapshot->policy && snapshot->policy->asks_for_captures())
    if (const std::optional<std::string> failure = services_.capture_health.failure())
      return "sealed captures cannot be written: " + *failure;
  return {};
}

void AdminHandler::handle(HttpRequest& request, const ConnectionInfo&, ResponseSink& sink,
                          Callback<void(bool)> complete) {
  HttpResponse response{http::status::ok, 11};
  auto path = request.target().substr(0, request.target().find('?'));
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto error = api_errors::method_not_allowed(std::string(request.method_string()), std::string(path), "GET, HEAD");
    response.result(error.status);
    response.set(http::field::allow, error.allow);
    response.set(http::field::content_type, "application/json");
    response.body() = error.to_json();
  } else if (path == "/metrics") {
    check_capture_health(services_);
    sample_module_metrics();
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = services_.metrics.serialize();
  } else if (path == "/healthz") {
    response.set(http::field::content_type, "application/json");
    response.body() = R"({"status":"ok"})";
  } else if (path == "/readyz") {
    check_capture_health(services_);
    const std::string reason = not_ready_reason();
    response.result(reason.empty() ? http::status::ok : http::status::service_unavailable);
    response.set(http::field::content_type, "application/json");
    response.body() = reason.empty() ? R"({"status":"ready"})"
                                     : boost::json::serialize(boost::json::object{{"status", "not ready"}, {"reason", reason}});
  } else {
    auto error = api_errors::not_found(std::string(path));
    response.result(error.status);
    response.set(http::field::content_type, "application/json");
    response.body() = error.to_json();
  }
  response.prepare_payload();
  if (request.method() == http::verb::head) response.body().clear();
  sink.send(std::move(response), [complete = std::move(complete)](bool ok) { complete(ok); });
}

}  // namespace sovereign::gateway
