#pragma once
// The running gateway: worker threads (one io_context each), their listeners, the admin listener,
// health checks, signal handling (SIGHUP reload, SIGTERM/SIGINT drain and exit).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "crypto/secret_bytes.hpp"
#include "gateway/admin/admin_handler.hpp"
#include "gateway/http/listener.hpp"
#include "gateway/pipeline/exchange.hpp"
#include "gateway/pipeline/gateway_services.hpp"
#include "gateway/runtime/listener_tls.hpp"
#include "gateway/runtime/policy_file_watch.hpp"
#include "gateway/runtime/policy_findings_log.hpp"
#include "gateway/upstream/health_checker.hpp"
#include "gateway/upstream/host_lookups.hpp"

namespace sovereign::gateway {

class GatewayRuntime {
 public:
  // key_passphrase: what opens passphrase-protected audit and vault keys (serve --passphrase-file, or
  // the environment); held only until they are open.
  GatewayRuntime(std::filesystem::path config_file, std::shared_ptr<const GatewayConfig> config,
                 std::optional<crypto::SecretBytes> key_passphrase = std::nullopt);
  ~GatewayRuntime();

  // Starts everything and blocks until shut down; returns the process exit status: 0, or
  // exit_audit_not_closed when the audit log's last segment could not be ended.
  int run();

  static constexpr int exit_audit_not_closed = 3;

 private:
  // An io_context whose services can be shut down before it is destroyed: a configuration
  // snapshot's connection pools hold sockets of every worker's context and must close them while
  // all those contexts still exist (see ~GatewayRuntime).
  class IoContext : public boost::asio::io_context {
   public:
    using boost::asio::io_context::io_context;
    using boost::asio::execution_context::shutdown;
  };

  struct Worker {
    IoContext io{1};
    std::unique_ptr<ApiHandler> handler;
    std::vector<std::shared_ptr<Listener>> listeners;
    std::thread thread;
  };

  // What stopping the workers and closing the evidence services (captures, audit log) found.
  struct TornDown {
    bool captures_finished = true;    // false: a capture write still hung; the thread cannot be joined
    std::string audit_close_failure;  // why the audit log's last segment could not be ended
  };
  // Stops the workers and closes everything, in dependency order; once (later calls return the first result).
  TornDown tear_down();
  static int exit_status(const TornDown& torn_down);

  // Binds the API listeners (each worker's) and the admin listener; none accepts before run().
  bool start_listeners(std::string& error);
  void update_listeners(const GatewayConfig& config, const ListenerTlsContexts& tls);
  bool open_evidence_services(std::string& error);
  void reload();         // SIGHUP: gateway.yaml and the policy it names
  void reload_policy(const std::string* text);  // the policy file changed on disk: the configuration in force, its new text
  void begin_shutdown();
  void check_drained();
  void install_snapshot(std::shared_ptr<RuntimeSnapshot> snapshot);
  // Looks up the replica names `snapshot` left unresolved (all at once, each within
  // HostLookups::default_limit) while the control thread goes on serving, then calls `then` with it
  // on the control thread, unless a later load has begun meanwhile (the latest one wins) or the
  // gateway is draining.
  void resolve_names(std::shared_ptr<RuntimeSnapshot> snapshot,
                     std::function<void(std::shared_ptr<RuntimeSnapshot>)> then);

  std::filesystem::path config_file_;
  std::shared_ptr<const GatewayConfig> config_;
  std::optional<crypto::SecretBytes> key_passphrase_;
  unsigned worker_count_;
  GatewayServices services_;
  IoContext control_;
  HostLookups lookups_;  // replica names, at load and reload and retried; answers come on control_
  std::uint64_t load_generation_ = 0;  // the configuration load under way or last done (resolve_names)
  bool resolving_ = false;             // a load waits for its names: policy file changes wait for it
  bool serving_ = false;               // listeners started; signals before that stop or defer the start
  boost::asio::signal_set signals_;
  boost::asio::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool stopping_sessions_ = false;
  std::size_t left_open_ = 0;       // connections still open when the gateway stopped  // the drain timeout passed; requests in flight were told to end
  // How long requests told to end at the drain timeout get to answer and be recorded.
  static constexpr std::chrono::milliseconds stop_grace{2000};
  std::vector<std::unique_ptr<Worker>> workers_;
  AdminHandler admin_handler_;
  SessionRegistry admin_sessions_;
  std::shared_ptr<Listener> admin_listener_;
  std::shared_ptr<HealthChecker> health_checker_;
  PolicyFindingsLog policy_findings_;
  EngineRegistry engines_;
  boost::asio::steady_timer file_watch_timer_;
  // How often the policy file is examined; a file written in place is applied once it has stayed the
  // same from one poll to the next.
  static constexpr std::chrono::seconds policy_poll_interval{1};
  PolicyFileWatch policy_watch_;
  std::optional<TornDown> torn_down_;
  void watch_files();
};

}  // namespace sovereign::gateway
