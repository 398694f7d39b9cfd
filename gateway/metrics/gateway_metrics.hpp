#pragma once
// Every metric the gateway exports, declared in one place (prometheus-cpp core). Labelled series
// are looked up through a per-thread cache, so the request path takes no registry lock after the
// first request of each label combination on each worker.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "gateway/metrics/shared_series.hpp"

namespace sovereign::gateway {

class GatewayMetrics {
 public:
  GatewayMetrics();

  void request_finished(const std::string& tenant, const std::string& model, const std::string& backend,
                        unsigned status, double seconds);
  void rate_limited(const std::string& tenant);
  void config_reload(bool applied);

  // A network backend's series, held by its state in each configuration snapshot that has it and
  // gone from /metrics once none does (see SharedSeries): all at 0 until counted.
  struct BackendSeries {
    prometheus::Gauge& active_connections;  // connections carrying a request now
    prometheus::Gauge& idle_connections;    // kept open in the workers' pools
    // Pooled connections closed instead of reused: the backend sent bytes no request asked for, or
    // closed them while idle.
    prometheus::Counter& dropped_unexpected_bytes;
    prometheus::Counter& dropped_closed;
    prometheus::Counter& egress_refusals;
    prometheus::Counter& retries;
    // Resolutions of a replica's host name that gave no address (at load and at each retry).
    prometheus::Counter& resolution_failures;
  };
  std::shared_ptr<const BackendSeries> backend_series(const std::string& backend);
  // A backend's series of API requests (sovereign_http_requests_total and
  // sovereign_http_request_duration_seconds labelled with it), held by every configuration snapshot
  // that has the backend, of any type: once none does, they are gone from /metrics too. The series
  // are made as requests are counted (request_finished); this only holds them.
  struct RequestSeries {};
  std::shared_ptr<const RequestSeries> request_series(const std::string& backend);
  // A replica's health (1 passing its checks) and whether its host name is still unresolved (1),
  // likewise held by its state.
  struct ReplicaSeries {
    prometheus::Gauge& healthy;
    prometheus::Gauge& unresolved;
  };
  std::shared_ptr<const ReplicaSeries> replica_series(const std::string& backend, const std::string& replica);
  // The policy in force (its name and content hash, as in decision records); empty: none.
  // Called whenever a configuration is installed.
  void set_policy(const std::string& name, const std::string& version);
  // Whether the policy file holds a version the gateway refused (or cannot read), so that the policy
  // in force is an older one: the reload counter says a reload failed; this says it still matters.
  void set_policy_file_refused(bool refused) { policy_file_refused_.Set(refused ? 1 : 0); }

  // Sampled at scrape time from the modules that keep their own counters.
  struct EngineSample {
    std::string backend, device;
    double queue_depth, active_sequences, tokens_per_second, kv_cache_used_fraction, gpu_memory_used_bytes;
  };
  // One sample per engine now serving; the series of engines not among them (a backend a reload
  // removed, or moved to another device) are removed rather than left frozen at their last values.
  void set_engines(const std::vector<EngineSample>& samples);
  struct AuditSample {
    double records_written, records_failed, checkpoints_written, syncs, write_batches, queued;
    bool healthy;
  };
  void set_audit(const AuditSample& sample);
  prometheus::Gauge& connections_active() { return connections_active_; }
  prometheus::Counter& connections_refused() { return connections_refused_; }
  prometheus::Counter& vault_refusals() { return vault_refusals_; }
  // A sealed capture the policy asked for that could not be written: part is "request" or "response".
  void capture_failed(const std::string& part) { capture_failures_.Add({{"part", part}}).Increment(); }
  // Whether sealed captures can be written now; sampled at scrape time where captures are configured.
  void set_capture_store_healthy(bool healthy) { capture_store_healthy_.Add({}).Set(healthy ? 1 : 0); }
  void set_vault(double mappings, double capacity, double journal_bytes);

  // Families that other modules' adapters fill (audit, policy, engine), registered on the same registry.
  prometheus::Registry& registry() { return *registry_; }

  // Text exposition format 0.0.4, as served on the admin listener's /metrics.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& upstream_healthy_;
  prometheus::Family<prometheus::Gauge>& pool_connections_;
  prometheus::Family<prometheus::Counter>& pool_connections_dropped_;
  prometheus::Family<prometheus::Counter>& egress_refusals_;
  prometheus::Family<prometheus::Counter>& resolution_failures_;
  prometheus::Family<prometheus::Gauge>& upstream_unresolved_;
  prometheus::Family<prometheus::Counter>& config_reloads_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Gauge* policy_series_ = nullptr;  // the one series of policy_info_, if a policy is in force
  prometheus::Gauge& policy_file_refused_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
  prometheus::Family<prometheus::Counter>& upstream_retries_;
  prometheus::Family<prometheus::Gauge>& engine_queue_depth_;
  prometheus::Family<prometheus::Gauge>& engine_batch_size_;
  prometheus::Family<prometheus::Gauge>& engine_tokens_per_second_;
  prometheus::Family<prometheus::Gauge>& engine_kv_cache_used_;
  prometheus::Family<prometheus::Gauge>& engine_gpu_memory_;
  std::mutex engine_series_mutex_;  // scrapes may sample concurrently
  // (backend, device) -> its series in the five engine families above, in their order
  std::map<std::pair<std::string, std::string>, std::array<prometheus::Gauge*, 5>> engine_series_;
  // Counters that follow the audit writer's own totals: each scrape adds what it counted since the last.
  std::mutex audit_totals_mutex_;  // two concurrent scrapes must not both add the same difference
  prometheus::Family<prometheus::Counter>& audit_records_;
  prometheus::Family<prometheus::Counter>& audit_checkpoints_;
  prometheus::Family<prometheus::Counter>& audit_group_commits_;
  prometheus::Family<prometheus::Gauge>& audit_queue_;
  prometheus::Family<prometheus::Gauge>& audit_healthy_;
  prometheus::Gauge& connections_active_;
  prometheus::Counter& connections_refused_;
  prometheus::Counter& vault_refusals_;
  prometheus::Family<prometheus::Counter>& capture_failures_;
  prometheus::Family<prometheus::Gauge>& capture_store_healthy_;
  prometheus::Gauge& vault_mappings_;
  prometheus::Gauge& vault_capacity_;
  prometheus::Gauge& vault_journal_bytes_;
  SharedSeries<BackendSeries> backend_series_;
  SharedSeries<ReplicaSeries> replica_series_;
  SharedSeries<RequestSeries> request_series_;
  // The series request_finished made, by backend, so that a backend's can be removed.
  struct MadeRequestSeries {
    std::set<prometheus::Counter*> counts;
    std::set<prometheus::Histogram*> durations;
  };
  std::mutex made_request_series_mutex_;
  std::map<std::string, MadeRequestSeries> made_request_series_;
};

}  // namespace sovereign::gateway
