#include "gateway/runtime/gateway_runtime.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include <boost/asio/post.hpp>

#include "gateway/config/policy_backends.hpp"
#include "gateway/pipeline/capture_shutdown.hpp"
#include "gateway/runtime/config_check.hpp"


namespace sovereign::gateway {
namespace {

unsigned default_workers() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

// Descriptors besides connections: listeners, epoll and eventfds per worker, log files, models.
constexpr rlim_t reserved_descriptors = 256;

// Each client connection holds a descriptor (and one to a backend while its request is forwarded).
// Past the open-files limit connections cannot be accepted at all, not even answered 503
// too_many_connections: the soft limit is raised as far as the hard limit allows, and a limit still
// below max_connections is logged.
void ensure_open_files_for(std::size_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + reserved_descriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted)
    log_event("warn", "open_files_limit",
              "limits.max_connections " + std::to_string(max_connections) + " needs at least " + std::to_string(wanted) +
                  " open files, but the open-files limit is " +
                  std::to_string(limit.rlim_cur) + " (hard limit " +
                  (limit.rlim_max == RLIM_INFINITY ? std::string("unlimited") : std::to_string(limit.rlim_max)) +
                  "): connections past it wait unaccepted. Raise LimitNOFILE (ulimit -n) or lower max_connections");
}

// Where `setting` is written in `config`, else where the nearest setting enclosing it is: a setting
// the reload took out ("listeners[0].tls") is reported at what held it ("listeners[0]").
std::string written_setting(const GatewayConfig& config, std::string setting) {
  while (!config.positions.contains(setting)) {
    const auto dot = setting.rfind('.');
    if (dot == std::string::npos) break;
    setting.resize(dot);
  }
  return setting;
}

// Settings fixed at start, each a problem at its place in the reloaded file where a reload changes
// it: sockets and workers are bound once; the audit log, vault, captures and access log are opened
// once (a reload that changed them would silently split the evidence trail or be ignored).
std::vector<std::string> fixed_settings_changed(const GatewayConfig& now, const GatewayConfig& next) {
  std::vector<std::string> changed;
  auto report = [&](const std::string& setting, const std::string& name) {
    changed.push_back(next.problem_at(written_setting(next, setting),
                                      name + " changed; it is fixed at start (listeners, workers, admin, audit, vault, "
                                             "access_log): restart the gateway to change it"));
  };
  auto compare = [&](const std::string& setting, const auto& a, const auto& b) {
    if (a != b) report(setting, setting);
  };
  compare("workers", now.workers, next.workers);
  compare("admin.address", now.admin.address, next.admin.address);
  compare("admin.port", now.admin.port, next.admin.port);
  if (now.listeners.size() != next.listeners.size()) report("listeners", "listeners (how many)");
  for (std::size_t i = 0; i < std::min(now.listeners.size(), next.listeners.size()); ++i) {
    compare(setting_path("listeners", i, "address"), now.listeners[i].address, next.listeners[i].address);
    compare(setting_path("listeners", i, "port"), now.listeners[i].port, next.listeners[i].port);
    if (now.listeners[i].tls.has_value() != next.listeners[i].tls.has_value())
      report(setting_path("listeners", i, "tls"), setting_path("listeners", i, "tls") + " (on or off)");
  }
  compare("audit", now.audit, next.audit);
  compare("vault", now.vault, next.vault);
  compare("access_log", now.access_log, next.access_log);
  return changed;
}

// An error opening the audit log, captures or vault, placed at the directory's setting where it names
// that directory (a segment, the journal), else at the key's.
std::string evidence_problem(const GatewayConfig& config, const std::string& message, const std::filesystem::path& directory,
                             const std::string& directory_setting, const std::string& key_setting) {
  const bool names_directory = !directory.empty() && message.find(directory.string()) != std::string::npos;
  return config.problem_at(names_directory ? directory_setting : key_setting, message);
}

}  // namespace

