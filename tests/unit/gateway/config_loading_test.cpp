// gateway.yaml loading: every mistake an operator can make is reported as FILE:LINE:COL: message.
#include <doctest/doctest.h>

#include <algorithm>

#include "gateway/config/gateway_config.hpp"

using namespace sovereign::gateway;

namespace {

constexpr const char* demo_key_digest = "d92d540a061c3830e8d5f137b041f3f91e8260867918e1af0149e02bc1903de0";

std::vector<ConfigError> errors_of(const std::string& yaml) {
  auto result = parse_gateway_config(yaml, "gw.yaml");
  auto* errors = std::get_if<std::vector<ConfigError>>(&result);
  REQUIRE_MESSAGE(errors != nullptr, "expected the config to be rejected");
  return *errors;
}

std::string base_config(const std::string& extra = {}) {
  return std::string("listeners:\n  - name: api\n    address: 127.0.0.1\n    port: 8080\n") +
         "boundary: [127.0.0.1/32]\n"
         "tenants:\n  - name: demo\n    api_keys:\n      - sha256: " + demo_key_digest + "\n    models: [m]\n"
         "backends:\n  - name: b\n    zone: site\n    models: [m]\n    loopback: true\n"
         "    replicas:\n      - url: http://127.0.0.1:9000/base/\n" + extra;
}

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("a complete configuration loads with documented defaults and parsed replica URLs") {
    auto result = parse_gateway_config(base_config(), "gw.yaml");
    auto* config = std::get_if<std::shared_ptr<const GatewayConfig>>(&result);
    REQUIRE(config != nullptr);
    const auto& c = **config;
    CHECK(c.listeners.size() == 1);
    CHECK(c.limits.max_body_bytes == 1024 * 1024);
    CHECK(c.admin.port == 9090);
    REQUIRE(c.backends.size() == 1);
    const auto& replica = c.backends[0].replicas.at(0);
    CHECK(replica.host == "127.0.0.1");
    CHECK(replica.port == 9000);
    CHECK(replica.base_path == "/base");
    CHECK_FALSE(replica.https);
    CHECK(c.tenants[0].may_use("m"));
    CHECK_FALSE(c.tenants[0].may_use("other"));
    CHECK(c.all_models() == std::vector<std::string>{"m"});
  }

  TEST_CASE("two listeners whose ports are missing or wrong are reported, never thrown") {
    // Found by config_fuzz: the shared-port check placed its error at the missing 'port' key, whose
    // mark yaml-cpp throws for instead of giving.
    auto errors = errors_of("listeners:\n  - name: a\n    address: 127.0.0.1\n  - name: b\n    address: 127.0.0.1\n");
    CHECK(errors.size() >= 3);
    CHECK(std::any_of(errors.begin(), errors.end(),
                      [](const ConfigError& e) { return e.message.find("would share") != std::string::npos; }));
  }

  TEST_CASE("a file that is not UTF-8 is refused at its first bad byte (names go into metrics and logs)") {
    std::string yaml = base_config();
    yaml.replace(yaml.find("name: demo"), 10, "name: d\xffmo");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK_MESSAGE(errors[0].to_string().starts_with("gw.yaml:7:12: YAML syntax error: byte 0xFF is not UTF-8"), errors[0].to_string());
  }

