#include "gateway/upstream/health_checker.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/http/framing.hpp"
#include "gateway/log/access_log.hpp"
#include "gateway/upstream/replica_resolver.hpp"
#include "gateway/upstream/upstream_connection.hpp"

namespace sovereign::gateway {
namespace http = boost::beast::http;

struct HealthChecker::Probe {
  Probe(boost::asio::io_context& io, BackendState& b, ReplicaState& r) : backend(b), replica(r), timer(io) {}
  BackendState& backend;
  ReplicaState& replica;
  boost::asio::steady_timer timer;
  std::shared_ptr<UpstreamConnection> connection;
  http::request<http::empty_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  std::size_t interim_heads = 0;  // 1xx heads read past in this check
};

HealthChecker::HealthChecker(boost::asio::io_context& io, HostLookups& lookups, std::shared_ptr<RuntimeSnapshot> snapshot)
    : io_(io), lookups_(lookups), snapshot_(std::move(snapshot)) {}

void HealthChecker::start() {
  for (auto& backend : snapshot_->backends)
    for (auto& replica : backend->replicas) {
      const Pinning::Status pinning = replica->pinning();
      // As the configuration it replaces left it, if this replica was configured there (ReplicaHealth).
      replica->series->healthy.Set(pinning == Pinning::Status::pinned && replica->healthy() ? 1 : 0);
      replica->series->unresolved.Set(pinning == Pinning::Status::unresolved ? 1 : 0);
      if (pinning == Pinning::Status::refused) {
        ReplicaResolver::log_refusal(*backend, *replica);
        continue;
      }
      if (pinning == Pinning::Status::unresolved) {
        auto resolver = std::make_shared<ReplicaResolver>(io_, lookups_, snapshot_, *backend, *replica,
                                                           [weak = weak_from_this(), b = backend.get(), r = replica.get()] {
                                                             if (auto self = weak.lock(); self && !self->stopped_)
                                                               self->probe(*b, *r);
                                                           });
        resolvers_.push_back(resolver);
        resolver->start();
        continue;
      }
      probe(*backend, *replica);
    }
}

void HealthChecker::probe(BackendState& backend, ReplicaState& replica) {
  auto probe = std::make_shared<Probe>(io_, backend, replica);
  probes_.push_back(probe);
  schedule(probe, std::chrono::milliseconds(0));
}

void HealthChecker::stop() {
  stopped_ = true;
  for (auto& resolver : resolvers_) resolver->stop();
  for (auto& probe : probes_) {
    probe->timer.cancel();
    if (probe->connection) probe->connection->close();
  }
}

void HealthChecker::schedule(std::shared_ptr<Probe> probe, std::chrono::milliseconds delay) {
  if (stopped_) return;
  probe->timer.expires_after(delay);
  probe->timer.async_wait([self = shared_from_this(), probe](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    self->check(probe);
  });
}

void HealthChecker::check(std::shared_ptr<Probe> probe) {
  const auto& config = *probe->backend.config;
  probe->connection = std::make_shared<UpstreamConnection>(io_, probe->replica, probe->backend.tls);
  auto deadline = std::chrono::steady_clock::now() + config.health_check.timeout;
  probe->connection->connect(config.health_check.timeout, [self = shared_from_this(), probe, deadline](
                                                              boost::system::error_code ec, bool) {
    if (self->stopped_) return;
    if (ec) return self->report(probe, false, "cannot connect: " + self->failure(probe, ec));
    const auto& replica = probe->replica.config();
    probe->request = {};
    probe->request.method(http::verb::get);
    probe->request.target(replica.base_path + probe->backend.config->health_check.path);
    probe->request.version(11);
    probe->request.set(http::field::host, probe->replica.host_header());
    probe->request.set(http::field::user_agent, "sovereign-gateway-health");
    if (!probe->backend.authorization.empty()) probe->request.set(http::field::authorization, probe->backend.authorization);
    probe->request.keep_alive(false);
    probe->connection->tcp().expires_at(deadline);
    probe->connection->with_stream([&](auto& stream) {
      http::async_write(stream, probe->request, [self, probe](boost::system::error_code ec, std::size_t) {
        if (self->stopped_) return;
        if (ec) return self->report(probe, false, "cannot send the check: " + self->failure(probe, ec));
        probe->interim_heads = 0;
        self->read_answer(probe);
      });
    });
  });
}

void HealthChecker::read_answer(std::shared_ptr<Probe> probe) {
  probe->parser.emplace();
  probe->parser->body_limit(1024 * 1024);
  probe->connection->with_stream([&](auto& stream) {
    http::async_read(stream, probe->connection->buffer(), *probe->parser,
                     [self = shared_from_this(), probe](boost::system::error_code ec, std::size_t) {
                       if (self->stopped_) return;
                       if (ec) return self->report(probe, false, "no answer: " + self->failure(probe, ec));
                       unsigned status = probe->parser->get().result_int();
                       if (interim_status(status) && ++probe->interim_heads <= max_interim_heads)
                         return self->read_answer(probe);
                       // Only a 2xx passes: requests are never sent after a redirect (they get 502), so a
                       // replica whose health path redirects (to a login page, another host) cannot serve.
                       std::string outcome = "answered " + std::to_string(status) + " to GET " +
                                             std::string(probe->request.target());
                       if (status >= 300 && status < 400)
                         outcome += " (a redirect, which the gateway does not follow; check health_check.path and "
                                    "the replica's url)";
                       self->report(probe, status >= 200 && status < 300, outcome);
                     });
  });
}

std::string HealthChecker::failure(const std::shared_ptr<Probe>& probe, const boost::system::error_code& ec) const {
  if (ec != boost::beast::error::timeout) return probe->connection ? probe->connection->failure_message(ec) : ec.message();
  return "nothing within health_check.timeout_ms (" + std::to_string(probe->backend.config->health_check.timeout.count()) + ")";
}

void HealthChecker::report(const std::shared_ptr<Probe>& probe, bool passed, const std::string& outcome) {
  if (probe->connection) probe->connection->close();
  probe->connection.reset();
  if (probe->replica.record_check(passed)) {
    const auto& name = probe->backend.config->name;
    const auto& url = probe->replica.config().url;
    probe->replica.series->healthy.Set(probe->replica.healthy() ? 1 : 0);
    if (passed)
      log_event("info", "backend_healthy", "backend '" + name + "' replica " + url + " passes its health checks");
    else
      log_event("warn", "backend_unhealthy",
                "backend '" + name + "' replica " + url + " fails its health checks (" +
                    std::to_string(probe->backend.config->health_check.unhealthy_after) + " in a row; last: " + outcome + ")");
  }
  schedule(probe, probe->backend.config->health_check.interval);
}

}  // namespace sovereign::gateway
