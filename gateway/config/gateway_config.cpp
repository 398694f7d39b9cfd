#include "gateway/config/gateway_config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>

#include "gateway/config/yaml_reader.hpp"
#include "gateway/openai/request_body.hpp"
#include "policy/lookalike_fold.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::gateway {
namespace {

constexpr std::size_t max_config_bytes = 4 * 1024 * 1024;
constexpr std::uint64_t max_timeout_ms = 24ull * 3600 * 1000;

// Records where `setting` was written, for problems found later in the file or host it names.
void remember(GatewayConfig& config, std::string setting, const YAML::Node& value) {
  if (value.IsDefined()) config.positions[std::move(setting)] = {value.Mark().line + 1, value.Mark().column + 1};
}

bool read_replica_url(YamlReader& r, const YAML::Node& node, ReplicaConfig& out) {
  const std::string& url = out.url;
  auto fail = [&](const std::string& why) {
    r.error(node, "replica url '" + url + "' " + why);
    return false;
  };
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    out.https = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return fail("must start with http:// or https://");
  }
  auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  // The path goes into every request line as written: only characters a URL path may hold.
  constexpr std::string_view path_chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%";
  if (auto bad = path.find_first_not_of(path_chars); bad != std::string_view::npos)
    return fail(path[bad] == '?' || path[bad] == '#'
                    ? "has a query or fragment; a backend's URL names a server and an optional base path"
                    : "has a path with a character that must be percent-encoded");
  out.base_path = std::string(path);
  // Checked before the host is read: "user:password@host:port" has the colons of an IPv6 address.
  if (authority.find('@') != std::string_view::npos) return fail("must not carry credentials");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("has an unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail("has text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1)
      return fail("has an IPv6 address without brackets; write it as http://[fd00::5]:8000");
    auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return fail("has no host");
  unsigned port = out.https ? 443 : 80;
  if (!port_text.empty()) {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return fail("has an invalid port '" + std::string(port_text) + "'");
  }
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

// The replica already listed that names the server `replica` names (scheme, host in any letter
// case, port and base path; "http://h" is "http://h:80/"), or null.
const ReplicaConfig* same_server(const std::vector<ReplicaConfig>& listed, const ReplicaConfig& replica) {
  for (const ReplicaConfig& other : listed)
    if (other.https == replica.https && other.port == replica.port && other.base_path == replica.base_path &&
        boost::beast::iequals(other.host, replica.host))
      return &other;
  return nullptr;
}

// Whether two listening sockets would take the same connections: the same port on the same address,
// or on any address where one of them listens on all of them (0.0.0.0 or ::).
bool same_socket(const std::string& a, int a_port, const std::string& b, int b_port) {
  if (a_port != b_port) return false;
  boost::system::error_code ec_a, ec_b;
  auto address_a = boost::asio::ip::make_address(a, ec_a);
  auto address_b = boost::asio::ip::make_address(b, ec_b);
  if (ec_a || ec_b) return false;  // reported as not an IP address
  // ::ffff:127.0.0.1 is 127.0.0.1
  address_a = unmapped(address_a);
  address_b = unmapped(address_b);
  return address_a == address_b || address_a.is_unspecified() || address_b.is_unspecified();
}

void read_listeners(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  auto node = root["listeners"];
  if (!node) {
    r.error(root, "missing required key 'listeners' (where the API is served)");
    return;
  }
  remember(config, "listeners", node);
  if (!r.expect_sequence(node, "'listeners'")) return;
  if (node.size() == 0) r.error(node, "'listeners' must name at least one listener");
  std::set<std::string> names;
  for (const auto& item : node) {
    ListenerConfig listener;
    if (!r.expect_map(item, "a listener", {"name", "address", "port", "tls"})) continue;
    r.string(item, "name", listener.name, true);
    r.string(item, "address", listener.address, true);
    r.integer(item, "port", listener.port, 1, 65535, true);
    remember(config, setting_path("listeners", config.listeners.size(), ""), item);
    remember(config, setting_path("listeners", config.listeners.size(), "address"), item["address"]);
    remember(config, setting_path("listeners", config.listeners.size(), "port"), item["port"]);
    boost::system::error_code ec;
    if (!listener.address.empty()) {
      boost::asio::ip::make_address(listener.address, ec);
      if (ec) r.error(item["address"], "listener address '" + listener.address + "' is not an IP address");
    }
    if (!listener.name.empty() && !names.insert(listener.name).second)
      r.error(item["name"], "listener name '" + listener.name + "' is used twice");
    for (const auto& other : config.listeners)
      if (same_socket(listener.address, listener.port, other.address, other.port))
        r.error(item["port"] ? item["port"] : item, "listener '" + listener.name + "' would share " + listener.address + ":" +
                                  std::to_string(listener.port) + " with listener '" + other.name + "'");
    if (const auto tls = item["tls"]) {
      if (r.expect_map(tls, "'tls'", {"certificate", "private_key", "client_ca", "require_client_certificate"})) {
        ListenerTls settings;
        r.path(tls, "certificate", settings.certificate, true);
        r.path(tls, "private_key", settings.private_key, true);
        r.path(tls, "client_ca", settings.client_ca);
        r.boolean(tls, "require_client_certificate", settings.require_client_certificate);
        if (settings.require_client_certificate && settings.client_ca.empty())
          r.error(tls, "'require_client_certificate: true' needs 'client_ca' to verify client certificates");
        remember(config, setting_path("listeners", config.listeners.size(), "tls"), tls);
        for (auto [key, file] : {std::pair{"certificate", &settings.certificate},
                                 std::pair{"private_key", &settings.private_key},
                                 std::pair{"client_ca", &settings.client_ca}}) {
          remember(config, setting_path("listeners", config.listeners.size(), "tls", key), tls[key]);
          if (!file->empty() && !std::filesystem::exists(*file))
            r.error(tls[key], "file '" + file->string() + "' does not exist");
        }
        listener.tls = settings;
      }
    }
    config.listeners.push_back(std::move(listener));
  }
}

void read_limits(YamlReader& r, const YAML::Node& root, Limits& limits) {
  auto node = root["limits"];
  if (!node) return;
  if (!r.expect_map(node, "'limits'",
                    {"max_header_bytes", "max_body_bytes", "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms",
                     "max_connections", "max_upstream_response_bytes", "drain_timeout_ms"}))
    return;
  r.integer(node, "max_header_bytes", limits.max_header_bytes, 1024, 1024 * 1024);
  r.integer(node, "max_body_bytes", limits.max_body_bytes, 1024, 256ull * 1024 * 1024);
  r.milliseconds(node, "header_timeout_ms", limits.header_timeout, 10, max_timeout_ms);
  r.milliseconds(node, "body_timeout_ms", limits.body_timeout, 10, max_timeout_ms);
  r.milliseconds(node, "idle_timeout_ms", limits.idle_timeout, 10, max_timeout_ms);
  r.integer(node, "max_connections", limits.max_connections, 1, 1'000'000);
  r.integer(node, "max_upstream_response_bytes", limits.max_upstream_response_bytes, 1024, 1024ull * 1024 * 1024);
  r.milliseconds(node, "drain_timeout_ms", limits.drain_timeout, 0, max_timeout_ms);
}

void read_tenants(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  auto node = root["tenants"];
  if (!node) return;
  if (!r.expect_sequence(node, "'tenants'")) return;
  std::set<std::string> names;
  std::set<std::string> key_digests;
  std::set<std::string> subject_cns;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a tenant", {"name", "api_keys", "client_certificates", "models", "rate_limit"})) continue;
    TenantConfig tenant;
    const std::size_t errors_before = r.error_count();
    r.string(item, "name", tenant.name, true);
    if (!tenant.name.empty() && !names.insert(tenant.name).second)
      r.error(item["name"], "tenant name '" + tenant.name + "' is used twice");
    if (const auto why = policy::unreadable_name(tenant.name); !why.empty())
      r.error(item["name"], "tenant name '" + tenant.name + "' " + why);
    if (auto keys = item["api_keys"]; keys && r.expect_sequence(keys, "'api_keys'")) {
      for (const auto& key : keys) {
        if (!r.expect_map(key, "an API key", {"sha256"})) continue;
        std::string hex;
        if (!r.string(key, "sha256", hex, true) || hex.empty()) continue;
        auto digest = crypto::sha256_from_hex(hex);
        if (!digest) {
          r.error(key["sha256"], "'sha256' must be 64 hex digits: the SHA-256 of the key (echo -n KEY | sha256sum), "
                                 "never the key itself");
          continue;
        }
        if (!key_digests.insert(crypto::to_hex(*digest)).second)
          r.error(key["sha256"], "this API key digest is listed twice; one key belongs to one tenant");
        tenant.api_key_digests.push_back(*digest);
      }
    }
    if (auto certs = item["client_certificates"]; certs && r.expect_sequence(certs, "'client_certificates'")) {
      for (const auto& cert : certs) {
        if (!r.expect_map(cert, "a client certificate", {"subject_cn"})) continue;
        std::string cn;
        if (!r.string(cert, "subject_cn", cn, true) || cn.empty()) continue;
        if (!subject_cns.insert(cn).second)
          r.error(cert["subject_cn"], "subject_cn '" + cn + "' is listed twice; one certificate name belongs to one tenant");
        tenant.client_certificate_cns.push_back(cn);
      }
    }
    r.string_list(item, "models", tenant.models, true);
    if (auto limit = item["rate_limit"]) {
      if (r.expect_map(limit, "'rate_limit'", {"requests_per_minute", "tokens_per_minute"})) {
        r.integer(limit, "requests_per_minute", tenant.rate_limit.requests_per_minute, 1, 100'000'000);
        r.integer(limit, "tokens_per_minute", tenant.rate_limit.tokens_per_minute, 1, 4'000'000'000ull);
      }
    }
    if (tenant.api_key_digests.empty() && tenant.client_certificate_cns.empty() && r.error_count() == errors_before)
      r.error(item, "tenant '" + tenant.name + "' has no API key and no client certificate: nobody could use it");
    config.tenants.push_back(std::move(tenant));
  }
}

void read_backend_tls(YamlReader& r, const YAML::Node& node, BackendConfig& backend, GatewayConfig& config) {
  if (!r.expect_map(node, "a backend's 'tls'", {"ca", "server_name", "client_certificate", "client_key"})) return;
  BackendTls tls;
  r.path(node, "ca", tls.ca, true);
  r.string(node, "server_name", tls.server_name);
  // The name goes out as SNI and in every request's Host header: a space or a line end there would
  // write a header of the operator's text into each request, and can match no certificate anyway.
  constexpr std::string_view host_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:";
  if (auto bad = tls.server_name.find_first_not_of(host_chars); bad != std::string::npos)
    r.error(node["server_name"], "'server_name' must be a host name or an IP address (letters, digits, '.', '-', "
                                 "'_', ':'): character " + std::to_string(bad + 1) + " is not");
  r.path(node, "client_certificate", tls.client_certificate);
  r.path(node, "client_key", tls.client_key);
  if (tls.client_certificate.empty() != tls.client_key.empty())
    r.error(node, "'client_certificate' and 'client_key' go together: give both or neither");
  remember(config, setting_path("backends", config.backends.size(), "tls"), node);
  for (auto [key, file] : {std::pair{"ca", &tls.ca}, std::pair{"client_certificate", &tls.client_certificate},
                           std::pair{"client_key", &tls.client_key}}) {
    remember(config, setting_path("backends", config.backends.size(), "tls", key), node[key]);
    if (!file->empty() && !std::filesystem::exists(*file))
      r.error(node[key], "file '" + file->string() + "' does not exist");
  }
  backend.tls = tls;
}

void read_health_check(YamlReader& r, const YAML::Node& node, HealthCheck& check) {
  if (!r.expect_map(node, "'health_check'", {"path", "interval_ms", "timeout_ms", "unhealthy_after", "healthy_after"}))
    return;
  r.string(node, "path", check.path);
  if (!check.path.starts_with('/')) r.error(node["path"], "'path' must start with '/'");
  else if (auto bad = std::find_if(check.path.begin(), check.path.end(),
                                   [](unsigned char c) { return c <= ' ' || c == 0x7f || c >= 0x80; });
           bad != check.path.end())
    r.error(node["path"], "'path' must be a URL path without spaces or control characters (percent-encode them): "
                          "character " + std::to_string(bad - check.path.begin() + 1) + " is not");
  r.milliseconds(node, "interval_ms", check.interval, 100, max_timeout_ms);
  r.milliseconds(node, "timeout_ms", check.timeout, 10, max_timeout_ms);
  r.integer(node, "unhealthy_after", check.unhealthy_after, 1, 1000);
  r.integer(node, "healthy_after", check.healthy_after, 1, 1000);
}

void read_backends(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  auto node = root["backends"];
  if (!node) return;
  if (!r.expect_sequence(node, "'backends'")) return;
  std::set<std::string> names;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a backend",
                      {"name", "type", "zone", "models", "replicas", "loopback", "tls", "timeout_ms",
                       "connect_timeout_ms", "max_idle_connections", "retry_unanswered", "api_key_file",
                       "health_check", "circuit_breaker", "model_file", "device", "context_length", "max_batch", "max_queue",
                       "threads", "kv_cache_tokens", "f16_weight_copies"}))
      continue;
    BackendConfig backend;
    r.string(item, "name", backend.name, true);
    if (!backend.name.empty() && !names.insert(backend.name).second)
      r.error(item["name"], "backend name '" + backend.name + "' is used twice");
    std::string type = "openai";
    r.string(item, "type", type);
    if (type == "local") {
      backend.type = BackendType::local;
    } else if (type != "openai") {
      r.error(item["type"], "backend type '" + type + "' is unknown; use 'openai' (an OpenAI-compatible server) or "
                            "'local' (the built-in engine)");
    }
    r.string(item, "zone", backend.zone, true);
    r.string_list(item, "models", backend.models, true);
    if (item["models"] && backend.models.empty()) r.error(item["models"], "'models' must name at least one model");
    for (const auto& model : backend.models)
      if (!valid_model_name(model))
        r.error(item["models"], "model name '" + model + "' must be at most " + std::to_string(max_model_name_bytes) +
                                    " letters, digits and . _ : / @ + - (what clients can send)");
    r.milliseconds(item, "timeout_ms", backend.timeout, 10, max_timeout_ms);
    if (backend.type == BackendType::local) {
      for (auto key : {"replicas", "loopback", "tls", "connect_timeout_ms", "max_idle_connections", "retry_unanswered",
                       "api_key_file", "health_check", "circuit_breaker"})
        if (item[key]) r.error(item[key], std::string("'") + key + "' does not apply to a backend of type 'local'");
      r.path(item, "model_file", backend.model_file, true);
      remember(config, setting_path("backends", config.backends.size(), "model_file"), item["model_file"]);
      if (!backend.model_file.empty() && !std::filesystem::exists(backend.model_file))
        r.error(item["model_file"], "backend '" + backend.name + "': model file '" + backend.model_file.string() +
                                        "' does not exist");
      r.string(item, "device", backend.device);
      if (backend.device != "auto" && backend.device != "cpu" && !backend.device.starts_with("cuda:"))
        r.error(item["device"], "'device' must be auto, cpu or cuda:N");
      r.integer(item, "context_length", backend.context_length, 16, 1'048'576);
      r.integer(item, "max_batch", backend.max_batch, 1, 1024);
      r.integer(item, "max_queue", backend.max_queue, 1, 100'000);
      r.integer(item, "threads", backend.threads, 0, 1024);
      r.integer(item, "kv_cache_tokens", backend.kv_cache_tokens, 0, 100'000'000);
      if (backend.kv_cache_tokens != 0 && backend.kv_cache_tokens < backend.context_length)
        r.error(item["kv_cache_tokens"], "'kv_cache_tokens' must be 0 or at least context_length (" +
                                             std::to_string(backend.context_length) +
                                             "), or a request filling its context could never run");
      r.boolean(item, "f16_weight_copies", backend.f16_weight_copies);
      // Where the engine's checks against the model file (a context beyond its training, a missing GPU) point.
      for (const char* key : {"device", "context_length", "max_batch", "max_queue", "threads", "kv_cache_tokens"})
        remember(config, setting_path("backends", config.backends.size(), key), item[key]);
      config.backends.push_back(std::move(backend));
      continue;
    }
    for (auto key : {"model_file", "device", "context_length", "max_batch", "max_queue", "threads", "kv_cache_tokens",
                     "f16_weight_copies"})
      if (item[key]) r.error(item[key], std::string("'") + key + "' only applies to a backend of type 'local'");
    r.boolean(item, "loopback", backend.loopback);
    if (auto tls = item["tls"]) read_backend_tls(r, tls, backend, config);
    r.milliseconds(item, "connect_timeout_ms", backend.connect_timeout, 10, max_timeout_ms);
    r.integer(item, "max_idle_connections", backend.max_idle_connections, 0, 10'000);
    r.boolean(item, "retry_unanswered", backend.retry_unanswered);
    r.path(item, "api_key_file", backend.api_key_file);
    remember(config, setting_path("backends", config.backends.size(), "api_key_file"), item["api_key_file"]);
    if (!backend.api_key_file.empty() && !std::filesystem::exists(backend.api_key_file))
      r.error(item["api_key_file"], "backend '" + backend.name + "': API key file '" + backend.api_key_file.string() +
                                        "' does not exist");
    if (auto check = item["health_check"]) read_health_check(r, check, backend.health_check);
    if (auto breaker = item["circuit_breaker"]) {
      if (r.expect_map(breaker, "'circuit_breaker'", {"failures", "open_ms"})) {
        r.integer(breaker, "failures", backend.circuit_breaker.failures, 1, 1000);
        r.milliseconds(breaker, "open_ms", backend.circuit_breaker.open_for, 10, max_timeout_ms);
      }
    }
    auto replicas = item["replicas"];
    if (!replicas) {
      r.error(item, "backend '" + backend.name + "' needs 'replicas' (a list of {url: ...})");
    } else if (r.expect_sequence(replicas, "'replicas'")) {
      if (replicas.size() == 0) r.error(replicas, "'replicas' must list at least one replica");
      for (const auto& replica_node : replicas) {
        if (!r.expect_map(replica_node, "a replica", {"url"})) continue;
        ReplicaConfig replica;
        if (!r.string(replica_node, "url", replica.url, true) || replica.url.empty()) continue;
        if (!read_replica_url(r, replica_node["url"], replica)) continue;
        remember(config, setting_path("backends", config.backends.size(), replica_setting(backend.replicas.size())),
                 replica_node["url"]);
        if (!replica.https && !backend.loopback)
          r.error(replica_node["url"], "plain http:// is refused for backend '" + backend.name +
                                           "': use https:// with 'tls', or mark the backend 'loopback: true' if it "
                                           "runs on this host");
        if (replica.https && !backend.tls)
          r.error(replica_node["url"], "https:// replicas need the backend's 'tls' settings (at least 'ca')");
        if (const ReplicaConfig* same = same_server(backend.replicas, replica))
          r.error(replica_node["url"], "replica url '" + replica.url + "' names the same server as '" + same->url +
                                           "' above: list each replica of backend '" + backend.name +
                                           "' once (a retry meant for another replica would go to the same one)");
        backend.replicas.push_back(std::move(replica));
      }
    }
    config.backends.push_back(std::move(backend));
  }
}

