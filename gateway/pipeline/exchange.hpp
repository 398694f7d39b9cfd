#pragma once
// One API request moving through the gateway's named phases, in this fixed order:
//   authenticate -> decode -> decide -> audit -> capture -> transform -> route -> forward (respond) -> record
// Each phase reads and fills the exchange's context and returns a PhaseResult: go on, answer now,
// fail with an error, or suspend (audit waits for its record to be durable, capture for the sealed
// copy of the request the policy asks for, then each resumes the loop).
// Forwarding is asynchronous and ends in record. Phases never touch the socket: they answer
// through the ResponseSink.
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/http/request_handler.hpp"
#include "gateway/openai/api_error.hpp"
#include "gateway/openai/request_body.hpp"
#include "gateway/pipeline/audit_records.hpp"
#include "gateway/pipeline/gateway_services.hpp"
#include "gateway/pipeline/outcome_gate.hpp"
#include "gateway/pipeline/request_fields.hpp"
#include "gateway/upstream/forwarder.hpp"
#include "gateway/upstream/local_forwarder.hpp"
#include "policy/types.hpp"

namespace sovereign::gateway {

struct PhaseResult {
  enum class Kind { next, answer, fail, suspend } kind = Kind::next;
  std::optional<ApiError> error;  // fail
  std::optional<HttpResponse> response;  // answer
  std::chrono::milliseconds retry_after{0};

  static PhaseResult next() { return {}; }
  static PhaseResult suspend() { return {Kind::suspend, std::nullopt, std::nullopt, {}}; }
  static PhaseResult fail(ApiError e, std::chrono::milliseconds retry_after = {}) {
    return {Kind::fail, std::move(e), std::nullopt, retry_after};
  }
  static PhaseResult answer(HttpResponse r) {
    return {Kind::answer, std::nullopt, std::move(r), {}};
  }
};

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(GatewayServices& services, boost::asio::io_context& io,
           HttpRequest& request, const ConnectionInfo& connection,
           ResponseSink& sink, Callback<void(bool)> complete);
  // Drops the vault mappings of a request that named no conversation: its answer is done.
  ~Exchange();

  void run();

 private:
  PhaseResult authenticate();
  PhaseResult decode();
  PhaseResult take_decoded(std::variant<DecodedRequest, ApiError>&& decoded);  // the rest of decode
  PhaseResult decide();
  PhaseResult audit();
  PhaseResult capture();
  PhaseResult transform();
  // The body decoded again, built (to be rewritten, or rendered by the built-in engine).
  std::variant<DecodedRequest, ApiError> decode_built();
  PhaseResult route();
  void forward();
  void forward_local();
  void forwarded(ForwardOutcome outcome);
  void settle_outcome();
  std::unique_ptr<ResponseTransform> response_transform();
  void record(unsigned status, const std::string& error_code, std::uint64_t bytes_out);
  void record_outcome(unsigned status, const std::string& error_code, std::uint64_t bytes_out, std::uint64_t latency_us);
  OutcomeFacts outcome_facts(unsigned status, const std::string& error_code, std::uint64_t bytes_out,
                             std::uint64_t latency_us, const BackendConfig* backend) const;
  void hold_outcome(OutcomeGate::Ending ending, OutcomeGate::Release release);
  void record_held_outcome(OutcomeGate::Ending ending, OutcomeGate::Release release);
  ResponseSink& response_sink();  // the outcome gate in strict durability, else the client's sink
  void record_early_answer(unsigned status, const std::string& error_code);
  const std::string& served_model() const;
  void report_vault_refusal(const std::string& why);
  void log_warn_rules() const;
  void settle_tokens();
  // Seals `body` to the auditor's key on the capture thread; `done(ok, why)` runs on this
  // exchange's worker once the file is written (in strict durability: synced) or failed.
  void seal(const char* part, std::string body, std::function<void(bool ok, const std::string& why)> done);
  void capture_failed(const std::string& part, const std::string& why);  // recorded, logged and counted

  void answer(HttpResponse response, const std::string& error_code);
  void fail(const ApiError& error, std::chrono::milliseconds retry_after = {});
  HttpResponse models_list() const;
  boost::json::object model_object(const std::string& model) const;
  static HttpResponse json_answer(std::string body);

  GatewayServices& services_;
  boost::asio::io_context& io_;
  std::shared_ptr<RuntimeSnapshot> snapshot_;  // the configuration this request started with
  HttpRequest& request_;
  const ConnectionInfo& connection_;
  ResponseSink& sink_;
  Callback<void(bool)> complete_;
  std::chrono::steady_clock::time_point started_;
  std::string request_id_;

  // The parsed request body lives in a per-request arena: one allocation instead of one per node.
  std::array<unsigned char, 6144> json_arena_;
  boost::json::monotonic_resource json_resource_;  // declared before decoded_, so it outlives the body

  RequestFields fields_;  // read by authenticate(), which runs first
  const TenantConfig* tenant_ = nullptr;
  std::optional<Endpoint> endpoint_;
  std::optional<DecodedRequest> decoded_;
  std::optional<policy::Decision> decision_;
  std::string conversation_scope_;
  bool body_rewritten_ = false;
  bool conversation_named_ = false;     // X-Conversation-Id given: tokens live across requests
  bool request_scoped_tokens_ = false;  // values tokenized for this request alone (no X-Conversation-Id)
  bool decision_recorded_ = false;
  bool outcome_recorded_ = false;
  std::optional<OutcomeGate> outcome_gate_;
  std::uint64_t tokens_charged_ = 0;  // taken from the tenant's tokens-per-minute budget by decide()
  std::size_t next_phase_ = 0;
  ForwardTargets targets_;
  const BackendConfig* local_backend_ = nullptr;
  std::shared_ptr<Forwarder> forwarder_;
  std::shared_ptr<LocalForwarder> local_forwarder_;
  ForwardOutcome outcome_;
  std::shared_ptr<std::map<std::string, int>> output_detectors_;
  std::vector<std::string> captures_;         // sealed captures written, by file name
  std::vector<std::string> captures_failed_;  // the parts ("request", "response") whose capture failed
  std::string refusal_code_;                  // why the outcome gate refused the answer's end
  bool hold_pending_ = false;                 // the gate holds the answer's end; forwarded() waits for it
  bool settle_after_hold_ = false;
  bool keep_alive_ = true;
};

class ApiHandler : public RequestHandler {
 public:
  ApiHandler(GatewayServices& services, boost::asio::io_context& io) : services_(services), io_(io) {}
  void handle(HttpRequest& request, const ConnectionInfo& connection,
              ResponseSink& sink, Callback<void(bool)> complete) override;
  void record_rejection(const RejectedRequest& rejected, const ConnectionInfo& connection) override;

 private:
  void audit_rejection(const RejectedRequest& rejected);

  GatewayServices& services_;
  boost::asio::io_context& io_;
};

}  // namespace sovereign::gateway