GatewayRuntime::GatewayRuntime(std::filesystem::path config_file, std::shared_ptr<const GatewayConfig> config,
                               std::optional<crypto::SecretBytes> key_passphrase)
    : config_file_(std::move(config_file)),
      config_(std::move(config)),
      key_passphrase_(std::move(key_passphrase)),
      worker_count_(config_->workers == 0 ? default_workers() : config_->workers),
      lookups_(control_),
      signals_(control_, SIGHUP, SIGTERM, SIGINT),
      drain_timer_(control_),
      admin_handler_(services_),
      file_watch_timer_(control_) {}

GatewayRuntime::~GatewayRuntime() {
  // After run() this has been done; after a start that failed, it is done here.
  if (const TornDown torn_down = tear_down(); !torn_down.captures_finished) std::_Exit(exit_status(torn_down));
}

GatewayRuntime::TornDown GatewayRuntime::tear_down() {
  if (torn_down_) return *torn_down_;
  for (auto& worker : workers_) {
    worker->io.stop();
    if (worker->thread.joinable()) worker->thread.join();
  }
  // Teardown in dependency order. Shutting the contexts down destroys their queued handlers (and
  // the sessions, exchanges and probes those own) while every context's socket services still
  // exist; only then do the snapshots go, whose pools close sockets on any worker's context.
  for (auto& worker : workers_) worker->io.shutdown();
  // A lookup still stuck in glibc is not waited for: its thread drops what it finds (HostLookups).
  lookups_.close();
  control_.shutdown();
  health_checker_.reset();
  services_.snapshot.store(nullptr);
  TornDown result;
  result.captures_finished = finish_captures(services_);
  if (result.captures_finished) services_.capture_writer.join();
  if (services_.audit) {
    services_.audit->close();
    result.audit_close_failure = services_.audit->close_failure();
  }
  torn_down_ = result;
  return result;
}

int GatewayRuntime::exit_status(const TornDown& torn_down) {
  return torn_down.audit_close_failure.empty() ? 0 : exit_audit_not_closed;
}

bool GatewayRuntime::open_evidence_services(std::string& error) {
  const crypto::SecretBytes* passphrase = key_passphrase_ ? &*key_passphrase_ : nullptr;
  if (const auto& audit = config_->audit) {
    crypto::AuditOptions options;
    options.directory = audit->directory;
    options.durability = audit->durability == AuditDurability::strict ? crypto::Durability::strict : crypto::Durability::relaxed;
    options.signing_key = audit->signing_key;
    options.checkpoint_every_records = audit->checkpoint_every_records;
    options.checkpoint_every_ms = audit->checkpoint_every_ms;
    options.segment_max_bytes = audit->segment_max_bytes;
    options.segment_max_age_ms = audit->segment_max_age_ms;
    options.batch_delay = std::chrono::microseconds(
        audit->group_commit_delay_us.value_or(audit->durability == AuditDurability::strict ? 0 : 1000));
    options.on_health_change = [](bool healthy, const std::string& detail) {
      if (healthy) return log_event("info", "audit_writable", "the audit log is written again; requests are served");
      log_event("error", "audit_unwritable",
                "the audit log cannot be written, so requests are refused with 503 audit_unavailable: " + detail);
    };
    auto writer = crypto::AuditWriter::open(options, passphrase);
    if (!writer) {
      error = evidence_problem(*config_, "audit log: " + writer.error().message, audit->directory, "audit.directory",
                               "audit.signing_key");
      return false;
    }
    services_.audit = std::move(writer.value());
    services_.audit_durability = options.durability;
    // What recovery found at the end of a log that was not closed: told once, at start.
    if (const crypto::AuditRecovery& recovery = services_.audit->recovery(); recovery.quarantined_bytes > 0) {
      log_event("warn", "audit_recovered",
                "the last segment ended in " + std::to_string(recovery.quarantined_records) +
                    " unsigned record frame(s) that are not records the gateway writes (zero-filled, empty or not a "
                    "JSON object): not signed, moved with what followed them (" +
                    std::to_string(recovery.quarantined_bytes) + " bytes) to " + recovery.quarantine_file.string() +
                    "; the log continues from tree size " + std::to_string(recovery.tree_size));
    } else if (recovery.discarded_tail_bytes > 0) {
      log_event("info", "audit_recovered",
                "cut a partial frame of " + std::to_string(recovery.discarded_tail_bytes) +
                    " bytes from the end of the last segment (the process stopped mid-write), moved to " +
                    recovery.quarantine_file.string() + "; the log continues from tree size " +
                    std::to_string(recovery.tree_size));
    }
    if (!audit->auditor_public_key.empty()) {
      auto store = crypto::CaptureStore::open(audit->directory / "captures", audit->auditor_public_key);
      if (!store) {
        error = evidence_problem(*config_, "payload captures: " + store.error().message, audit->directory,
                                 "audit.directory", "audit.auditor_public_key");
        return false;
      }
      services_.captures.emplace(std::move(store.value()));
      services_.capture_health.set_write_timeout(audit->capture_write_timeout);
    }
  }
  if (const auto& vault = config_->vault) {
    crypto::VaultOptions options;
    options.ttl_seconds = static_cast<std::int64_t>(vault->ttl_seconds);
    options.max_entries = vault->max_entries;
    options.max_entries_per_tenant = vault->max_entries_per_tenant;
    options.directory = vault->directory;
    options.on_note = [](const std::string& note) { log_event("warn", "vault_recovered", note); };
    auto opened = crypto::TokenVault::open(vault->key, options, passphrase);
    if (!opened) {
      error = evidence_problem(*config_, "vault: " + opened.error().message, vault->directory, "vault.directory",
                               "vault.key");
      return false;
    }
    services_.vault = std::move(opened.value());
  }
  return true;
}

