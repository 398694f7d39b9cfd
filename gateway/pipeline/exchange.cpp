#include "gateway/pipeline/exchange.hpp"

#include <algorithm>
#include <random>

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace http = boost::beast::http;
namespace {

std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string id = "req_";
  auto value = generator();
  for (int i = 0; i < 16; ++i, value >>= 4) id += digits[value & 0xF];
  return id;
}

std::optional<Endpoint> endpoint_for(std::string_view path) {
  if (path == "/v1/chat/completions") return Endpoint::chat_completions;
  if (path == "/v1/completions") return Endpoint::completions;
  if (path == "/v1/embeddings") return Endpoint::embeddings;
  return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// A rough upper bound used for the tokens-per-minute budget before the backend reports usage:
// about four bytes of text per token, plus what the client allows the model to write.
std::uint64_t estimated_tokens(const DecodedRequest& request) {
  std::uint64_t bytes = 0;
  for (const auto& field : request.texts) bytes += field.text.size();
  return bytes / 4 + 1 + request.max_tokens;
}

}  // namespace

const char* phase_name(PhaseName phase) {
  switch (phase) {
    case PhaseName::authenticate: return "authenticate";
    case PhaseName::decode: return "decode";
    case PhaseName::decide: return "decide";
    case PhaseName::transform: return "transform";
    case PhaseName::route: return "route";
    case PhaseName::forward: return "forward";
    case PhaseName::record: return "record";
  }
  return "unknown";
}

Exchange::Exchange(GatewayServices& services, boost::asio::io_context& io, http::request<http::string_body>& request,
                   const ConnectionInfo& connection, ResponseSink& sink, std::function<void(bool)> complete)
    : services_(services),
      io_(io),
      snapshot_(services.current()),
      request_(request),
      connection_(connection),
      sink_(sink),
      complete_(std::move(complete)),
      started_(std::chrono::steady_clock::now()),
      request_id_(new_request_id()) {}

void Exchange::run() {
  using Phase = PhaseResult (Exchange::*)();
  static constexpr std::array<Phase, 5> synchronous_phases = {&Exchange::authenticate, &Exchange::decode,
                                                              &Exchange::decide, &Exchange::transform, &Exchange::route};
  if (!snapshot_) return fail(api_errors::shutting_down());
  for (Phase phase : synchronous_phases) {
    PhaseResult result = (this->*phase)();
    if (result.kind == PhaseResult::Kind::fail) return fail(*result.error, result.retry_after);
    if (result.kind == PhaseResult::Kind::answer) return answer(std::move(*result.response), {});
  }
  forward();
}

PhaseResult Exchange::authenticate() {
  auto path = path_of(request_.target());
  bool known_path = path == "/v1/models" || endpoint_for(path).has_value();
  if (!known_path) return PhaseResult::fail(api_errors::not_found(std::string(path)));
  tenant_ = snapshot_->tenants.by_client_certificate(connection_.client_certificate_cn);
  if (tenant_ != nullptr) return PhaseResult::next();
  auto authorization = request_[http::field::authorization];
  if (authorization.empty()) return PhaseResult::fail(api_errors::missing_api_key());
  tenant_ = snapshot_->tenants.by_api_key(bearer_token(authorization));
  if (tenant_ == nullptr) return PhaseResult::fail(api_errors::invalid_api_key());
  return PhaseResult::next();
}

PhaseResult Exchange::decode() {
  auto path = path_of(request_.target());
  if (path == "/v1/models") {
    if (request_.method() != http::verb::get)
      return PhaseResult::fail(api_errors::method_not_allowed(std::string(request_.method_string()), std::string(path)));
    return PhaseResult::answer(models_list());
  }
  endpoint_ = endpoint_for(path);
  if (request_.method() != http::verb::post)
    return PhaseResult::fail(api_errors::method_not_allowed(std::string(request_.method_string()), std::string(path)));
  auto decoded = decode_request(*endpoint_, request_.body());
  if (auto* error = std::get_if<ApiError>(&decoded)) return PhaseResult::fail(*error);
  decoded_ = std::move(std::get<DecodedRequest>(decoded));
  return PhaseResult::next();
}

PhaseResult Exchange::decide() {
  const auto& model = decoded_->model;
  auto models = snapshot_->config->all_models();
  if (snapshot_->config->backends.empty())
    return PhaseResult::fail(api_errors::no_backend_available(model, "this gateway has no backends configured yet"));
  if (std::find(models.begin(), models.end(), model) == models.end())
    return PhaseResult::fail(api_errors::model_not_found(model));
  if (!tenant_->may_use(model)) return PhaseResult::fail(api_errors::model_not_permitted(model, tenant_->name));
  auto rate = snapshot_->rate_limiter.admit(*tenant_, estimated_tokens(*decoded_));
  if (!rate.allowed) {
    services_.metrics.rate_limited(tenant_->name);
    return PhaseResult::fail(api_errors::rate_limited(tenant_->name, rate.exceeded), rate.retry_after);
  }
  return PhaseResult::next();
}

PhaseResult Exchange::transform() { return PhaseResult::next(); }