  TEST_CASE("a tenant name with an invisible character is refused (it would look like another tenant)") {
    std::string yaml = base_config();
    yaml.replace(yaml.find("name: demo"), 10, "name: \"de\\u202Emo\"");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("holds the invisible or control character U+202E") != std::string::npos);
  }

  TEST_CASE("a second YAML document is refused, not dropped") {
    auto errors = errors_of(base_config() + "---\nboundary: [0.0.0.0/0]\n");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].to_string().starts_with("gw.yaml:18:1: YAML syntax error: a second YAML document starts here"));
  }

  TEST_CASE("a quoted text never closed is refused at its opening quote, not read to the end of the file") {
    // yaml-cpp would read "access.log policy: qp.yaml " as the access log's path, and run with no policy.
    for (const char* quote : {"\"", "'"}) {
      CAPTURE(quote);
      auto errors = errors_of(base_config(std::string("access_log: ") + quote + "access.log\npolicy: qp.yaml\n"));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].to_string() == "gw.yaml:18:13: YAML syntax error: the quoted text that starts here is never closed");
    }
  }

  TEST_CASE("a quoted text closed further down, taking in a line written as a key, is refused at its opening quote") {
    // Closed at the end of line 19, or by the opening quote of a later text (where yaml-cpp would report
    // the rest of that line as the mistake): either way the place to fix is line 18's opening quote.
    for (const char* rest : {"policy: qp.yaml\"\n", "policy: \"qp.yaml\"\n"}) {
      CAPTURE(rest);
      auto errors = errors_of(base_config(std::string("access_log: \"access.log\n") + rest));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].to_string().starts_with(
          "gw.yaml:18:13: YAML syntax error: the quoted text that starts here runs on into line 19, which reads as a key"));
    }
  }

  TEST_CASE("a replica URL whose base path could not go into a request line as written is refused") {
    auto with_url = [](const std::string& url) {
      std::string yaml = base_config();
      yaml.replace(yaml.find("http://127.0.0.1:9000/base/"), 27, url);
      return yaml;
    };
    for (const char* url : {"http://127.0.0.1:9000/a b", "'http://127.0.0.1:9000/a\tb'", "http://127.0.0.1:9000/ä"}) {
      auto errors = errors_of(with_url(url));
      REQUIRE(errors.size() == 1);
      CHECK_MESSAGE(errors[0].message.find("must be percent-encoded") != std::string::npos, errors[0].message);
    }
    for (const char* url : {"http://127.0.0.1:9000/v1?key=x", "http://127.0.0.1:9000?x=1", "http://127.0.0.1:9000#f"}) {
      auto query = errors_of(with_url(url));
      REQUIRE(query.size() == 1);
      CHECK_MESSAGE(query[0].message.find("has a query or fragment") != std::string::npos, query[0].message);
    }
    for (const char* url : {"http://fd00::5", "http://::1:9000"}) {
      auto v6 = errors_of(with_url(url));
      REQUIRE(v6.size() == 1);
      CHECK_MESSAGE(v6[0].message.find("IPv6 address without brackets") != std::string::npos, v6[0].message);
    }
    for (const char* url : {"http://user:secret@127.0.0.1:9000", "http://user@127.0.0.1:9000", "http://a:b@[::1]:9000"}) {
      auto credentials = errors_of(with_url(url));
      REQUIRE(credentials.size() == 1);
      CHECK_MESSAGE(credentials[0].message.ends_with("must not carry credentials"), credentials[0].message);
    }
    auto encoded = parse_gateway_config(with_url("http://127.0.0.1:9000/team%20a/v1"), "gw.yaml");
    REQUIRE(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(encoded));
    CHECK(std::get<std::shared_ptr<const GatewayConfig>>(encoded)->backends[0].replicas[0].base_path == "/team%20a/v1");
  }

  TEST_CASE("a replica listed twice in one backend is refused at the second, however its URL is written") {
    // base_config's replica is http://127.0.0.1:9000/base/ (line 17); the next list item is line 18.
    for (const char* again : {"http://127.0.0.1:9000/base", "http://127.0.0.1:9000/base/"}) {
      auto errors = errors_of(base_config(std::string("      - url: ") + again + "\n"));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == 18);
      CHECK(errors[0].message == std::string("replica url '") + again +
                                     "' names the same server as 'http://127.0.0.1:9000/base/' above: list each replica "
                                     "of backend 'b' once (a retry meant for another replica would go to the same one)");
    }
    auto hosts = base_config("      - url: http://LOCALHOST/v1\n      - url: http://localhost:80/v1/\n");
    auto errors = errors_of(hosts);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 19);
    // Another port, another base path or another scheme is another server.
    for (const char* other : {"http://127.0.0.1:9001/base", "http://127.0.0.1:9000/other"}) {
      auto result = parse_gateway_config(base_config(std::string("      - url: ") + other + "\n"), "gw.yaml");
      CHECK_MESSAGE(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(result), other);
    }
  }

  TEST_CASE("a backend's tls.server_name that no certificate can hold is refused: it would be written into each Host header") {
    auto with_name = [](const std::string& name) {
      std::string yaml = base_config();
      yaml.replace(yaml.find("http://127.0.0.1:9000/base/"), 27, "https://10.0.0.5:8000");
      return yaml + "    tls:\n      ca: /etc/hosts\n      server_name: " + name + "\n";
    };
    for (const char* name : {"\"vllm.internal\\r\\nX-Evil: 1\"", "'vllm internal'", "'vllm.internal/v1'"}) {
      auto errors = errors_of(with_name(name));
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == 20);
      CHECK_MESSAGE(errors[0].message.starts_with("'server_name' must be a host name or an IP address"), errors[0].message);
    }
    for (const char* name : {"vllm.hall-a.internal", "gpu_node-7", "10.20.1.5", "'fd00::5'"}) {
      auto result = parse_gateway_config(with_name(name), "gw.yaml");
      CHECK_MESSAGE(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(result), name);
    }
  }

  TEST_CASE("audit settings load with rotation by size and age, and out-of-range sizes are refused") {
    auto result = parse_gateway_config(base_config("audit:\n  directory: audit\n  signing_key: keys/s.key\n"
                                                   "  durability: relaxed\n  segment_max_age_ms: 3600000\n  group_commit_delay_us: 250\n"),
                                       "/etc/sovereign/gw.yaml");
    auto* config = std::get_if<std::shared_ptr<const GatewayConfig>>(&result);
    REQUIRE(config != nullptr);
    const auto& audit = *(*config)->audit;
    CHECK(audit.directory == "/etc/sovereign/audit");
    CHECK(audit.durability == AuditDurability::relaxed);
    CHECK(audit.segment_max_age_ms == 3600000);
    CHECK(audit.group_commit_delay_us == 250u);
    CHECK(audit.segment_max_bytes == 64ull << 20);
    auto errors = errors_of(base_config("audit:\n  directory: a\n  signing_key: k\n  segment_max_bytes: 4096\n"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("'segment_max_bytes' must be a whole number from 65536") != std::string::npos);
    auto age = errors_of(base_config("audit:\n  directory: a\n  signing_key: k\n  segment_max_age_ms: 1\n"));
    REQUIRE(age.size() == 1);
    CHECK(age[0].message.find("'segment_max_age_ms' must be 0 (rotate by size only) or at least 1000") != std::string::npos);
  }

  TEST_CASE("a capture write's time limit defaults to 10 s, and one under 100 ms is refused where it is written") {
    auto result = parse_gateway_config(base_config("audit:\n  directory: a\n  signing_key: k\n"), "gw.yaml");
    auto* config = std::get_if<std::shared_ptr<const GatewayConfig>>(&result);
    REQUIRE(config != nullptr);
    CHECK((*config)->audit->capture_write_timeout == std::chrono::milliseconds(10'000));
    auto set = parse_gateway_config(base_config("audit:\n  directory: a\n  signing_key: k\n  capture_write_timeout_ms: 2500\n"),
                                    "gw.yaml");
    REQUIRE(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(set));
    CHECK(std::get<std::shared_ptr<const GatewayConfig>>(set)->audit->capture_write_timeout == std::chrono::milliseconds(2500));
    auto errors = errors_of(base_config("audit:\n  directory: a\n  signing_key: k\n  capture_write_timeout_ms: 5\n"));
    REQUIRE(errors.size() == 1);
    CHECK_MESSAGE(errors[0].to_string().find("gw.yaml:21:29: 'capture_write_timeout_ms' must be a whole number from 100 to") !=
                      std::string::npos,
                  errors[0].to_string());
  }

  TEST_CASE("local backends: engine settings only there, a KV cache smaller than one context refused") {
    // The model file need not exist for these errors (a missing file is its own error).
    const std::string local = "  - name: engine\n    type: local\n    zone: site\n    models: [m]\n"
                              "    model_file: /nonexistent.gguf\n    context_length: 512\n";
    auto small = errors_of(base_config(local + "    kv_cache_tokens: 100\n"));
    CHECK(std::any_of(small.begin(), small.end(), [](const ConfigError& e) {
      return e.to_string().find("'kv_cache_tokens' must be 0 or at least context_length (512)") != std::string::npos;
    }));
    auto copies = errors_of(base_config(local + "    f16_weight_copies: sometimes\n"));
    CHECK(std::any_of(copies.begin(), copies.end(), [](const ConfigError& e) {
      return e.to_string().find("f16_weight_copies") != std::string::npos;
    }));
    auto misplaced_copies = errors_of(base_config("    f16_weight_copies: false\n"));
    CHECK(std::any_of(misplaced_copies.begin(), misplaced_copies.end(), [](const ConfigError& e) {
      return e.to_string().find("'f16_weight_copies' only applies to a backend of type 'local'") != std::string::npos;
    }));
    auto misplaced = errors_of(base_config("    max_queue: 8\n"));
    CHECK(std::any_of(misplaced.begin(), misplaced.end(), [](const ConfigError& e) {
      return e.to_string().find("'max_queue' only applies to a backend of type 'local'") != std::string::npos;
    }));
  }

  TEST_CASE("listeners that would share a port with each other or with the admin endpoints are refused") {
    std::string yaml = base_config();
    const std::string one = "listeners:\n  - name: api\n    address: 127.0.0.1\n    port: 8080\n";
    yaml.replace(0, one.size(), one + "  - name: all\n    address: 0.0.0.0\n    port: 8080\n");
    auto shared = errors_of(yaml);
    REQUIRE(shared.size() == 1);
    CHECK(shared[0].to_string() == "gw.yaml:7:11: listener 'all' would share 0.0.0.0:8080 with listener 'api'");
    auto admin = errors_of(base_config("admin:\n  address: 127.0.0.1\n  port: 8080\n"));
    REQUIRE(admin.size() == 1);
    CHECK(admin[0].message == "the admin endpoints would share 127.0.0.1:8080 with listener 'api'");
    auto mapped = errors_of(base_config("admin:\n  address: \"::ffff:127.0.0.1\"\n  port: 8080\n"));
    REQUIRE(mapped.size() == 1);
    CHECK(mapped[0].message == "the admin endpoints would share ::ffff:127.0.0.1:8080 with listener 'api'");
    // Another port, or another address on the same port, is fine.
    CHECK(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(
        parse_gateway_config(base_config("admin:\n  address: 127.0.0.2\n  port: 8080\n"), "gw.yaml")));
  }

  TEST_CASE("tenants nobody could log in as, and a certificate name two tenants claim, are refused") {
    auto replace = [](std::string yaml, const std::string& from, const std::string& to) {
      yaml.replace(yaml.find(from), from.size(), to);
      return yaml;
    };
    const std::string keys = std::string("    api_keys:\n      - sha256: ") + demo_key_digest + "\n";
    auto empty = errors_of(replace(base_config(), keys, "    api_keys: []\n"));
    REQUIRE(empty.size() == 1);
    CHECK(empty[0].message == "tenant 'demo' has no API key and no client certificate: nobody could use it");
    // Only a certificate, and no listener asks for one.
    auto unasked = errors_of(replace(base_config(), keys, "    client_certificates:\n      - subject_cn: app\n"));
    REQUIRE(unasked.size() == 1);
    CHECK(unasked[0].message.find("logs in only with a client certificate, but no listener asks for one") !=
          std::string::npos);
    const std::string tenants = "tenants:\n";
    auto twice = errors_of(replace(base_config(), tenants,
                                   "tenants:\n  - name: other\n    client_certificates:\n      - subject_cn: app\n"
                                   "    api_keys:\n      - sha256: " + std::string(64, 'a') + "\n    models: [m]\n"
                                   "  - name: third\n    client_certificates:\n      - subject_cn: app\n"
                                   "    api_keys:\n      - sha256: " + std::string(64, 'b') + "\n    models: [m]\n"));
    REQUIRE(twice.size() == 1);
    CHECK_MESSAGE(twice[0].to_string().find("gw.yaml:15:21: subject_cn 'app' is listed twice") != std::string::npos, twice[0].to_string());
  }

  TEST_CASE("a health check path that would change the request line or add headers is refused") {
    auto errors = errors_of(base_config("    health_check:\n      path: \"/v1/models\\r\\nX-Evil: 1\"\n"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("'path' must be a URL path without spaces or control characters") != std::string::npos);
    CHECK(std::holds_alternative<std::shared_ptr<const GatewayConfig>>(
        parse_gateway_config(base_config("    health_check:\n      path: /health?full=1\n"), "gw.yaml")));
  }

  TEST_CASE("an unknown key is reported at its position with a suggestion") {
    auto errors = errors_of(base_config("limits:\n  max_body_byte: 10\n"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].to_string() == "gw.yaml:19:3: unknown key 'max_body_byte' in 'limits' (did you mean 'max_body_bytes'?)");
  }

  TEST_CASE("a key written twice is reported at its second occurrence, never resolved silently") {
    auto errors = errors_of(base_config("limits:\n  max_body_bytes: 10\n  max_body_bytes: 20\n"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].to_string() == "gw.yaml:20:3: 'max_body_bytes' appears twice in 'limits'");
    auto top = errors_of(base_config("boundary: [10.0.0.0/8]\n"));
    REQUIRE(top.size() == 1);
    CHECK(top[0].to_string().starts_with("gw.yaml:18:1: 'boundary' appears twice in"));
    std::string twice = base_config();
    twice.insert(twice.find("    models: [m]\n    loopback"), "    zone: edge\n");
    auto nested = errors_of(twice);
    REQUIRE(nested.size() == 1);
    CHECK(nested[0].to_string().starts_with("gw.yaml:14:5: 'zone' appears twice in"));
  }

  TEST_CASE("a model name clients could not send is refused at its line") {
    std::string yaml = base_config();
    const std::string from = "zone: site\n    models: [m]";
    REQUIRE(yaml.find(from) != std::string::npos);
    yaml.replace(yaml.find(from), from.size(), "zone: site\n    models: [m, \"my model\"]");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() >= 1);
    CHECK(errors[0].message.find("model name 'my model' must be at most 256 letters") != std::string::npos);
  }

  TEST_CASE("a YAML syntax error is reported with the parser's position") {
    auto errors = errors_of("listeners: [\n");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line >= 1);
    CHECK(errors[0].message.starts_with("YAML syntax error"));
    // At the brace that goes past the limit, not at the end of the line where yaml-cpp stopped reading.
    auto deep = errors_of("listeners: " + std::string(50000, '{') + "\n");
    REQUIRE(deep.size() == 1);
    CHECK(deep[0].message.find("nested too deeply") != std::string::npos);
    CHECK(deep[0].line == 1);
    CHECK(deep[0].column == 510);
  }

  TEST_CASE("an API key written in plain text instead of its digest is refused") {
    auto yaml = base_config();
    yaml.replace(yaml.find(demo_key_digest), 64, "sk-plaintext-key");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 9);
    CHECK(errors[0].message.find("64 hex digits") != std::string::npos);
  }

  TEST_CASE("plain http to a backend not marked loopback is refused") {
    auto yaml = base_config();
    yaml.replace(yaml.find("    loopback: true\n"), 19, "");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("plain http:// is refused") != std::string::npos);
  }

  TEST_CASE("a tenant may not list a model that no backend serves") {
    auto yaml = base_config();
    yaml.replace(yaml.find("models: [m]\nbackends"), 11, "models: [m, ghost]");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message == "tenant 'demo' may use model 'ghost', but no backend serves it");
    CHECK(errors[0].line == 10);
  }

  TEST_CASE("numbers out of range, bad ports and bad networks name the key") {
    auto errors = errors_of(base_config("limits:\n  max_body_bytes: -1\nworkers: lots\n") + "");
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].message.find("'workers' must be a whole number") != std::string::npos);
    CHECK(errors[1].message.find("'max_body_bytes' must be a whole number from 1024") != std::string::npos);
    auto boundary = errors_of(base_config("").replace(base_config().find("127.0.0.1/32"), 12, "10.0.0.0/33"));
    REQUIRE(boundary.size() == 1);
    CHECK(boundary[0].message.find("prefix length '33'") != std::string::npos);
  }

  TEST_CASE("network backends without a boundary are refused, so nothing can leave by default") {
    auto yaml = base_config();
    yaml.replace(yaml.find("boundary: [127.0.0.1/32]\n"), 25, "");
    auto errors = errors_of(yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("'boundary' must list the networks") != std::string::npos);
  }

  TEST_CASE("duplicate names and a missing required key are each reported") {
    auto errors = errors_of(base_config("  - name: b\n    zone: z\n    models: [m]\n"));
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].message == "backend name 'b' is used twice");
    CHECK(errors[1].message == "backend 'b' needs 'replicas' (a list of {url: ...})");
  }

  TEST_CASE("an empty file and a missing file are errors, not crashes") {
    CHECK(errors_of("")[0].message.find("empty") != std::string::npos);
    auto missing = load_gateway_config("/nonexistent/gateway.yaml");
    auto* errors = std::get_if<std::vector<ConfigError>>(&missing);
    REQUIRE(errors != nullptr);
    CHECK(errors->at(0).to_string().starts_with("/nonexistent/gateway.yaml:1:1: cannot read the file"));
  }

  TEST_CASE("the settings naming files and hosts keep their position, which is no part of their value") {
    const std::string audit = "audit:\n  directory: a\n  signing_key: k\n";
    auto first = parse_gateway_config(base_config(audit), "/etc/sovereign/gw.yaml");
    auto moved = parse_gateway_config("\n# the same settings, two lines down\n" + base_config(audit), "/etc/sovereign/gw.yaml");
    const auto& a = *std::get<std::shared_ptr<const GatewayConfig>>(first);
    const auto& b = *std::get<std::shared_ptr<const GatewayConfig>>(moved);
    // base_config: the replica's url is on line 17, its value at column 14; the audit section follows.
    CHECK(a.problem_at("backends[0].replicas[0].url", "refused") == "/etc/sovereign/gw.yaml:17:14: refused");
    CHECK(a.problem_at("audit.signing_key", "no key") == "/etc/sovereign/gw.yaml:20:16: no key");
    CHECK(b.problem_at("audit.signing_key", "no key") == "/etc/sovereign/gw.yaml:22:16: no key");
    CHECK(a.problem_at("vault.key", "unknown") == "/etc/sovereign/gw.yaml:1:1: unknown");
    CHECK(*a.audit == *b.audit);  // a reload that only moves lines changes no setting
  }
}
