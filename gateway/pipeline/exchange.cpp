#include "gateway/pipeline/exchange.hpp"

#include <algorithm>
#include <charconv>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "gateway/http/request_id.hpp"
#include "gateway/memory/recycling_allocator.hpp"
#include "gateway/openai/body_media.hpp"
#include "gateway/openai/json_text.hpp"
#include "gateway/pipeline/answer_filters.hpp"
#include "gateway/pipeline/audit_records.hpp"
#include "gateway/pipeline/policy_request.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "gateway/pipeline/sealed_captures.hpp"
#include "policy/engine.hpp"
#include "policy/join.hpp"

namespace sovereign::gateway {
namespace http = boost::beast::http;
namespace {

std::optional<Endpoint> endpoint_for(std::string_view path) {
  if (path == "/v1/chat/completions") return Endpoint::chat_completions;
  if (path == "/v1/completions") return Endpoint::completions;
  if (path == "/v1/embeddings") return Endpoint::embeddings;
  return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

constexpr std::string_view models_path = "/v1/models";
constexpr std::string_view model_path_prefix = "/v1/models/";

// The model id of GET /v1/models/{model}, percent-decoded ("org%2Fmodel" and "org/model" alike);
// empty when the path holds none or a malformed escape.
std::string model_of_path(std::string_view path) {
  if (!path.starts_with(model_path_prefix)) return {};
  std::string_view encoded = path.substr(model_path_prefix.size());
  std::string model;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      model.push_back(encoded[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= encoded.size() || std::from_chars(encoded.data() + i + 1, encoded.data() + i + 3, value, 16).ptr !=
                                       encoded.data() + i + 3)
      return {};
    model.push_back(static_cast<char>(value));
    i += 2;
  }
  return model;
}

// The prompt's tokens as the tokens-per-minute budget estimates them before the backend reports
// usage: about four bytes of text per token (decide() adds what the client allows the model to write),
// counted as decoded, so that settle_tokens falls back on the figure decide() charged.
std::uint64_t estimated_prompt_tokens(const DecodedRequest& request) { return request.prompt_bytes / 4 + 1; }

// What the decide phase keeps of its reused engine input between requests (Exchange::decide).
constexpr std::size_t max_reused_policy_request_bytes = 64 * 1024;
constexpr std::size_t max_reused_policy_request_segments = 256;

constexpr std::size_t max_path_bytes = 256;  // paths are the client's: logs and records keep them bounded
constexpr std::size_t max_conversation_id_bytes = 128;  // the vault takes scopes of up to 256 bytes

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Vault token types are [A-Z][A-Z0-9_]*: the detector's name, upper-cased.
std::string token_type(std::string_view detector) {
  std::string type;
  for (char c : detector) {
    if (type.size() == crypto::max_token_type_length) break;
    if (std::isalnum(static_cast<unsigned char>(c))) type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    else type += '_';
  }
  if (type.empty() || !std::isupper(static_cast<unsigned char>(type[0]))) type = "V" + type.substr(0, crypto::max_token_type_length - 1);
  return type;
}

bool wants_capture(const std::optional<policy::Decision>& decision) { return decision && decision->capture_payload; }

// What the client is told when the policy denied the request; nothing when it did not.
std::optional<ApiError> policy_denial(const std::optional<policy::Decision>& decision) {
  if (!decision || decision->action != policy::Action::deny) return std::nullopt;
  return api_errors::denied_by_policy(decision->message, decision->deciding_rule);
}

// An answer's rewriter together with the settings its filters are made from: one allocation, and a
// factory that holds only a pointer to them (a std::function keeps that without allocating).
class ScannedAnswerRewriter final : public ResponseRewriter {
 public:
  ScannedAnswerRewriter(Endpoint endpoint, bool withhold_logprobs, AnswerFilterSettings settings)
      // The factory runs only once the rewriter reads an answer, after settings_ is made.
      : ResponseRewriter(endpoint, withhold_logprobs, [this](TextForm form) { return answer_filters(settings_, form); }),
        settings_(std::move(settings)) {}

 private:
  AnswerFilterSettings settings_;
};

}  // namespace

Exchange::Exchange(GatewayServices& services, boost::asio::io_context& io, HttpRequest& request,
                   const ConnectionInfo& connection, ResponseSink& sink, Callback<void(bool)> complete)
    : services_(services),
      io_(io),
      snapshot_(services.current()),
      request_(request),
      connection_(connection),
      sink_(sink),
      complete_(std::move(complete)),
      started_(std::chrono::steady_clock::now()),
      request_id_(new_request_id()),
      json_resource_(json_arena_.data(), json_arena_.size()),
      output_detectors_(snapshot_ && snapshot_->policy ? std::make_shared<std::map<std::string, int>>() : nullptr) {}

Exchange::~Exchange() {
  if (request_scoped_tokens_ && services_.vault && tenant_ != nullptr) services_.vault->forget(tenant_->name, conversation_scope_);
}

namespace {
// The phases in order, and their names in audit records.
using Phase = PhaseResult (Exchange::*)();
constexpr std::array<std::string_view, 7> phase_names = {"authenticate", "decode",    "decide", "audit",
                                                         "capture",      "transform", "route"};
}  // namespace

void Exchange::run() {
  static constexpr std::array<Phase, phase_names.size()> phases = {
      &Exchange::authenticate, &Exchange::decode,    &Exchange::decide, &Exchange::audit,
      &Exchange::capture,      &Exchange::transform, &Exchange::route};
  if (!snapshot_) return fail(api_errors::shutting_down());
  while (next_phase_ < phases.size()) {
    PhaseResult result = (this->*phases[next_phase_++])();
    switch (result.kind) {
      case PhaseResult::Kind::next: break;
      case PhaseResult::Kind::fail: return fail(*result.error, result.retry_after);
      case PhaseResult::Kind::answer: return answer(std::move(*result.response), {});
      case PhaseResult::Kind::suspend: return;  // the phase resumes run() when its work completes
    }
  }
  if (local_backend_ != nullptr) return forward_local();
  forward();
}

PhaseResult Exchange::authenticate() {
  auto path = path_of(request_.target());
  bool known_path = path == models_path || path.starts_with(model_path_prefix) || endpoint_for(path).has_value();
  if (!known_path) return PhaseResult::fail(api_errors::not_found(std::string(path)));
  const TenantConfig* by_certificate = snapshot_->tenants.by_client_certificate(connection_.client_certificate_cn);
  fields_ = read_request_fields(request_.base());
  const SingleField& authorization = fields_.authorization;
  if (authorization.count == 0 || authorization.value.empty()) {
    tenant_ = by_certificate;
    return tenant_ != nullptr ? PhaseResult::next() : PhaseResult::fail(api_errors::missing_api_key());
  }
  // A key sent beside a client certificate is checked too: a wrong one is refused, never ignored.
  // A second header could carry other credentials than the one a proxy in front checked.
  if (authorization.count > 1)
    return PhaseResult::fail(api_errors::malformed_authorization("The request has more than one Authorization header."));
  auto token = bearer_token(authorization.value);
  if (token.empty())
    return PhaseResult::fail(api_errors::malformed_authorization("The Authorization header holds no Bearer API key."));
  tenant_ = snapshot_->tenants.by_api_key(token);
  if (tenant_ == nullptr) return PhaseResult::fail(api_errors::invalid_api_key());
  if (by_certificate != nullptr && by_certificate != tenant_)
    return PhaseResult::fail(api_errors::malformed_authorization(
        "The API key and the client certificate belong to different tenants; send one tenant's credentials."));
  return PhaseResult::next();
}

PhaseResult Exchange::decode() {
  auto path = path_of(request_.target());
  if (path == models_path || path.starts_with(model_path_prefix)) {
    // HEAD is GET without the body (RFC 9110 9.3.2): the same checks, the same head (answer()).
    if (request_.method() != http::verb::get && request_.method() != http::verb::head)
      return PhaseResult::fail(
          api_errors::method_not_allowed(std::string(request_.method_string()), std::string(path), "GET, HEAD"));
    if (path == models_path) return PhaseResult::answer(models_list());
    // One model, as OpenAI's "retrieve model": only one this tenant may use. Others, served or not,
    // are not found (a tenant learns nothing of what it may not use).
    const std::string model = model_of_path(path);
    if (!valid_model_name(model)) return PhaseResult::fail(api_errors::model_not_found("(not a model name)"));
    if (!snapshot_->routes.serves(model) || !tenant_->may_use(model))
      return PhaseResult::fail(api_errors::model_not_found(model));
    return PhaseResult::answer(json_answer(boost::json::serialize(model_object(model))));
  }
  endpoint_ = endpoint_for(path);
  if (request_.method() != http::verb::post)
    return PhaseResult::fail(api_errors::method_not_allowed(std::string(request_.method_string()), std::string(path), "POST"));
  // The body is read as sent: a compressed one, or one in another charset, is refused naming the header.
  if (auto refusal = refused_body_media(fields_.content_encodings, fields_.content_type.value))
    return PhaseResult::fail(std::move(*refusal));
  // An ordinary body is read in one pass without being built: without a policy only summarised
  // (model, limits, the prompt's size for token estimates), under one with every text the policy
  // scans. The built-in engine renders its prompt from the built body: for a model it serves, the
  // body is decoded again (and so is one the policy rewrites: Exchange::transform).
  auto decoded = decode_request(*endpoint_, request_.body(), boost::json::storage_ptr(&json_resource_),
                                snapshot_->policy ? TextScope::policy_scan : TextScope::summary);
  if (const auto* read = std::get_if<DecodedRequest>(&decoded);
      read != nullptr && read->body.is_null() && snapshot_->routes.serves_locally(read->model))
    return take_decoded(decode_built());
  return take_decoded(std::move(decoded));
}

std::variant<DecodedRequest, ApiError> Exchange::decode_built() {
  return decode_request(*endpoint_, request_.body(), boost::json::storage_ptr(&json_resource_),
                        snapshot_->policy ? TextScope::every_string : TextScope::prompts);
}

// Made in place, not assigned: a body assigned into a request whose body has another storage would
// be copied, and the texts would still point into the copy's source.
PhaseResult Exchange::take_decoded(std::variant<DecodedRequest, ApiError>&& decoded) {
  if (auto* error = std::get_if<ApiError>(&decoded)) return PhaseResult::fail(*error);
  decoded_.emplace(std::move(std::get<DecodedRequest>(decoded)));
  // Headers the policy and the vault act on may appear once: with two, a proxy in front and the
  // gateway could each read a different one (a lower declared class, another conversation).
  for (const auto& [name, field] : {std::pair{"X-Data-Class", &fields_.data_class},
                                    std::pair{"X-Conversation-Id", &fields_.conversation_id}}) {
    if (field->count > 1)
      return PhaseResult::fail(api_errors::invalid_request("The request has more than one " + std::string(name) +
                                                           " header; send it once."));
  }
  const std::string_view conversation = fields_.conversation_id.value;
  // The whole id is the scope: cut short, two conversations that share a beginning would restore
  // each other's tokens.
  if (conversation.size() > max_conversation_id_bytes)
    return PhaseResult::fail(api_errors::invalid_request(
        "The X-Conversation-Id header has " + std::to_string(conversation.size()) + " bytes; it may have at most " +
        std::to_string(max_conversation_id_bytes) + " (send a shorter id, e.g. a hash of yours)."));
  conversation_named_ = !conversation.empty();
  // A request's own scope starts with a control character, which no header value may hold: no
  // conversation can be named so as to share it (its id is sent back in X-Request-Id).
  // Only a policy tokenizes values and restores tokens: without one no scope is needed.
  if (snapshot_->policy) conversation_scope_ = conversation_named_ ? std::string(conversation) : "\x01" + request_id_;
  return PhaseResult::next();
}

PhaseResult Exchange::decide() {
  const auto& model = decoded_->model;
  if (snapshot_->config->backends.empty())
    return PhaseResult::fail(api_errors::no_backend_available(model, "this gateway has no backends configured yet"));
  if (!snapshot_->routes.serves(model)) return PhaseResult::fail(api_errors::model_not_found(model));
  if (!tenant_->may_use(model)) return PhaseResult::fail(api_errors::model_not_permitted(model, tenant_->name));
  const std::uint64_t estimate = estimated_prompt_tokens(*decoded_) + decoded_->max_tokens;
  auto rate = snapshot_->rate_limiter.admit(*tenant_, estimate);
  if (!rate.allowed) {
    services_.metrics.rate_limited(tenant_->name);
    return PhaseResult::fail(api_errors::rate_limited(tenant_->name, rate.exceeded), rate.retry_after);
  }
  tokens_charged_ = RateLimiter::tokens_charged(*tenant_, estimate);
  if (snapshot_->policy) {
    if (auto refusal = refused_before_policy(*decoded_, *snapshot_->policy, tenant_->name))
      return PhaseResult::fail(std::move(*refusal));
    // The engine's input is reused by every decision on this worker thread: its strings keep their
    // capacity, so the texts are copied in without allocating (about a dozen allocations a request).
    // One that grew far beyond a usual request's is let go after use.
    thread_local policy::Request request;
    fill_policy_request(request, *decoded_, tenant_->name, fields_.data_class.value);
    decision_ = policy::evaluate(request, *snapshot_->policy);
    std::size_t kept_bytes = 0;
    for (const auto& segment : request.segments) kept_bytes += segment.text.capacity() + segment.json_path.capacity();
    if (kept_bytes > max_reused_policy_request_bytes || request.segments.size() > max_reused_policy_request_segments)
      request = {};
    log_warn_rules();
  }
  return PhaseResult::next();
}

// Rules in warn mode change nothing, but each match is logged for the people rolling the rule out.
void Exchange::log_warn_rules() const {
  for (const auto& match : decision_->matched) {
    if (match.mode != "warn") continue;
    log_event("warn", "policy_warn_rule_matched",
              "request " + request_id_ + " of tenant " + tenant_->name + ": rule " + match.rule +
                  " (mode warn, not enforced) would " + match.effect + "; " + match.why);
  }
}

// The decision record is written before anything leaves the gateway, for allowed and denied
// requests alike. In strict durability the request waits here until the record is on disk.
PhaseResult Exchange::audit() {
  // A denied request whose policy asks for its capture (its tenant's capture_payload, or a matching
  // rule's) is sealed before it is refused: an attempt the policy stopped is evidence too, and its
  // decision record says "capture": true. capture() refuses it once the copy is written.
  auto denied = [this]() -> PhaseResult {
    auto denial = policy_denial(decision_);
    if (denial && !wants_capture(decision_)) return PhaseResult::fail(std::move(*denial));
    return PhaseResult::next();
  };
  if (!services_.audit) {
    if (auto denial = policy_denial(decision_)) return PhaseResult::fail(std::move(*denial));
    return PhaseResult::next();
  }
  if (!services_.audit->healthy()) return PhaseResult::fail(api_errors::audit_unavailable(services_.audit->health_detail()));
  std::string payload_digest = crypto::to_hex(crypto::sha256(request_.body()));
  DecisionFacts facts;
  facts.request_id = request_id_;
  facts.tenant = tenant_->name;
  facts.model = decoded_->model;
  facts.endpoint = endpoint_name(*endpoint_);
  facts.payload_sha256 = payload_digest;
  if (decision_) {
    facts.decision = decision_->action == policy::Action::allow ? "allow" : "deny";
    for (const auto& match : decision_->matched) {
      facts.rules.push_back(match.rule);
      if (match.mode == "warn") facts.warn_rules.push_back(match.rule);
      else if (match.mode == "dry-run") facts.dry_run_rules.push_back(match.rule);
    }
    facts.policy_version = decision_->policy_version;
    facts.data_class = decision_->data_class;
    facts.detectors = &decision_->detector_counts;
    facts.unscanned = &decision_->unscanned_counts;
    facts.allowed_zones = decision_->allowed_zones;
    facts.allowed_backends = decision_->allowed_backends;
    facts.capture_payload = decision_->capture_payload;
  } else {
    facts.decision = "allow";
    facts.rules.push_back("tenant-model-permission");
  }
  auto record = decision_record(facts, rfc3339_now());
  decision_recorded_ = true;
  if (services_.audit_durability == crypto::Durability::relaxed) {
    services_.audit->append(std::move(record), [](const crypto::AppendResult&) {});
    return denied();
  }
  services_.audit->append(std::move(record), [self = shared_from_this(), denied](const crypto::AppendResult& result) {
    boost::asio::post(self->io_, [self, ok = result.ok, error = result.error, denied] {
      if (!ok) return self->fail(api_errors::audit_unavailable(error));
      auto verdict = denied();
      if (verdict.kind == PhaseResult::Kind::fail) return self->fail(*verdict.error);
      self->run();
    });
  });
  return PhaseResult::suspend();
}

// A sealed copy of the request, where the policy asks for one, is evidence like the decision record:
// it is written (in strict durability: synced) before anything is forwarded, or the request is
// refused with 503 capture_unavailable. The client's body as it came, before any transform. A
// denied request is refused here, once its copy is written.
PhaseResult Exchange::capture() {
  if (!wants_capture(decision_)) return PhaseResult::next();
  if (!services_.captures) {
    // config check, serve and reload refuse this configuration; should it ever serve, fail closed.
    const std::string why = "gateway.yaml sets no audit.auditor_public_key to seal it to";
    capture_failed("request", why);
    return PhaseResult::fail(api_errors::capture_unavailable("request", why));
  }
  seal("request", std::string(request_.body()), [self = shared_from_this()](bool ok, const std::string& why) {
    if (!ok) return self->fail(api_errors::capture_unavailable("request", why));
    if (auto denial = policy_denial(self->decision_)) return self->fail(*denial);
    self->run();
  });
  return PhaseResult::suspend();
}

// A vault that takes no more values refuses every tokenizing request: counted each time, logged at
// most once a minute (with the first reason), so the operator hears of it without a flood.
void Exchange::report_vault_refusal(const std::string& why) {
  services_.metrics.vault_refusals().Increment();
  static std::atomic<std::int64_t> last_logged_s{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_logged_s.load(std::memory_order_relaxed);
  if (now - last < 60 && last != 0) return;
  if (!last_logged_s.compare_exchange_strong(last, now)) return;
  log_event("warn", "vault_refused", "tenant '" + tenant_->name + "': " + why +
                                         "; tokenizing requests get 503 until mappings expire (counted in "
                                         "sovereign_vault_refusals_total)");
}

// Applies the decision's spans: redact replaces a value for good; tokenize swaps it for a vault
// token that the response path restores. The spans stand in the text the policy read: for JSON text
// (tool-call arguments) that is the text with its escapes resolved, so a value is tokenized as the
// client meant it ("CORP\\jdoe" as written there is the vault's CORP\jdoe, restored in content as
// such and in arguments escaped again) and replaced in the text as written, escapes and all.
PhaseResult Exchange::transform() {
  if (!decision_ || decision_->spans.empty()) return PhaseResult::next();
  const auto& spans = decision_->spans;
  // A body read in one pass is built now, to be rewritten: its texts are the same, in the same order
  // (gateway/openai/request_summary.hpp), which the decision's spans count on.
  if (decoded_->body.is_null()) {
    auto built = decode_built();
    if (auto* error = std::get_if<ApiError>(&built)) return PhaseResult::fail(std::move(*error));
    auto& request = std::get<DecodedRequest>(built);
    if (!same_texts(request.texts, decoded_->texts))
      return PhaseResult::fail(api_errors::internal_error("the request's texts were not found alike to rewrite them"));
    decoded_.emplace(std::move(request));
  }
  if (auto refusal = refused_after_policy(*decoded_, *decision_)) return PhaseResult::fail(std::move(*refusal));
  for (std::size_t segment = 0; segment < decoded_->texts.size(); ++segment) {
    auto& field = decoded_->texts[segment];
    const bool has_span = std::any_of(spans.begin(), spans.end(), [&](const policy::Span& s) { return s.segment == segment; });
    if (!has_span) continue;
    const bool has_tokenize = std::any_of(spans.begin(), spans.end(), [&](const policy::Span& s) {
      return s.segment == segment && s.kind == policy::TransformKind::tokenize;
    });
    if (has_tokenize && !services_.vault)
      return PhaseResult::fail(api_errors::tokenization_unavailable("gateway.yaml configures no vault"));
    std::optional<ReadableJsonText> readable;
    if (field.json_text) readable = readable_json_text(field.text);
    const std::string_view read = readable ? std::string_view(readable->text) : field.text;
    // Right to left, so that each replacement leaves the offsets before it as they were.
    std::string rewritten(field.text);
    for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
      if (it->segment != segment || it->begin > it->end || it->end > read.size()) continue;
      std::string replacement;
      if (it->kind == policy::TransformKind::redact) {
        replacement = policy::redaction_marker(it->detector);
      } else {
        // Without a conversation the scope is this request: its mappings live only as long as it does.
        const std::string_view value = read.substr(it->begin, it->end - it->begin);
        auto token = conversation_named_
                         ? services_.vault->tokenize(tenant_->name, conversation_scope_, token_type(it->detector), value)
                         : services_.vault->tokenize_for_request(tenant_->name, conversation_scope_,
                                                                 token_type(it->detector), value);
        request_scoped_tokens_ = request_scoped_tokens_ || !conversation_named_;
        if (!token) {
          report_vault_refusal(token.error().message);
          return PhaseResult::fail(api_errors::tokenization_unavailable(token.error().message));
        }
        replacement = std::move(token.value());
      }
      const auto [begin, end] = readable ? readable->original_range(it->begin, it->end) : std::pair{it->begin, it->end};
      rewritten.replace(begin, end - begin, replacement);
    }
    replace_text(field, rewritten);
  }
  body_rewritten_ = true;
  return PhaseResult::next();
}

PhaseResult Exchange::route() {
  const auto& model = decoded_->model;
  // A rule that names backends narrows the allowed zones further; it never widens them.
  auto zone_allowed = [this](const BackendConfig& backend) {
    if (!decision_) return true;
    if (!contains(decision_->allowed_zones, backend.zone)) return false;
    return decision_->allowed_backends.empty() || contains(decision_->allowed_backends, backend.name);
  };
  const ModelRoute* serving_model = snapshot_->routes.find(model);
  if (serving_model == nullptr)
    return PhaseResult::fail(api_errors::no_backend_available(model, "no backend of this gateway serves it"));
  bool any_allowed = false;
  for (const BackendConfig* backend : serving_model->backends) {
    if (!zone_allowed(*backend)) continue;
    any_allowed = true;
    if (backend->type == BackendType::local) {
      local_backend_ = backend;
      return PhaseResult::next();
    }
    break;
  }
  if (!any_allowed) {
    std::string where = "zone(s) [" + policy::join(decision_->allowed_zones) + "]";
    if (!decision_->allowed_backends.empty())
      where += " and backend(s) [" + policy::join(decision_->allowed_backends) + "]";
    return PhaseResult::fail(api_errors::no_backend_available(
        model, "the policy allows only " + where + " for this request and no backend there serves it"));
  }
  auto now = std::chrono::steady_clock::now();
  // The network backends serving the model where the decision allows them.
  auto serving = [&](const BackendState& backend) { return zone_allowed(*backend.config); };
  targets_.clear();
  targets_.reserve(4);
  // Replicas without pinned addresses: refused by the egress guard, or whose names do not resolve.
  const auto unpinned = [](const ReplicaState& replica) { return replica.pinning() != Pinning::Status::pinned; };
  std::size_t refused = 0;
  for (BackendState* backend : serving_model->network) {
    if (!serving(*backend)) continue;
    for (const auto& replica : backend->replicas) {
      if (unpinned(*replica)) ++refused;
      else if (replica->available(now)) targets_.push_back({backend, replica.get()});
    }
  }
  // Least loaded first; a rotating start spreads ties across replicas.
  thread_local std::size_t rotation = 0;
  if (!targets_.empty()) std::rotate(targets_.begin(), targets_.begin() + (rotation++ % targets_.size()), targets_.end());
  // A stable insertion sort: a handful of replicas, and no temporary buffer (std::stable_sort allocates one).
  auto load = [this](std::size_t i) { return targets_[i].replica->in_flight.load(std::memory_order_relaxed); };
  for (std::size_t i = 1; i < targets_.size(); ++i)
    for (std::size_t j = i; j > 0 && load(j) < load(j - 1); --j) std::swap(targets_[j], targets_[j - 1]);
  if (targets_.empty() && refused == 0)
    return PhaseResult::fail(api_errors::no_backend_available(model, "every replica is unhealthy or its circuit is open"));
  // Unpinned replicas go last: they are reported (metric, the answer's message) and never dialled.
  if (refused > 0) {
    for (BackendState* backend : serving_model->network) {
      if (!serving(*backend)) continue;
      for (const auto& replica : backend->replicas)
        if (unpinned(*replica)) targets_.push_back({backend, replica.get()});
    }
  }
  return PhaseResult::next();
}

std::unique_ptr<ResponseTransform> Exchange::response_transform() {
  auto policy = snapshot_->policy;
  // Without a policy nothing is scanned and nothing was ever tokenized: answers go out untouched.
  if (!policy || *endpoint_ == Endpoint::embeddings) return nullptr;  // vectors carry no text
  // Tokens are restored in every answer, not only where this request tokenized a value: a backend
  // may write tokens of earlier turns of the conversation (its own memory, a store of tokenized
  // documents). Only this tenant's tokens of this conversation are restored.
  const crypto::TokenVault* vault = services_.vault.get();
  // A backend that sends log probabilities unasked must not carry redacted text past the scan.
  const bool withhold_logprobs = policy->redacts_answers(tenant_->name);
  return std::make_unique<ScannedAnswerRewriter>(
      *endpoint_, withhold_logprobs,
      AnswerFilterSettings{std::move(policy), vault, tenant_->name, conversation_scope_, output_detectors_});
}

// The end of the answer waits for its evidence (gateway/pipeline/outcome_gate.hpp): in strict
// durability for its outcome record, and where the policy asks for a capture, for the response's.
ResponseSink& Exchange::response_sink() {
  const bool capture = wants_capture(decision_);
  if (!outcome_gate_ && decision_recorded_ && (capture || services_.audit_durability == crypto::Durability::strict))
    outcome_gate_.emplace(
        sink_,
        [this](OutcomeGate::Ending ending, OutcomeGate::Release release) {
          hold_outcome(std::move(ending), std::move(release));
        },
        capture);
  return outcome_gate_ ? static_cast<ResponseSink&>(*outcome_gate_) : sink_;
}

void Exchange::forward() {
  ResponseSink& sink = response_sink();
  UpstreamRequest upstream;
  upstream.target = path_of(request_.target());
  // Untouched bodies go out byte for byte as the client sent them; only rewritten ones are re-serialised.
  upstream.original_body = request_.body();
  if (body_rewritten_) upstream.rewritten_body = boost::json::serialize(decoded_->body);
  upstream.request_id = request_id_;
  upstream.model = decoded_->model;
  upstream.stream = decoded_->stream;
  upstream.keep_response_body = false;  // the outcome gate keeps what the client is sent, for the capture
  upstream.meter_usage = tokens_charged_ != 0;
  upstream.digest_response = services_.audit != nullptr && !outcome_gate_;  // the gate digests what it relays
  auto& pool = *snapshot_->pools[connection_.worker];
  forwarder_ = std::allocate_shared<Forwarder>(RecyclingAllocator<Forwarder>{}, io_, pool, std::move(targets_), std::move(upstream),
                                           snapshot_->config->limits.max_upstream_response_bytes, sink,
                                           response_transform(),
                                           [self = shared_from_this()](ForwardOutcome outcome) {
                                             self->forwarded(std::move(outcome));
                                           });
  sink_.on_client_gone([weak = std::weak_ptr<Forwarder>(forwarder_)] {
    if (auto forwarder = weak.lock()) forwarder->cancel();
  });
  forwarder_->start();
}

void Exchange::forward_local() {
  ResponseSink& sink = response_sink();
  local_forwarder_ = std::make_shared<LocalForwarder>(
      io_, snapshot_->engines.at(local_backend_->name), *local_backend_, *decoded_, request_id_,
      false, services_.audit != nullptr && !outcome_gate_, sink,
      response_transform(),
      [self = shared_from_this()](ForwardOutcome outcome) { self->forwarded(std::move(outcome)); });
  sink_.on_client_gone([weak = std::weak_ptr<LocalForwarder>(local_forwarder_)] {
    if (auto forwarder = weak.lock()) forwarder->cancel();
  });
  local_forwarder_->start();
}

void Exchange::forwarded(ForwardOutcome outcome) {
  outcome_ = std::move(outcome);
  settle_tokens();
  // A stream that broke or failed its check ends its connection after the error event. A whole
  // answer withheld is a 502 with its length, sent with a head that kept the connection alive:
  // closing it after that would fail the client's next request on it.
  if (outcome_.stream_broken ||
      (outcome_.streamed && (outcome_.error_code == "upstream_died" || outcome_.error_code == "response_check_failed")))
    keep_alive_ = false;
  forwarder_.reset();
  local_forwarder_.reset();
  // The forwarder can finish (client gone) while the gate still holds the end for its evidence.
  if (hold_pending_) {
    settle_after_hold_ = true;
    return;
  }
  // The client went away before the answer's end reached the gate: what it was sent is sealed all
  // the same, and the outcome record names the file.
  if (outcome_gate_ && wants_capture(decision_) && !outcome_gate_->held())
    return seal("response", outcome_gate_->take_body(),
                [self = shared_from_this()](bool, const std::string&) { self->settle_outcome(); });
  settle_outcome();
}

// The outcome as the client saw it: with an outcome gate, the bytes it was sent and their digest
// (the gateway's own error answers included), and 503 where the gate refused the answer's end.
void Exchange::settle_outcome() {
  if (outcome_gate_) {
    outcome_.bytes_out = outcome_gate_->bytes_sent();
    outcome_.response_sha256 = outcome_gate_->sha256_sent();
    if (outcome_gate_->refused()) {
      outcome_.status = 503;
      outcome_.error_code = refusal_code_;
    }
  }
  record(outcome_.status, outcome_.error_code, outcome_.bytes_out);
}

void Exchange::capture_failed(const std::string& part, const std::string& why) {
  captures_failed_.push_back(part);
  services_.metrics.capture_failed(part);
  log_event("error", "capture_failed", "request " + request_id_ + " " + part + ": " + why);
}

void Exchange::seal(const char* part, std::string body, std::function<void(bool ok, const std::string& why)> done) {
  if (!services_.captures) {
    const std::string why = "gateway.yaml sets no audit.auditor_public_key to seal it to";
    capture_failed(part, why);
    return done(false, why);
  }
  crypto::CaptureMetadata metadata{request_id_, part,
                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()};
  post_capture(services_, io_, std::move(metadata), std::move(body),
               [self = shared_from_this(), part = std::string(part),
                done = std::move(done)](crypto::Result<std::filesystem::path> written) {
                 if (written) {
                   self->captures_.push_back(written.value().filename().string());
                 } else {
                   self->capture_failed(part, written.error().message);
                 }
                 done(written.ok(), written ? std::string() : written.error().message);
               });
}

void Exchange::answer(HttpResponse response, const std::string& error_code) {
  response.set("X-Request-Id", request_id_);
  response.prepare_payload();
  // A HEAD request gets the head GET would get, Content-Length included, and no body; the
  // records count and digest what was sent.
  if (request_.method() == http::verb::head) response.body().clear();
  unsigned status = response.result_int();
  if (services_.audit && !decision_recorded_) record_early_answer(status, error_code);
  auto bytes = response.body().size();
  if (services_.audit) outcome_.response_sha256 = crypto::to_hex(crypto::sha256(response.body()));
  sink_.send(std::move(response), [self = shared_from_this(), status, error_code, bytes](bool client_ok) {
    self->record(client_ok ? status : 499, error_code, bytes);
  });
}

void Exchange::fail(const ApiError& error, std::chrono::milliseconds retry_after) {
  HttpResponse response{error.status, 11};
  response.set(http::field::content_type, "application/json");
  if (retry_after.count() > 0) response.set(http::field::retry_after, std::to_string((retry_after.count() + 999) / 1000));
  if (!error.allow.empty()) response.set(http::field::allow, error.allow);
  response.body() = error.to_json();
  answer(std::move(response), error.code);
}

// A model as OpenAI describes one; the first backend serving it owns it.
boost::json::object Exchange::model_object(const std::string& model) const {
  std::string owner = "sovereign";
  for (const auto& backend : snapshot_->config->backends)
    if (contains(backend.models, model)) {
      owner = backend.name;
      break;
    }
  return boost::json::object{{"id", model}, {"object", "model"}, {"created", 0}, {"owned_by", owner}};
}

HttpResponse Exchange::models_list() const {
  boost::json::array data;
  for (const auto& model : snapshot_->config->all_models())
    if (tenant_->may_use(model)) data.push_back(model_object(model));
  return json_answer(boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}}));
}