PhaseResult Exchange::route() {
  const auto& model = decoded_->model;
  auto now = std::chrono::steady_clock::now();
  std::vector<ForwardTarget> available;
  std::vector<ForwardTarget> refused;
  bool any_backend = false;
  for (const auto& backend : snapshot_->backends) {
    const auto& models = backend->config->models;
    if (std::find(models.begin(), models.end(), model) == models.end()) continue;
    any_backend = true;
    for (const auto& replica : backend->replicas) {
      if (!replica->refusal.empty()) refused.push_back({backend.get(), replica.get()});
      else if (replica->available(now)) available.push_back({backend.get(), replica.get()});
    }
  }
  if (!any_backend) return PhaseResult::fail(api_errors::no_backend_available(model, "no backend of this gateway serves it"));
  // Least loaded first; a rotating start spreads ties across replicas.
  thread_local std::size_t rotation = 0;
  if (!available.empty()) std::rotate(available.begin(), available.begin() + (rotation++ % available.size()), available.end());
  std::stable_sort(available.begin(), available.end(), [](const ForwardTarget& a, const ForwardTarget& b) {
    return a.replica->in_flight.load(std::memory_order_relaxed) < b.replica->in_flight.load(std::memory_order_relaxed);
  });
  targets_ = std::move(available);
  if (targets_.empty() && refused.empty())
    return PhaseResult::fail(api_errors::no_backend_available(model, "every replica is unhealthy or its circuit is open"));
  // Refused replicas go last: they are reported (metric, log) and never dialled.
  targets_.insert(targets_.end(), refused.begin(), refused.end());
  return PhaseResult::next();
}

void Exchange::forward() {
  UpstreamRequest upstream;
  upstream.target = std::string(path_of(request_.target()));
  upstream.body = boost::json::serialize(decoded_->body);
  upstream.request_id = request_id_;
  upstream.model = decoded_->model;
  upstream.stream = decoded_->stream;
  auto& pool = *snapshot_->pools[connection_.worker];
  forwarder_ = std::make_shared<Forwarder>(
      io_, pool, services_.metrics, std::move(targets_), std::move(upstream),
      snapshot_->config->limits.max_upstream_response_bytes, sink_, nullptr,
      [self = shared_from_this()](ForwardOutcome outcome) {
        self->served_by_ = outcome.backend;
        if (outcome.error_code == "upstream_died") self->keep_alive_ = false;
        self->record(outcome.status, outcome.error_code, outcome.bytes_out);
        self->forwarder_.reset();
      });
  sink_.on_client_gone([weak = std::weak_ptr<Forwarder>(forwarder_)] {
    if (auto forwarder = weak.lock()) forwarder->cancel();
  });
  forwarder_->start();
}

void Exchange::answer(http::response<http::string_body> response, const std::string& error_code) {
  response.set("X-Request-Id", request_id_);
  response.prepare_payload();
  unsigned status = response.result_int();
  auto bytes = response.body().size();
  sink_.send(std::move(response), [self = shared_from_this(), status, error_code, bytes](bool client_ok) {
    self->record(client_ok ? status : 499, error_code, bytes);
  });
}

void Exchange::fail(const ApiError& error, std::chrono::milliseconds retry_after) {
  http::response<http::string_body> response{error.status, 11};
  response.set(http::field::content_type, "application/json");
  if (retry_after.count() > 0) response.set(http::field::retry_after, std::to_string((retry_after.count() + 999) / 1000));
  response.body() = error.to_json();
  answer(std::move(response), error.code);
}

http::response<http::string_body> Exchange::models_list() const {
  boost::json::array data;
  for (const auto& model : snapshot_->config->all_models()) {
    if (!tenant_->may_use(model)) continue;
    std::string owner = "sovereign";
    for (const auto& backend : snapshot_->config->backends)
      if (std::find(backend.models.begin(), backend.models.end(), model) != backend.models.end()) {
        owner = backend.name;
        break;
      }
    data.push_back(boost::json::object{{"id", model}, {"object", "model"}, {"created", 0}, {"owned_by", owner}});
  }
  http::response<http::string_body> response{http::status::ok, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  return response;
}

void Exchange::record(unsigned status, const std::string& error_code, std::uint64_t bytes_out) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::string tenant = tenant_ ? tenant_->name : "";
  std::string model = decoded_ ? decoded_->model : "";
  std::string backend = served_by_ ? served_by_->config->name : "";
  services_.metrics.request_finished(tenant, model, backend, status, seconds);
  if (services_.access_log) {
    AccessRecord line;
    line.time = rfc3339_now();
    line.request_id = request_id_;
    line.remote = connection_.remote_address;
    line.method = std::string(request_.method_string());
    line.path = std::string(path_of(request_.target()));
    line.tenant = tenant;
    line.model = model;
    line.backend = backend;
    line.zone = served_by_ ? served_by_->config->zone : "";
    line.status = status;
    line.error_code = error_code;
    line.bytes_in = request_.body().size();
    line.bytes_out = bytes_out;
    line.duration_ms = seconds * 1000.0;
    line.stream = decoded_ && decoded_->stream;
    services_.access_log->write(line);
  }
  auto complete = std::move(complete_);
  if (complete) complete(keep_alive_);
}

void ApiHandler::handle(http::request<http::string_body>& request, const ConnectionInfo& connection, ResponseSink& sink,
                        std::function<void(bool)> complete) {
  std::make_shared<Exchange>(services_, io_, request, connection, sink, std::move(complete))->run();
}

}  // namespace sovereign::gateway