// Reloads the policy when the file gateway.yaml names holds other bytes than those in force, once
// they have settled (policy_file_watch.hpp).
void GatewayRuntime::watch_files() {
  file_watch_timer_.expires_after(policy_poll_interval);
  file_watch_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || services_.sessions.draining.load()) return;
    // A change seen while a reload looks up its names waits for it (a SIGHUP's reload reads the
    // policy file too; one from this watcher must not replace it with the configuration it replaces).
    if (resolving_) return watch_files();
    // Only the policy file is watched: gateway.yaml is reloaded on SIGHUP alone, so an edit of it
    // is never applied half-written.
    if (config_->policy_file)
      if (auto change = policy_watch_.poll(*config_->policy_file)) {
        log_event("info", "file_changed",
                  "policy file changed on disk and has stayed the same for a poll; reloading the policy");
        reload_policy(change->text ? &*change->text : nullptr);
      }
    // Set on every poll: a refused file counts until the file holds a policy in force again, also
    // where it is saved back as the one in force, which reloads nothing.
    services_.metrics.set_policy_file_refused(policy_watch_.refused());
    watch_files();
  });
}

bool GatewayRuntime::start_listeners(std::string& error) {
  ListenerTlsContexts listener_tls;
  if (!make_listener_tls(*config_, listener_tls, error)) return false;
  for (std::size_t i = 0; i < config_->listeners.size(); ++i) {
    const ListenerConfig& config = config_->listeners[i];
    if (!Listener::ensure_port_free({boost::asio::ip::make_address(config.address), config.port}, error)) {
      error = config_->problem_at(setting_path("listeners", i, "port"), error);
      return false;
    }
  }
  for (unsigned i = 0; i < worker_count_; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->handler = std::make_unique<ApiHandler>(services_, worker->io);
    for (const auto& config : config_->listeners) {
      boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address(config.address), config.port);
      auto tls = config.tls ? listener_tls[config.name] : nullptr;
      auto listener = Listener::open(worker->io, endpoint, tls, config_->limits, *worker->handler, services_.sessions, i,
                                     true, error);
      if (!listener) {
        error = config_->problem_at(setting_path("listeners", worker->listeners.size(), "port"), error);
        return false;
      }
      listener->set_connection_refused_counter([this] { services_.metrics.connections_refused().Increment(); });
      worker->listeners.push_back(listener);
    }
    workers_.push_back(std::move(worker));
  }
  boost::asio::ip::tcp::endpoint admin(boost::asio::ip::make_address(config_->admin.address), config_->admin.port);
  Limits admin_limits;
  admin_listener_ =
      Listener::open(control_, admin, nullptr, admin_limits, admin_handler_, admin_sessions_, 0, false, error);
  if (!admin_listener_) {
    error = config_->problem_at("admin.port", "admin listener: " + error);
    return false;
  }
  return true;
}