HttpResponse Exchange::json_answer(std::string body) {
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

// The tokens-per-minute budget was charged an estimate (prompt bytes / 4, plus max_tokens); the
// answer's usage replaces it. A stream without a usage chunk counts its text chunks on top of the
// prompt estimate. An answer that said nothing (an error) leaves the estimate charged.
void Exchange::settle_tokens() {
  if (tokens_charged_ == 0 || !outcome_.usage) return;
  const std::uint64_t used = outcome_.usage->reported ? outcome_.usage->tokens
                                                      : estimated_prompt_tokens(*decoded_) + outcome_.usage->tokens;
  snapshot_->rate_limiter.settle(*tenant_, tokens_charged_, used);
}

// The model as metrics, logs and records name it: only one the gateway serves. Any other name is
// the client's text (it could be anything, and every distinct one would be a new metric series).
const std::string& Exchange::served_model() const {
  static const std::string none;
  return decoded_ && snapshot_ && snapshot_->routes.serves(decoded_->model) ? decoded_->model : none;
}

// A request answered before the audit phase (refused by authenticate, decode or decide, or the model
// list) leaves a decision record too, written as its answer leaves: the phase that answered and why
// stand under "rules"; its outcome record follows as for any other request.
void Exchange::record_early_answer(unsigned status, const std::string& error_code) {
  const std::string payload_digest = crypto::to_hex(crypto::sha256(request_.body()));
  const std::size_t phase = next_phase_ == 0 ? 0 : std::min(next_phase_ - 1, phase_names.size() - 1);
  const std::string reason = std::string(phase_names[phase]) + (error_code.empty() ? "" : ": " + error_code);
  DecisionFacts facts;
  facts.request_id = request_id_;
  if (tenant_) facts.tenant = tenant_->name;
  facts.model = served_model();
  const std::string_view path = path_of(request_.target());
  facts.endpoint = endpoint_ ? endpoint_name(*endpoint_) : path.substr(0, max_path_bytes);
  facts.decision = status < 400 ? "allow" : "deny";
  facts.rules.push_back(reason);
  facts.payload_sha256 = payload_digest;
  services_.audit->append(decision_record(facts, rfc3339_now()), [](const crypto::AppendResult&) {});
  decision_recorded_ = true;
}

OutcomeFacts Exchange::outcome_facts(unsigned status, const std::string& error_code, std::uint64_t bytes_out,
                                     std::uint64_t latency_us, const BackendConfig* backend) const {
  OutcomeFacts facts;
  facts.request_id = request_id_;
  if (tenant_) facts.tenant = tenant_->name;
  facts.model = served_model();
  if (backend) {
    facts.backend = backend->name;
    facts.zone = backend->zone;
  }
  facts.status = status;
  facts.error = error_code;
  facts.bytes_in = request_.body().size();
  facts.bytes_out = bytes_out;
  facts.latency_us = latency_us;
  facts.output_detectors = output_detectors_.get();
  facts.captures = captures_;
  facts.captures_failed = captures_failed_;
  return facts;
}

// The answer's end is held by the outcome gate. Where the policy asks for a capture, the response's
// is written first (else the client gets 503 capture_unavailable, or an error event in a stream,
// instead of the end); then, in strict durability, a whole answer's outcome record.
void Exchange::hold_outcome(OutcomeGate::Ending ending, OutcomeGate::Release release) {
  hold_pending_ = true;
  OutcomeGate::Release settle = [self = shared_from_this(), release = std::move(release)](std::optional<std::string> refusal) {
    self->hold_pending_ = false;
    release(std::move(refusal));
    if (std::exchange(self->settle_after_hold_, false)) self->settle_outcome();
  };
  if (!wants_capture(decision_)) return record_held_outcome(std::move(ending), std::move(settle));
  std::string body = std::move(ending.body);
  seal("response", std::move(body),
       [self = shared_from_this(), ending = std::move(ending), settle = std::move(settle)](bool ok, const std::string& why) {
         if (ok) return self->record_held_outcome(ending, settle);
         self->refusal_code_ = "capture_unavailable";
         settle(api_errors::capture_unavailable("response", why).to_json());
       });
}

void Exchange::record_held_outcome(OutcomeGate::Ending ending, OutcomeGate::Release release) {
  // Failures, and every outcome in relaxed durability, are recorded after the answer (record()).
  if (services_.audit_durability != crypto::Durability::strict || !ending.whole) return release(std::nullopt);
  const auto latency_us = static_cast<std::uint64_t>(
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started_).count());
  const BackendConfig* backend = forwarder_ ? forwarder_->backend() : local_backend_;
  OutcomeFacts facts = outcome_facts(ending.status, "", ending.bytes, latency_us, backend);
  facts.response_sha256 = ending.sha256;
  outcome_recorded_ = true;
  services_.audit->append(
      outcome_record(facts, rfc3339_now()),
      [self = shared_from_this(), release = std::move(release)](const crypto::AppendResult& result) {
        boost::asio::post(self->io_, [self, ok = result.ok, error = result.error, release] {
          if (ok) return release(std::nullopt);
          log_event("error", "outcome_not_recorded", "request " + self->request_id_ + ": " + error +
                                                         "; the client gets 503 instead of the answer's end");
          self->refusal_code_ = "audit_unavailable";
          release(api_errors::audit_unavailable(error).to_json());
        });
      });
}