void read_access_log(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  auto node = root["access_log"];
  if (!node) return;
  AccessLogConfig& log = config.access_log;
  remember(config, "access_log", node);
  std::string value;
  if (!r.string(root, "access_log", value)) return;
  if (value == "off") log.target = AccessLogTarget::off;
  else if (value == "stderr") log.target = AccessLogTarget::stderr_stream;
  else if (value == "stdout") log.target = AccessLogTarget::stdout_stream;
  else {
    log.target = AccessLogTarget::file;
    log.file = r.resolve(value);
  }
}

void read_audit(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  const auto node = root["audit"];
  if (!node) return;
  remember(config, "audit", node);
  if (!r.expect_map(node, "'audit'",
                    {"directory", "durability", "signing_key", "auditor_public_key", "checkpoint_every_records",
                     "checkpoint_every_ms", "segment_max_bytes", "segment_max_age_ms", "group_commit_delay_us",
                     "capture_write_timeout_ms"}))
    return;
  AuditConfig audit;
  r.path(node, "directory", audit.directory, true);
  std::string durability = "strict";
  r.string(node, "durability", durability);
  if (durability == "relaxed") audit.durability = AuditDurability::relaxed;
  else if (durability != "strict") r.error(node["durability"], "'durability' must be strict or relaxed");
  r.path(node, "signing_key", audit.signing_key, true);
  r.path(node, "auditor_public_key", audit.auditor_public_key);
  for (auto key : {"directory", "signing_key", "auditor_public_key"}) remember(config, std::string("audit.") + key, node[key]);
  r.integer(node, "checkpoint_every_records", audit.checkpoint_every_records, 1, 10'000'000);
  r.integer(node, "checkpoint_every_ms", audit.checkpoint_every_ms, 10, 3'600'000);
  r.integer(node, "segment_max_bytes", audit.segment_max_bytes, 64 * 1024, 512ull * 1024 * 1024);
  if (r.integer(node, "segment_max_age_ms", audit.segment_max_age_ms, 0, 366ull * 24 * 3600 * 1000) &&
      audit.segment_max_age_ms > 0 && audit.segment_max_age_ms < 1000)
    r.error(node["segment_max_age_ms"], "'segment_max_age_ms' must be 0 (rotate by size only) or at least 1000: "
                                        "a segment per record or two would make the log slow to verify and query");
  if (node["group_commit_delay_us"]) {
    std::uint32_t delay = 0;
    r.integer(node, "group_commit_delay_us", delay, 0, 100'000);
    audit.group_commit_delay_us = delay;
  }
  r.milliseconds(node, "capture_write_timeout_ms", audit.capture_write_timeout, 100, max_timeout_ms);
  config.audit = audit;
}

void read_vault(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  const auto node = root["vault"];
  if (!node) return;
  remember(config, "vault", node);
  if (!r.expect_map(node, "'vault'", {"key", "directory", "ttl_seconds", "max_entries", "max_entries_per_tenant"}))
    return;
  VaultConfig vault;
  r.path(node, "key", vault.key, true);
  r.path(node, "directory", vault.directory, false);
  for (auto key : {"key", "directory"}) remember(config, std::string("vault.") + key, node[key]);
  r.integer(node, "ttl_seconds", vault.ttl_seconds, 1, 10ull * 365 * 86'400);
  r.integer(node, "max_entries", vault.max_entries, 1, 100'000'000);
  r.integer(node, "max_entries_per_tenant", vault.max_entries_per_tenant, 0, 100'000'000);
  config.vault = vault;
}

void cross_check(YamlReader& r, const YAML::Node& root, GatewayConfig& config) {
  auto models = config.all_models();
  auto tenants = root["tenants"];
  for (std::size_t i = 0; i < config.tenants.size() && tenants && i < tenants.size(); ++i) {
    const auto& tenant = config.tenants[i];
    auto model_nodes = tenants[i]["models"];
    for (std::size_t m = 0; m < tenant.models.size(); ++m) {
      const auto& model = tenant.models[m];
      if (model == "*" || std::find(models.begin(), models.end(), model) != models.end()) continue;
      r.error(model_nodes && model_nodes.IsSequence() ? model_nodes[m] : tenants[i],
              "tenant '" + tenant.name + "' may use model '" + model + "', but no backend serves it");
    }
  }
  const bool asks_for_certificates = std::any_of(config.listeners.begin(), config.listeners.end(), [](const auto& l) {
    return l.tls && !l.tls->client_ca.empty();
  });
  for (std::size_t i = 0; i < config.tenants.size() && tenants && i < tenants.size(); ++i) {
    const auto& tenant = config.tenants[i];
    if (tenant.api_key_digests.empty() && !tenant.client_certificate_cns.empty() && !asks_for_certificates)
      r.error(tenants[i]["client_certificates"],
              "tenant '" + tenant.name + "' logs in only with a client certificate, but no listener asks for one "
              "(tls.client_ca): nobody could use it");
  }
  bool has_network_backend = std::any_of(config.backends.begin(), config.backends.end(),
                                         [](const auto& b) { return b.type == BackendType::openai; });
  if (has_network_backend && config.boundary.empty())
    r.error(root, "'boundary' must list the networks backends live in (e.g. [10.20.0.0/16]); without it the egress "
                  "guard refuses every backend");
}

}  // namespace

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string setting_path(std::string_view list, std::size_t index, std::string_view key, std::string_view member) {
  std::string path = std::string(list) + "[" + std::to_string(index) + "]";
  for (auto part : {key, member})
    if (!part.empty()) path += "." + std::string(part);
  return path;
}

std::string replica_setting(std::size_t index) { return "replicas[" + std::to_string(index) + "].url"; }

std::string GatewayConfig::problem_at(std::string_view setting, const std::string& message) const {
  auto found = positions.find(setting);
  const SourcePosition at = found == positions.end() ? SourcePosition{} : found->second;
  return ConfigError{source_file.string(), at.line, at.column, message}.to_string();
}

bool TenantConfig::may_use(const std::string& model) const {
  return std::any_of(models.begin(), models.end(), [&](const auto& m) { return m == "*" || m == model; });
}

std::vector<std::string> GatewayConfig::all_models() const {
  std::vector<std::string> models;
  for (const auto& backend : backends)
    for (const auto& model : backend.models)
      if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
  return models;
}

ConfigResult parse_gateway_config(const std::string& yaml_text, const std::filesystem::path& file) {
  YamlReader r(file);
  YAML::Node root;
  try {
    root = policy::load_single_document(yaml_text);
  } catch (const YAML::Exception& e) {
    r.error(e.mark, "YAML syntax error: " + policy::yaml_syntax_message(e));
    return r.take_errors();
  }
  if (!root || root.IsNull()) {
    r.error(YAML::Mark{}, "the file is empty; it needs at least 'listeners'");
    return r.take_errors();
  }
  if (!r.expect_map(root, "the top level",
                    {"workers", "listeners", "admin", "limits", "boundary", "tenants", "backends", "access_log",
                     "policy", "audit", "vault"}))
    if (!root.IsMap()) return r.take_errors();

  auto config = std::make_shared<GatewayConfig>();
  config->source_file = file;
  r.integer(root, "workers", config->workers, 0, 1024);
  remember(*config, "workers", root["workers"]);
  read_listeners(r, root, *config);
  if (const auto admin = root["admin"]) {
    remember(*config, "admin", admin);
    if (r.expect_map(admin, "'admin'", {"address", "port"})) {
      r.string(admin, "address", config->admin.address);
      r.integer(admin, "port", config->admin.port, 1, 65535);
      remember(*config, "admin.address", admin["address"]);
      remember(*config, "admin.port", admin["port"]);
      boost::system::error_code ec;
      boost::asio::ip::make_address(config->admin.address, ec);
      if (ec) r.error(admin["address"], "admin address '" + config->admin.address + "' is not an IP address");
    }
  }
  for (const auto& listener : config->listeners)
    if (same_socket(config->admin.address, config->admin.port, listener.address, listener.port)) {
      const auto admin = root["admin"];
      r.error(admin && admin["port"] ? admin["port"] : (admin ? admin : root),
              "the admin endpoints would share " + config->admin.address + ":" + std::to_string(config->admin.port) +
                  " with listener '" + listener.name + "'");
    }
  read_limits(r, root, config->limits);
  if (auto boundary = root["boundary"]; boundary && r.expect_sequence(boundary, "'boundary'")) {
    for (const auto& item : boundary) {
      std::string why;
      auto cidr = item.IsScalar() ? Cidr::parse(item.Scalar(), why) : std::nullopt;
      if (!cidr) {
        r.error(item, "boundary entry is not a network: " + (why.empty() ? "expected e.g. 10.20.0.0/16" : why));
        continue;
      }
      config->boundary.push_back(*cidr);
    }
  }
  read_tenants(r, root, *config);
  read_backends(r, root, *config);
  read_access_log(r, root, *config);
  std::filesystem::path policy;
  remember(*config, "policy", root["policy"]);
  if (r.path(root, "policy", policy) && !policy.empty()) {
    if (!std::filesystem::exists(policy)) r.error(root["policy"], "policy file '" + policy.string() + "' does not exist");
    config->policy_file = policy;
  }
  read_audit(r, root, *config);
  read_vault(r, root, *config);
  if (r.ok()) cross_check(r, root, *config);
  if (!r.ok()) return r.take_errors();
  return std::shared_ptr<const GatewayConfig>(std::move(config));
}

ConfigResult load_gateway_config(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return std::vector<ConfigError>{{file.string(), 1, 1, "cannot read the file: " + ec.message()}};
  if (size > max_config_bytes)
    return std::vector<ConfigError>{{file.string(), 1, 1, "the file is larger than 4 MiB; is it the right file?"}};
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return std::vector<ConfigError>{{file.string(), 1, 1, "cannot read the file"}};
  return parse_gateway_config(text.str(), file);
}

}  // namespace sovereign::gateway
