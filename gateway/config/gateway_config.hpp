#pragma once
// The operator's configuration (gateway.yaml) as an immutable value, and its loader.
// docs/CONFIG.md documents every key; the defaults below are the documented ones.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "crypto/digest.hpp"
#include "gateway/net/cidr.hpp"

namespace sovereign::gateway {

using Milliseconds = std::chrono::milliseconds;

// One problem in a config file, printed as FILE:LINE:COL: message.
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string to_string() const;
};

// Where a setting's value was written: 1-based, as ConfigError counts.
struct SourcePosition {
  int line = 1;
  int column = 1;
};

// The path of one setting of the index-th entry of a list, as GatewayConfig::positions keys it:
// setting_path("backends", 1, "tls", "ca") is "backends[1].tls.ca"; an empty part is left out.
std::string setting_path(std::string_view list, std::size_t index, std::string_view key,
                         std::string_view member = {});
// "replicas[index].url", the setting of a backend's replica.
std::string replica_setting(std::size_t index);

struct ListenerTls {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path client_ca;
  bool require_client_certificate = false;
};

struct ListenerConfig {
  std::string name;
  std::string address;
  std::uint16_t port = 0;
  std::optional<ListenerTls> tls;
};

struct AdminConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9090;
};

struct Limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  Milliseconds header_timeout{10'000};
  Milliseconds body_timeout{30'000};
  Milliseconds idle_timeout{60'000};
  std::size_t max_connections = 10'000;
  std::size_t max_upstream_response_bytes = 16 * 1024 * 1024;
  Milliseconds drain_timeout{30'000};
};

struct RateLimit {
  std::uint32_t requests_per_minute = 0;  // 0 = unlimited
  std::uint32_t tokens_per_minute = 0;
};

struct TenantConfig {
  std::string name;
  std::vector<crypto::Sha256> api_key_digests;
  std::vector<std::string> client_certificate_cns;
  std::vector<std::string> models;  // "*" means every configured model
  RateLimit rate_limit;

  bool may_use(const std::string& model) const;
};

struct HealthCheck {
  std::string path = "/v1/models";
  Milliseconds interval{2'000};
  Milliseconds timeout{1'000};
  std::uint32_t unhealthy_after = 2;
  std::uint32_t healthy_after = 1;
};

struct CircuitBreakerConfig {
  std::uint32_t failures = 5;
  Milliseconds open_for{10'000};
};

struct BackendTls {
  std::filesystem::path ca;
  std::string server_name;  // verified and sent as SNI; empty: each replica's own host
  std::filesystem::path client_certificate;
  std::filesystem::path client_key;
};

struct ReplicaConfig {
  std::string url;      // as written
  bool https = false;
  std::string host;     // from the URL
  std::uint16_t port = 0;
  std::string base_path;  // URL path prefix, without a trailing slash
};

enum class BackendType { openai, local };

struct BackendConfig {
  std::string name;
  BackendType type = BackendType::openai;
  std::string zone;
  std::vector<std::string> models;
  // type: openai
  std::vector<ReplicaConfig> replicas;
  bool loopback = false;
  std::optional<BackendTls> tls;
  Milliseconds timeout{60'000};
  Milliseconds connect_timeout{2'000};
  std::size_t max_idle_connections = 32;
  // Retry on another replica a request that a replica received whole but never answered (closed,
  // or answered 502/504), although it may have run it. Off: only failures before the request was
  // delivered, stale pooled connections and 503 answers are retried.
  bool retry_unanswered = false;
  // A file holding the API key the backend requires (vLLM's --api-key, a proxy in front of TGI or
  // Triton), sent to it as `Authorization: Bearer KEY` with each request and health check. The
  // gateway never forwards its clients' own keys.
  std::filesystem::path api_key_file;
  HealthCheck health_check;
  CircuitBreakerConfig circuit_breaker;
  // type: local
  std::filesystem::path model_file;
  std::string device = "auto";
  int context_length = 2048;
  int max_batch = 16;
  int max_queue = 256;  // requests waiting for a batch slot; beyond it, 503 with Retry-After
  int threads = 0;      // CPU threads; 0: one per hardware thread
  int kv_cache_tokens = 0;  // KV cache positions for all sequences; 0: context_length × max_batch
  bool f16_weight_copies = true;  // GPU: quantized matrices also kept as F16 for batched steps, room permitting
};

enum class AccessLogTarget { off, stderr_stream, stdout_stream, file };

struct AccessLogConfig {
  AccessLogTarget target = AccessLogTarget::stderr_stream;
  std::filesystem::path file;

  bool operator==(const AccessLogConfig&) const = default;
};

enum class AuditDurability { strict, relaxed };

struct AuditConfig {
  std::filesystem::path directory;
  AuditDurability durability = AuditDurability::strict;
  std::filesystem::path signing_key;
  std::filesystem::path auditor_public_key;
  std::uint32_t checkpoint_every_records = 1000;
  std::uint32_t checkpoint_every_ms = 1000;
  std::uint64_t segment_max_bytes = 64ull << 20;
  std::uint64_t segment_max_age_ms = 0;  // 0: segments rotate by size only
  // How long the writer lets records gather before a group commit (see docs/AUDIT.md); by
  // default 0 in strict mode, where requests wait for it (records gather during each fdatasync),
  // and 1000 us in relaxed mode.
  std::optional<std::uint32_t> group_commit_delay_us;
  // How long a sealed capture's write (or a probe of the capture directory) may be outstanding
  // before captures count as failing: a hung disk never returns an error of its own.
  Milliseconds capture_write_timeout{10'000};

  bool operator==(const AuditConfig&) const = default;
};

struct VaultConfig {
  std::filesystem::path key;
  std::filesystem::path directory;              // where mappings persist across restarts; empty: memory only
  std::uint64_t ttl_seconds = 86'400;
  std::uint64_t max_entries = 1'000'000;        // live token mappings in all
  std::uint64_t max_entries_per_tenant = 0;     // of them, one tenant's; 0: a quarter of max_entries

  bool operator==(const VaultConfig&) const = default;
};

struct GatewayConfig {
  std::filesystem::path source_file;
  unsigned workers = 0;  // 0 = one per core
  std::vector<ListenerConfig> listeners;
  AdminConfig admin;
  Limits limits;
  std::vector<Cidr> boundary;
  std::vector<TenantConfig> tenants;
  std::vector<BackendConfig> backends;
  AccessLogConfig access_log;
  std::optional<std::filesystem::path> policy_file;
  std::optional<AuditConfig> audit;
  std::optional<VaultConfig> vault;
  // Where each setting naming a file or a host was written, by its path ("listeners[0].tls.certificate",
  // "backends[1].replicas[0].url", "audit.signing_key"): what is wrong with the file or host it names
  // is reported there. Kept beside the settings, not in them, so that two configurations differing
  // only in layout compare equal on reload.
  std::map<std::string, SourcePosition, std::less<>> positions;

  // FILE:LINE:COL: message at `setting` (at 1:1 where its position was not recorded).
  std::string problem_at(std::string_view setting, const std::string& message) const;
  // Every model some backend serves, in configuration order, without repeats.
  std::vector<std::string> all_models() const;
};

using ConfigResult = std::variant<std::shared_ptr<const GatewayConfig>, std::vector<ConfigError>>;

// Parses and validates; never throws for anything the file can contain.
[[nodiscard]] ConfigResult load_gateway_config(const std::filesystem::path& file);
[[nodiscard]] ConfigResult parse_gateway_config(const std::string& yaml_text, const std::filesystem::path& file);

}  // namespace sovereign::gateway