void Exchange::record_outcome(unsigned status, const std::string& error_code, std::uint64_t bytes_out,
                              std::uint64_t latency_us) {
  OutcomeFacts facts = outcome_facts(status, error_code, bytes_out, latency_us, outcome_.backend);
  facts.response_sha256 = outcome_.response_sha256;
  // The response has been sent: a failure here can no longer fail the request, but it leaves the
  // writer unhealthy, so the next request is refused until the log can be written again. The record
  // is lost, so the operator's log names the request: an auditor finding its decision record alone
  // can then tell a lost write from a request that never finished. (Called on the writer's thread;
  // log_event writes one whole line to stderr, which stdio locks.)
  services_.audit->append(outcome_record(facts, rfc3339_now()), [request_id = request_id_](const crypto::AppendResult& result) {
    if (result.ok) return;
    log_event("error", "outcome_not_recorded", "request " + request_id + ": " + result.error +
                                                   "; its answer was already sent, so the audit log holds its decision "
                                                   "record without an outcome record");
  });
}

void Exchange::record(unsigned status, const std::string& error_code, std::uint64_t bytes_out) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  static const std::string none;
  const std::string& tenant = tenant_ ? tenant_->name : none;
  const std::string& model = served_model();
  const std::string& backend = outcome_.backend ? outcome_.backend->name : none;
  services_.metrics.request_finished(tenant, model, backend, status, seconds);
  if (decision_recorded_ && !outcome_recorded_)
    record_outcome(status, error_code, bytes_out, static_cast<std::uint64_t>(seconds * 1e6));
  if (services_.access_log) {
    AccessRecord line;
    line.time = rfc3339_now();
    line.request_id = request_id_;
    line.remote = connection_.remote_address;
    line.method = std::string(request_.method_string());
    line.path = std::string(path_of(request_.target()).substr(0, max_path_bytes));
    line.tenant = tenant;
    line.model = model;
    line.backend = backend;
    line.zone = outcome_.backend ? outcome_.backend->zone : "";
    line.status = status;
    line.error_code = error_code;
    line.bytes_in = request_.body().size();
    line.bytes_out = bytes_out;
    line.duration_us = static_cast<std::uint64_t>(seconds * 1e6);
    line.stream = decoded_ && decoded_->stream;
    services_.access_log->write(line);
  }
  auto complete = std::move(complete_);
  if (complete) complete(keep_alive_);
}

