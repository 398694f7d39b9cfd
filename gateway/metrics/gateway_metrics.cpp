#include "gateway/metrics/gateway_metrics.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <unordered_map>

#include <prometheus/text_serializer.h>

namespace sovereign::gateway {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10,
                                                               30,     60,    120};
  return buckets;
}

// How many times request series were removed from any registry: a worker's cache of series
// pointers made before the latest removal is dropped before it is read (GatewayMetrics::request_finished).
std::atomic<std::uint64_t> request_series_removals{0};

// Per-thread cache of series pointers keyed by family address and joined label values.
template <typename Metric, typename Make>
Metric& cached(const void* family, const std::string& key, Make make) {
  thread_local std::unordered_map<std::string, void*> cache;
  std::string full_key = std::to_string(reinterpret_cast<std::uintptr_t>(family)) + '\x1f' + key;
  auto [it, inserted] = cache.try_emplace(std::move(full_key), nullptr);
  if (inserted) it->second = &make();
  return *static_cast<Metric*>(it->second);
}

// A counter fed from a total kept elsewhere: only this function increments it, so its value is the
// total at the previous scrape, and it advances by the difference (a total never goes down).
void advance_to(prometheus::Counter& counter, double total) {
  const double added = total - counter.Value();
  if (added > 0) counter.Increment(added);
}

}  // namespace