// Listeners are the same ones (same_listeners): each worker's copy takes the new limits and TLS.
void GatewayRuntime::update_listeners(const GatewayConfig& config, const ListenerTlsContexts& tls) {
  for (auto& worker : workers_) {
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      auto found = tls.find(config.listeners[i].name);
      boost::asio::post(worker->io, [listener = worker->listeners[i], limits = config.limits,
                                     context = found == tls.end() ? nullptr : found->second] {
        listener->update(context, limits);
      });
    }
  }
}

void GatewayRuntime::install_snapshot(std::shared_ptr<RuntimeSnapshot> snapshot) {
  if (health_checker_) health_checker_->stop();
  services_.snapshot.store(snapshot, std::memory_order_release);
  // What the watcher compares the file with: the bytes this policy was built from, never a time
  // read after them (a save between the read and that look would pass for applied).
  policy_watch_.restart(snapshot->policy ? snapshot->policy->version() : std::string());
  if (snapshot->policy) {
    services_.metrics.set_policy(snapshot->policy->model().name, snapshot->policy->version());
  } else {
    services_.metrics.set_policy({}, {});
  }
  // What `policy lint` would say of the policy is logged once analysed; it serves as written meanwhile.
  // The analysis holds the policy, never the snapshot, whose pools must close on the workers' contexts.
  policy_findings_.analyse(snapshot->policy,
                           snapshot->policy ? policy_backends(*snapshot->config) : std::vector<policy::BackendInfo>{});
  health_checker_ = std::make_shared<HealthChecker>(control_, lookups_, snapshot);
  health_checker_->start();
}