// Without a tenant or model: what the HTTP layer refused never got as far as either.
void ApiHandler::record_rejection(const RejectedRequest& rejected, const ConnectionInfo& connection) {
  static const std::string none;
  const double seconds = std::chrono::duration<double>(rejected.duration).count();
  services_.metrics.request_finished(none, none, none, rejected.status, seconds);
  if (services_.audit && rejected.was_request) audit_rejection(rejected);
  if (!services_.access_log) return;
  AccessRecord line;
  line.time = rfc3339_now();
  line.request_id = rejected.request_id;
  line.remote = connection.remote_address;
  line.method = rejected.method;
  line.path = path_of(rejected.target).substr(0, max_path_bytes);
  line.status = rejected.status;
  line.error_code = rejected.error_code;
  line.bytes_out = rejected.bytes_out;
  line.duration_us = static_cast<std::uint64_t>(seconds * 1e6);
  services_.access_log->write(line);
}

// A request the HTTP layer refused once its header had arrived (a body too large, too slow or
// malformed, trailer fields, no connection free) was a request all the same: it leaves both records,
// "http: CODE" under rules, like the refusals of the pipeline's phases (docs/AUDIT.md). The payload
// digest is of what had arrived of the body. Nothing was forwarded, so nothing waits for them.
void ApiHandler::audit_rejection(const RejectedRequest& rejected) {
  const std::string time = rfc3339_now();
  const std::string reason = "http: " + std::string(rejected.error_code);
  const std::string payload_digest = crypto::to_hex(crypto::sha256(rejected.body_read));
  DecisionFacts decision;
  decision.request_id = rejected.request_id;
  decision.endpoint = path_of(rejected.target).substr(0, max_path_bytes);
  decision.decision = "deny";
  decision.rules.push_back(reason);
  decision.payload_sha256 = payload_digest;
  services_.audit->append(decision_record(decision, time), [](const crypto::AppendResult&) {});
  const std::string answer_digest = crypto::to_hex(crypto::sha256(rejected.answer_body));
  OutcomeFacts outcome;
  outcome.request_id = rejected.request_id;
  outcome.status = rejected.status;
  outcome.error = rejected.error_code;
  outcome.bytes_in = rejected.body_read.size();
  outcome.bytes_out = rejected.bytes_out;
  outcome.latency_us =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(rejected.duration).count());
  outcome.response_sha256 = answer_digest;
  services_.audit->append(outcome_record(outcome, time), [](const crypto::AppendResult&) {});
}

void ApiHandler::handle(HttpRequest& request, const ConnectionInfo& connection, ResponseSink& sink,
                        Callback<void(bool)> complete) {
  // Exchanges come and go with every request: their memory is recycled per thread.
  static_assert(sizeof(Exchange) <= 8192, "keep an exchange within its recycling size class");
  std::allocate_shared<Exchange>(RecyclingAllocator<Exchange>{}, services_, io_, request, connection, sink,
                                 std::move(complete))
      ->run();
}

}  // namespace sovereign::gateway