GatewayMetrics::GatewayMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("sovereign_http_requests_total")
                    .Help("API requests answered, by tenant, model, backend and HTTP status")
                    .Register(*registry_)),
      durations_(BuildHistogram()
                     .Name("sovereign_http_request_duration_seconds")
                     .Help("Time from the complete request to the last response byte, by tenant, model, backend and status class")
                     .Register(*registry_)),
      upstream_healthy_(BuildGauge()
                            .Name("sovereign_upstream_healthy")
                            .Help("1 when the backend replica passes its health checks, else 0")
                            .Register(*registry_)),
      pool_connections_(BuildGauge()
                            .Name("sovereign_upstream_pool_connections")
                            .Help("Upstream connections by backend and state (idle, active)")
                            .Register(*registry_)),
      pool_connections_dropped_(BuildCounter()
                                    .Name("sovereign_upstream_connections_dropped_total")
                                    .Help("Keep-alive upstream connections closed instead of reused, by backend and "
                                          "reason: unexpected_bytes (the backend sent bytes no request asked for, "
                                          "which would have been read as the next request's answer), "
                                          "closed_by_backend (it closed the connection while idle)")
                                    .Register(*registry_)),
      egress_refusals_(BuildCounter()
                           .Name("sovereign_egress_refusals_total")
                           .Help("Connections refused by the egress guard because the address is outside the boundary")
                           .Register(*registry_)),
      resolution_failures_(BuildCounter()
                               .Name("sovereign_upstream_resolution_failures_total")
                               .Help("Resolutions of a backend replica's host name that gave no address (resolver "
                                     "failure, unknown name, timeout), at load and at each retry; not egress refusals")
                               .Register(*registry_)),
      upstream_unresolved_(BuildGauge()
                               .Name("sovereign_upstream_unresolved")
                               .Help("1 while the backend replica's host name has not resolved (it gets no request and "
                                     "is resolved again every health-check interval), else 0")
                               .Register(*registry_)),
      config_reloads_(BuildCounter()
                          .Name("sovereign_config_reloads_total")
                          .Help("Configuration reloads by result (applied, rejected)")
                          .Register(*registry_)),
      policy_info_(BuildGauge()
                       .Name("sovereign_policy_info")
                       .Help("1 for the policy in force, labelled with its name and version (sha256 of the file, as in "
                             "decision records)")
                       .Register(*registry_)),
      policy_file_refused_(BuildGauge()
                               .Name("sovereign_policy_file_refused")
                               .Help("1 while the policy file holds a version the gateway refused or cannot read, so "
                                     "an older policy is in force; 0 once the file holds the policy in force")
                               .Register(*registry_)
                               .Add({})),
      rate_limited_(BuildCounter()
                        .Name("sovereign_rate_limited_total")
                        .Help("Requests refused with 429 by the tenant's rate limit")
                        .Register(*registry_)),
      upstream_retries_(BuildCounter()
                            .Name("sovereign_upstream_retries_total")
                            .Help("Requests retried on another replica after a failure before any response byte")
                            .Register(*registry_)),
      engine_queue_depth_(BuildGauge()
                              .Name("sovereign_engine_queue_depth")
                              .Help("Requests waiting for a batch slot in the built-in engine")
                              .Register(*registry_)),
      engine_batch_size_(BuildGauge()
                             .Name("sovereign_engine_batch_size")
                             .Help("Sequences in the built-in engine's running batch")
                             .Register(*registry_)),
      engine_tokens_per_second_(BuildGauge()
                                    .Name("sovereign_engine_tokens_per_second")
                                    .Help("Tokens generated per second by the built-in engine, recent average")
                                    .Register(*registry_)),
      engine_kv_cache_used_(BuildGauge()
                                .Name("sovereign_engine_kv_cache_used_ratio")
                                .Help("Fraction of the built-in engine's KV cache pages in use")
                                .Register(*registry_)),
      engine_gpu_memory_(BuildGauge()
                             .Name("sovereign_engine_gpu_memory_bytes")
                             .Help("GPU memory the built-in engine holds")
                             .Register(*registry_)),
      audit_records_(BuildCounter()
                         .Name("sovereign_audit_records_total")
                         .Help("Audit records by result (written, failed)")
                         .Register(*registry_)),
      audit_checkpoints_(BuildCounter()
                             .Name("sovereign_audit_checkpoints_total")
                             .Help("Signed audit checkpoints written")
                             .Register(*registry_)),
      audit_group_commits_(BuildCounter()
                               .Name("sovereign_audit_group_commits_total")
                               .Help("Audit write batches and fsyncs (kind=batches|syncs)")
                               .Register(*registry_)),
      audit_queue_(BuildGauge()
                       .Name("sovereign_audit_queue_records")
                       .Help("Audit records waiting for the writer thread")
                       .Register(*registry_)),
      audit_healthy_(BuildGauge()
                         .Name("sovereign_audit_healthy")
                         .Help("1 while the audit log can be written; 0 means requests are refused with 503")
                         .Register(*registry_)),
      connections_active_(BuildGauge()
                              .Name("sovereign_connections_active")
                              .Help("Client connections currently open")
                              .Register(*registry_)
                              .Add({})),
      connections_refused_(BuildCounter()
                               .Name("sovereign_connections_refused_total")
                               .Help("Client connections refused because max_connections was reached (answered 503, or closed unanswered in a flood)")
                               .Register(*registry_)
                               .Add({})),
      vault_refusals_(BuildCounter()
                          .Name("sovereign_vault_refusals_total")
                          .Help("Requests refused with 503 tokenization_unavailable because the vault took no more "
                                "values (full, or the tenant's share taken)")
                          .Register(*registry_)
                          .Add({})),
      capture_failures_(BuildCounter()
                            .Name("sovereign_capture_failures_total")
                            .Help("Sealed captures the policy asked for that could not be written (the request was "
                                  "refused with 503 capture_unavailable, or its answer ended with that error)")
                            .Register(*registry_)),
      capture_store_healthy_(BuildGauge()
                                 .Name("sovereign_capture_store_healthy")
                                 .Help("1 while sealed captures can be written; 0 means requests the policy captures "
                                       "are refused with 503 capture_unavailable")
                                 .Register(*registry_)),
      vault_mappings_(BuildGauge()
                          .Name("sovereign_vault_mappings")
                          .Help("Token mappings the vault holds (live, and expired ones not yet purged)")
                          .Register(*registry_)
                          .Add({})),
      vault_capacity_(BuildGauge()
                          .Name("sovereign_vault_capacity")
                          .Help("Mappings the vault may hold (vault max_entries); past it new values are refused")
                          .Register(*registry_)
                          .Add({})),
      vault_journal_bytes_(BuildGauge()
                               .Name("sovereign_vault_journal_bytes")
                               .Help("Size of the vault's mappings file (vault.directory); 0 when kept in memory only")
                               .Register(*registry_)
                               .Add({})) {
  config_reloads_.Add({{"result", "applied"}});
  config_reloads_.Add({{"result", "rejected"}});
  for (const char* part : {"request", "response"}) capture_failures_.Add({{"part", part}});  // at 0 from the start
  BuildGauge()
      .Name("sovereign_build_info")
      .Help("1, labelled with the version of the running sovereign binary")
      .Register(*registry_)
      .Add({{"version", SOVEREIGN_VERSION}})
      .Set(1);
}