int GatewayRuntime::run() {
  // The files opened next, checked first as `config check` checks them: both word a problem alike.
  if (const auto problems = check_opened_files(*config_); !problems.empty()) {
    for (const auto& problem : problems) log_event("error", "startup_failed", problem);
    return 1;
  }
  std::string error;
  services_.access_log = AccessLog::open(config_->access_log, error);
  if (!error.empty()) {
    log_event("error", "startup_failed", config_->problem_at("access_log", "access_log: " + error));
    return 1;
  }
  const bool opened = open_evidence_services(error);
  key_passphrase_.reset();  // the keys are open (or will not be): the passphrase is not kept
  if (!opened) {
    log_event("error", "startup_failed", error);
    return 1;
  }
  auto built = build_snapshot(config_, nullptr, worker_count_, services_.metrics, engines_);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) log_event("error", "startup_failed", e);
    return 1;
  }
  // The ports are taken (and the listeners' TLS files read) before the names are looked up, so that
  // a port in use ends the start at once rather than after lookups that may take 10 s. The sockets
  // listen from now on, but nothing accepts before the gateway serves: a connection made meanwhile
  // waits in the backlog and is answered then.
  ensure_open_files_for(config_->limits.max_connections);
  if (!start_listeners(error)) {
    log_event("error", "startup_failed", error);
    return 1;
  }
  // The admin endpoints answer from now on, on the control context that runs the lookups: /healthz
  // says the process is alive and /readyz that it is not ready yet ("starting"), so that a probe
  // is answered rather than left waiting for up to the lookups' limit.
  admin_listener_->run();

  bool stop_before_serving = false;
  bool reload_once_serving = false;
  std::function<void()> wait_for_signal;
  wait_for_signal = [&] {
    signals_.async_wait([&](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        if (serving_) reload();
        else reload_once_serving = true;  // the files may have changed since they were read
        wait_for_signal();
      } else if (!serving_) {
        stop_before_serving = true;  // nothing to drain yet
      } else {
        begin_shutdown();
      }
    });
  };
  wait_for_signal();

  // The replica names are looked up with the control context running, so that a signal is answered
  // meanwhile; the first configuration then starts as any reload does (a name not resolved within
  // the limit starts unresolved and is retried).
  std::shared_ptr<RuntimeSnapshot> first;
  // Moved, not copied: run() lasts as long as the gateway, and a copy left in `built` would keep this
  // first configuration (its backends' state and metric series) alive after reloads replace it.
  resolve_names(std::get<std::shared_ptr<RuntimeSnapshot>>(std::move(built)),
                [&first](std::shared_ptr<RuntimeSnapshot> resolved) { first = std::move(resolved); });
  while (!first && !stop_before_serving) control_.run_one();
  if (stop_before_serving) {
    log_event("info", "stopped", "stopped before serving (a signal came while the backends' host names were looked up); exiting");
    return 0;
  }
  if (control_.stopped()) control_.restart();

  install_snapshot(std::move(first));
  watch_files();

  for (auto& worker : workers_) {
    for (auto& listener : worker->listeners) listener->run();
    worker->thread = std::thread([io = &worker->io] {
      auto guard = boost::asio::make_work_guard(*io);
      io->run();
    });
  }
  serving_ = true;
  services_.ready.store(true);
  std::string where;
  for (const auto& listener : config_->listeners)
    where += (where.empty() ? "" : ", ") + std::string(listener.tls ? "https://" : "http://") + listener.address + ":" +
             std::to_string(listener.port);
  log_event("info", "started",
            "serving on " + where + " with " + std::to_string(worker_count_) + " worker(s); admin on http://" +
                config_->admin.address + ":" + std::to_string(config_->admin.port));
  if (reload_once_serving) reload();
  control_.run();
  for (auto& worker : workers_) {
    worker->io.stop();
    if (worker->thread.joinable()) worker->thread.join();
  }
  // The evidence services are closed before the last line, so that what closing them reports (a
  // final checkpoint that could not be written) comes before it, and decides the exit status.
  const TornDown torn_down = tear_down();
  const int status = exit_status(torn_down);
  if (!torn_down.audit_close_failure.empty())
    log_event("error", "audit_not_closed",
              "the audit log could not be closed: " + torn_down.audit_close_failure +
                  "; the next start continues it, and 'sovereign audit verify --require-closed' fails until then");
  const std::string exiting = status == 0 ? "exiting" : "exiting with status " + std::to_string(status);
  log_event("info", "stopped", left_open_ == 0 ? "all requests finished; " + exiting
                                              : std::to_string(left_open_) + " connection(s) closed unfinished; " + exiting);
  // A capture thread stuck in a write to a hung disk can be neither joined (it never returns) nor
  // outlived by the services it writes with: with the final checkpoint signed, the process ends here
  // rather than destroy them under it, with the status a drain gets (docs/OPERATIONS.md).
  if (!torn_down.captures_finished) std::_Exit(status);
  return status;
}

void GatewayRuntime::reload() {
  auto loaded = load_gateway_config(config_file_);
  auto reject = [this](const std::string& why) {
    services_.metrics.config_reload(false);
    log_event("error", "reload_rejected", why + "; the previous configuration keeps serving");
  };
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
    std::string all;
    for (const auto& e : *errors) all += (all.empty() ? "" : "; ") + e.to_string();
    return reject(all);
  }
  auto config = std::get<std::shared_ptr<const GatewayConfig>>(loaded);
  if (const auto changed = fixed_settings_changed(*config_, *config); !changed.empty()) {
    std::string all;
    for (const auto& problem : changed) all += (all.empty() ? "" : "; ") + problem;
    return reject(all);
  }
  ListenerTlsContexts listener_tls;
  if (std::string error; !make_listener_tls(*config, listener_tls, error)) return reject(error);
  auto built = build_snapshot(config, services_.current().get(), worker_count_, services_.metrics, engines_);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    std::string all;
    for (const auto& e : *errors) all += (all.empty() ? "" : "; ") + e;
    return reject(all);
  }
  resolve_names(std::get<std::shared_ptr<RuntimeSnapshot>>(std::move(built)),
                [this, config, listener_tls](std::shared_ptr<RuntimeSnapshot> snapshot) {
                  install_snapshot(std::move(snapshot));
                  update_listeners(*config, listener_tls);
                  if (config->limits.max_connections != config_->limits.max_connections)
                    ensure_open_files_for(config->limits.max_connections);
                  config_ = config;  // limits (drain timeout too) and TLS files of the next reload are compared with these
                  engines_.release_unused();
                  services_.metrics.config_reload(true);
                  log_event("info", "reloaded", "configuration from " + config_file_.string() + " applied");
                });
}

// The configuration in force with the policy the watcher saw settle (`text`; read again when null):
// what a saved policy changes.
void GatewayRuntime::reload_policy(const std::string* text) {
  auto built = build_snapshot(config_, services_.current().get(), worker_count_, services_.metrics, engines_, text);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    std::string all;
    for (const auto& e : *errors) all += (all.empty() ? "" : "; ") + e;
    services_.metrics.config_reload(false);
    log_event("error", "reload_rejected", all + "; the previous policy keeps serving");
    return;
  }
  resolve_names(std::get<std::shared_ptr<RuntimeSnapshot>>(std::move(built)),
                [this](std::shared_ptr<RuntimeSnapshot> snapshot) {
                  install_snapshot(std::move(snapshot));
                  engines_.release_unused();
                  services_.metrics.config_reload(true);
                  log_event("info", "reloaded", "policy from " + config_->policy_file->string() + " applied");
                });
}

void GatewayRuntime::resolve_names(std::shared_ptr<RuntimeSnapshot> snapshot,
                                   std::function<void(std::shared_ptr<RuntimeSnapshot>)> then) {
  const std::uint64_t generation = ++load_generation_;
  resolving_ = true;
  RuntimeSnapshot& loading = *snapshot;
  // The callback holds the snapshot, and with it the guard and replica states the lookups write to.
  resolve_replica_names(lookups_, loading.egress_guard, loading.backends, HostLookups::default_limit,
                        [this, generation, snapshot = std::move(snapshot), then = std::move(then)]() mutable {
                          if (generation != load_generation_) return;  // a later load replaced this one
                          resolving_ = false;
                          if (services_.sessions.draining.load()) return;
                          then(std::move(snapshot));
                        });
}

void GatewayRuntime::begin_shutdown() {
  if (services_.sessions.draining.exchange(true)) return;
  log_event("info", "draining", "stopped accepting; waiting for " + std::to_string(services_.sessions.open.load()) +
                                    " connection(s) to finish");
  for (auto& worker : workers_)
    boost::asio::post(worker->io, [w = worker.get()] {
      for (auto& listener : w->listeners) {
        listener->stop();
        listener->close_idle_sessions();
      }
    });
  drain_deadline_ = std::chrono::steady_clock::now() + config_->limits.drain_timeout;
  check_drained();
}

void GatewayRuntime::check_drained() {
  for (auto& worker : workers_)
    boost::asio::post(worker->io, [w = worker.get()] {
      for (auto& listener : w->listeners) listener->close_idle_sessions();
    });
  bool drained = services_.sessions.open.load() == 0;
  if (!drained && !stopping_sessions_ && std::chrono::steady_clock::now() >= drain_deadline_) {
    // Requests still in flight are ended with an error their clients can read (503 shutting_down,
    // or an error event in a stream) and recorded, as a hang-up would be; then the gateway stops.
    stopping_sessions_ = true;
    log_event("warn", "drain_timeout", std::to_string(services_.sessions.open.load()) +
                                           " connection(s) still open after drain_timeout_ms; ending their requests");
    for (auto& worker : workers_)
      boost::asio::post(worker->io, [w = worker.get()] {
        for (auto& listener : w->listeners) listener->stop_sessions();
      });
    drain_deadline_ = std::chrono::steady_clock::now() + stop_grace;
  }
  if (drained || std::chrono::steady_clock::now() >= drain_deadline_) {
    left_open_ = services_.sessions.open.load();
    if (!drained)
      log_event("warn", "stop_timeout", std::to_string(services_.sessions.open.load()) +
                                            " connection(s) still open after their requests were ended; closing them");
    if (health_checker_) health_checker_->stop();
    file_watch_timer_.cancel();
    admin_listener_->stop();
    signals_.cancel();
    control_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) check_drained();
  });
}

}  // namespace sovereign::gateway