void GatewayMetrics::set_policy(const std::string& name, const std::string& version) {
  if (policy_series_ != nullptr) policy_info_.Remove(policy_series_);
  policy_series_ = nullptr;
  if (version.empty()) return;
  policy_series_ = &policy_info_.Add({{"policy", name}, {"version", version}});
  policy_series_->Set(1);
}

void GatewayMetrics::request_finished(const std::string& tenant, const std::string& model, const std::string& backend,
                                      unsigned status, double seconds) {
  // One cache entry per label set holds the histogram and the counters by status, so a request
  // costs one lookup and no registry lock.
  // Latency is kept per status class (2xx, 4xx, 5xx...), not per status: a histogram is a dozen
  // series, and a fast 401 must not hide in the latency of answered requests.
  struct Series {
    std::array<prometheus::Histogram*, 6> duration_by_class{};
    std::unordered_map<unsigned, prometheus::Counter*> by_status;
  };
  thread_local std::unordered_map<std::string, Series> cache;
  thread_local std::uint64_t cache_removals = 0;
  thread_local std::string key;
  // A removed backend's series are gone from the registry: pointers to them must not be read again.
  // (The backend's own requests cannot be counting now: each holds a snapshot that has it.)
  if (const std::uint64_t removals = request_series_removals.load(std::memory_order_acquire); removals != cache_removals) {
    cache.clear();
    cache_removals = removals;
  }
  key.assign(tenant).append(1, '\x1f').append(model).append(1, '\x1f').append(backend);
  key.append(1, '\x1f').append(std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  auto& series = cache[key];
  const unsigned status_class = std::min(status / 100, 5u);
  auto& duration = series.duration_by_class[status_class];
  auto& counter = series.by_status[status];
  if (duration == nullptr || counter == nullptr) {
    if (duration == nullptr)
      duration = &durations_.Add({{"tenant", tenant}, {"model", model}, {"backend", backend},
                                  {"status_class", std::to_string(status_class) + "xx"}},
                                 latency_buckets());
    if (counter == nullptr)
      counter = &requests_.Add({{"tenant", tenant}, {"model", model}, {"backend", backend}, {"status", std::to_string(status)}});
    if (!backend.empty()) {
      std::lock_guard lock(made_request_series_mutex_);
      auto& made = made_request_series_[backend];
      made.counts.insert(counter);
      made.durations.insert(duration);
    }
  }
  counter->Increment();
  duration->Observe(seconds);
}

std::shared_ptr<const GatewayMetrics::RequestSeries> GatewayMetrics::request_series(const std::string& backend) {
  return request_series_.get(backend, [] { return RequestSeries{}; }, [this, backend](const RequestSeries&) {
    std::lock_guard lock(made_request_series_mutex_);
    auto made = made_request_series_.find(backend);
    if (made == made_request_series_.end()) return;
    for (prometheus::Counter* count : made->second.counts) requests_.Remove(count);
    for (prometheus::Histogram* duration : made->second.durations) durations_.Remove(duration);
    made_request_series_.erase(made);
    request_series_removals.fetch_add(1, std::memory_order_release);
  });
}

void GatewayMetrics::rate_limited(const std::string& tenant) {
  cached<prometheus::Counter>(&rate_limited_, tenant, [&]() -> prometheus::Counter& {
    return rate_limited_.Add({{"tenant", tenant}});
  }).Increment();
}

void GatewayMetrics::config_reload(bool applied) {
  config_reloads_.Add({{"result", applied ? "applied" : "rejected"}}).Increment();
}

std::shared_ptr<const GatewayMetrics::BackendSeries> GatewayMetrics::backend_series(const std::string& backend) {
  auto make = [&] {
    return BackendSeries{pool_connections_.Add({{"backend", backend}, {"state", "active"}}),
                         pool_connections_.Add({{"backend", backend}, {"state", "idle"}}),
                         pool_connections_dropped_.Add({{"backend", backend}, {"reason", "unexpected_bytes"}}),
                         pool_connections_dropped_.Add({{"backend", backend}, {"reason", "closed_by_backend"}}),
                         egress_refusals_.Add({{"backend", backend}}),
                         upstream_retries_.Add({{"backend", backend}}),
                         resolution_failures_.Add({{"backend", backend}})};
  };
  return backend_series_.get(backend, make, [this](const BackendSeries& gone) {
    pool_connections_.Remove(&gone.active_connections);
    pool_connections_.Remove(&gone.idle_connections);
    pool_connections_dropped_.Remove(&gone.dropped_unexpected_bytes);
    pool_connections_dropped_.Remove(&gone.dropped_closed);
    egress_refusals_.Remove(&gone.egress_refusals);
    upstream_retries_.Remove(&gone.retries);
    resolution_failures_.Remove(&gone.resolution_failures);
  });
}

std::shared_ptr<const GatewayMetrics::ReplicaSeries> GatewayMetrics::replica_series(const std::string& backend,
                                                                                    const std::string& replica) {
  auto make = [&] {
    const prometheus::Labels labels{{"backend", backend}, {"replica", replica}};
    return ReplicaSeries{upstream_healthy_.Add(labels), upstream_unresolved_.Add(labels)};
  };
  return replica_series_.get(backend + '\x1f' + replica, make, [this](const ReplicaSeries& gone) {
    upstream_healthy_.Remove(&gone.healthy);
    upstream_unresolved_.Remove(&gone.unresolved);
  });
}

void GatewayMetrics::set_engines(const std::vector<EngineSample>& samples) {
  const std::array<prometheus::Family<prometheus::Gauge>*, 5> families{
      &engine_queue_depth_, &engine_batch_size_, &engine_tokens_per_second_, &engine_kv_cache_used_,
      &engine_gpu_memory_};
  std::lock_guard lock(engine_series_mutex_);
  std::map<std::pair<std::string, std::string>, std::array<prometheus::Gauge*, 5>> current;
  for (const EngineSample& s : samples) {
    const prometheus::Labels labels{{"backend", s.backend}, {"device", s.device}};
    std::array<prometheus::Gauge*, 5> series{};
    for (std::size_t i = 0; i < families.size(); ++i) series[i] = &families[i]->Add(labels);
    series[0]->Set(s.queue_depth);
    series[1]->Set(s.active_sequences);
    series[2]->Set(s.tokens_per_second);
    series[3]->Set(s.kv_cache_used_fraction);
    series[4]->Set(s.gpu_memory_used_bytes);
    current.emplace(std::make_pair(s.backend, s.device), series);
  }
  for (const auto& [key, series] : engine_series_)
    if (current.count(key) == 0)
      for (std::size_t i = 0; i < families.size(); ++i) families[i]->Remove(series[i]);
  engine_series_ = std::move(current);
}

void GatewayMetrics::set_audit(const AuditSample& s) {
  {
    std::lock_guard lock(audit_totals_mutex_);
    advance_to(audit_records_.Add({{"result", "written"}}), s.records_written);
    advance_to(audit_records_.Add({{"result", "failed"}}), s.records_failed);
    advance_to(audit_checkpoints_.Add({}), s.checkpoints_written);
    advance_to(audit_group_commits_.Add({{"kind", "batches"}}), s.write_batches);
    advance_to(audit_group_commits_.Add({{"kind", "syncs"}}), s.syncs);
  }
  audit_queue_.Add({}).Set(s.queued);
  audit_healthy_.Add({}).Set(s.healthy ? 1 : 0);
}

void GatewayMetrics::set_vault(double mappings, double capacity, double journal_bytes) {
  vault_mappings_.Set(mappings);
  vault_capacity_.Set(capacity);
  vault_journal_bytes_.Set(journal_bytes);
}

std::string GatewayMetrics::serialize() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

}  // namespace sovereign::gateway
