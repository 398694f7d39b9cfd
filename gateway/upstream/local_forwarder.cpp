#include "gateway/upstream/local_forwarder.hpp"

#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "accel/compute/scheduler.hpp"
#include "gateway/upstream/local_request.hpp"

namespace sovereign::gateway {
namespace http = boost::beast::http;
namespace json = boost::json;
namespace {

const char* finish_reason_name(accel::FinishReason reason) {
  return reason == accel::FinishReason::length ? "length" : "stop";
}

json::object usage_json(const accel::Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

// The request parameter an engine refusal is about: its sampling checks begin with the parameter's
// name ("top_p must be in (0, 1]"), a refusal of one message begins with its path, quoted
// ("'messages[1].role' is ..."), and its prompt checks speak of the prompt or the messages.
std::string refused_param(std::string_view problem, const std::string& prompt_param) {
  if (problem.starts_with("'messages[")) return std::string(problem.substr(1, problem.find('\'', 1) - 1));
  for (std::string_view name : {"temperature", "top_p", "top_k", "max_tokens"})
    if (problem.starts_with(name) && problem.substr(name.size()).starts_with(' ')) return std::string(name);
  if (problem.find("stop string") != std::string_view::npos) return "stop";
  if (problem.find("prompt") != std::string_view::npos || problem.find("messages") != std::string_view::npos)
    return prompt_param;
  return {};
}

}  // namespace

LocalForwarder::LocalForwarder(boost::asio::io_context& io, std::shared_ptr<accel::Engine> engine,
                               const BackendConfig& backend, const DecodedRequest& request, std::string request_id,
                               bool keep_response_body, bool digest_response, ResponseSink& sink,
                               std::unique_ptr<ResponseTransform> transform,
                               Callback<void(ForwardOutcome)> done)
    : io_(io),
      engine_(std::move(engine)),
      backend_(backend),
      request_(request),
      request_id_(std::move(request_id)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()),
      sink_(sink),
      transform_(std::move(transform)),
      done_(std::move(done)),
      keep_response_body_(keep_response_body),
      digest_response_(digest_response) {}

void LocalForwarder::start() {
  outcome_.backend = &backend_;
  auto built = generation_request(request_);
  if (auto* error = std::get_if<ApiError>(&built)) return respond_error(*error);
  std::weak_ptr<LocalForwarder> weak = shared_from_this();
  accel::GenerationEvents events;
  events.on_text = [weak, &io = io_](std::string_view text) {
    boost::asio::post(io, [weak, text = std::string(text)]() mutable {
      if (auto self = weak.lock()) self->on_text(std::move(text));
    });
  };
  events.on_finish = [weak, &io = io_](accel::FinishReason reason, accel::Usage usage) {
    boost::asio::post(io, [weak, reason, usage] {
      if (auto self = weak.lock()) self->on_finish(reason, usage);
    });
  };
  auto submitted = engine_->submit(std::move(std::get<accel::GenerationRequest>(built)), std::move(events));
  if (auto* why = std::get_if<std::string>(&submitted)) {
    const std::string prompt_param = request_.endpoint == Endpoint::completions ? "prompt" : "messages";
    if (why->starts_with(accel::kContextPrefix)) {
      return respond_error(api_errors::context_length_exceeded(
          "The built-in engine refused the request: " + why->substr(accel::kContextPrefix.size()) + "; shorten '" +
              prompt_param + "'",
          prompt_param));
    }
    if (why->starts_with(accel::kInvalidPrefix)) {
      const std::string problem = why->substr(accel::kInvalidPrefix.size());
      return respond_error(api_errors::invalid_request("The built-in engine refused the request: " + problem,
                                                       refused_param(problem, prompt_param)));
    }
    return respond_error(api_errors::no_backend_available(request_.model, *why));
  }
  handle_ = std::get<std::shared_ptr<accel::GenerationHandle>>(submitted);
  sink_.on_shutdown([weak] {
    if (auto self = weak.lock()) self->shut_down();
  });
  if (!request_.stream) return;
  ResponseHead header;
  header.result(http::status::ok);
  header.version(11);
  header.set(http::field::content_type, "text/event-stream");
  header.set(http::field::cache_control, "no-cache");
  header.set("X-Request-Id", request_id_);
  outcome_.streamed = true;
  sink_.start_stream(std::move(header), [self = shared_from_this()](bool client_ok) {
    if (!client_ok) return self->cancel();
    self->stream_open_ = true;
    // A chat stream opens with the assistant's role; a completions stream has no role, and OpenAI's
    // sends no chunk before the first text.
    if (self->request_.endpoint != Endpoint::completions)
      self->queue_.push_front(self->chunk_event(ChunkKind::first, "", nullptr));
    self->pump();
  });
}

void LocalForwarder::shut_down() {
  if (cancelled_ || finished_ || shutting_down_ || !handle_) return;
  shutting_down_ = true;
  handle_->cancel();  // on_finish then ends the answer with the error
}

void LocalForwarder::cancel() {
  if (cancelled_ || finished_) return;
  cancelled_ = true;
  if (handle_) handle_->cancel();
  else finish(499, "client_closed");
}

std::string LocalForwarder::chunk_event(ChunkKind kind, const std::string& text, const char* finish_reason) const {
  json::object choice{{"index", 0}};
  if (request_.endpoint == Endpoint::completions) {
    choice["text"] = text;
  } else if (kind == ChunkKind::first) {
    choice["delta"] = json::object{{"role", "assistant"}, {"content", ""}};
  } else if (kind == ChunkKind::text) {
    choice["delta"] = json::object{{"content", text}};
  } else {
    choice["delta"] = json::object{};
  }
  choice["finish_reason"] = finish_reason ? json::value(finish_reason) : json::value(nullptr);
  json::object event = event_head();
  event["choices"] = json::array{choice};
  return "data: " + json::serialize(event) + "\n\n";
}

// Asked for with stream_options.include_usage: a last chunk with no choices and the usage.
std::string LocalForwarder::usage_event(const accel::Usage& usage) const {
  json::object event = event_head();
  event["choices"] = json::array{};
  event["usage"] = usage_json(usage);
  return "data: " + json::serialize(event) + "\n\n";
}

// OpenAI's id prefixes: "cmpl-" for completions, "chatcmpl-" for chat, streamed or not.
std::string LocalForwarder::response_id() const {
  return (request_.endpoint == Endpoint::completions ? "cmpl-" : "chatcmpl-") + request_id_;
}

json::object LocalForwarder::event_head() const {
  return {{"id", response_id()},
          {"object", request_.endpoint == Endpoint::completions ? "text_completion" : "chat.completion.chunk"},
          {"created", created_},
          {"model", request_.model}};
}

std::string LocalForwarder::whole_body(const char* finish_reason, const accel::Usage& usage) const {
  json::object choice{{"index", 0}, {"finish_reason", finish_reason}};
  if (request_.endpoint == Endpoint::completions) choice["text"] = text_;
  else choice["message"] = json::object{{"role", "assistant"}, {"content", text_}};
  return json::serialize(json::object{
      {"id", response_id()},
      {"object", request_.endpoint == Endpoint::completions ? "text_completion" : "chat.completion"},
      {"created", created_},
      {"model", request_.model},
      {"choices", json::array{choice}},
      {"usage", usage_json(usage)}});
}

void LocalForwarder::on_text(std::string text) {
  if (finished_) return;
  ++text_events_;
  if (!request_.stream) {
    text_ += text;
    return;
  }
  if (text.empty()) return;  // no text: no chunk (an empty delta is no part of OpenAI's stream)
  auto event = chunk_event(ChunkKind::text, text, nullptr);
  queued_bytes_ += event.size();
  queue_.push_back(std::move(event));
  if (queued_bytes_ > max_buffered_bytes) {
    // The client stopped reading: stop generating for it rather than buffer without bound.
    if (handle_) handle_->cancel();
    return;
  }
  pump();
}

void LocalForwarder::on_finish(accel::FinishReason reason, accel::Usage usage) {
  if (finished_) return;
  // Set before any answer: a client that hangs up mid-answer is charged what was generated for it
  // (the engine counts it on cancel too), or hanging up early would dodge the tokens-per-minute budget.
  outcome_.usage = TokenUsage{static_cast<std::uint64_t>(usage.prompt_tokens) + usage.completion_tokens, true};
  if (reason == accel::FinishReason::cancelled && (cancelled_ || queued_bytes_ > max_buffered_bytes))
    return finish(499, "client_closed");
  if (reason == accel::FinishReason::cancelled && shutting_down_) {
    if (!request_.stream) return respond_error(api_errors::shutting_down());
    queue_.push_back("data: " + api_errors::shutting_down().to_json() + "\n\n");
    outcome_.error_code = "shutting_down";
    engine_done_ = true;
    return pump();
  }
  if (!request_.stream) {
    if (reason == accel::FinishReason::error) return respond_error(generation_error());
    HttpResponse response{http::status::ok, 11};
    response.set(http::field::content_type, "application/json");
    response.set("X-Request-Id", request_id_);
    std::string body = whole_body(finish_reason_name(reason), usage);
    response.body() = transform_ ? transform_->whole(std::move(body)) : std::move(body);
    // An answer whose check failed is withheld as a network backend's is (502), never sent as an
    // empty success.
    if (transform_ && transform_->failed()) {
      ApiError error = api_errors::upstream_error("the built-in engine's answer could not be checked (" +
                                                  transform_->failure() + "), so it was withheld");
      error.code = "response_check_failed";
      return respond_error(error);
    }
    response.prepare_payload();
    relay(response.body());
    return sink_.send(std::move(response), [self = shared_from_this()](bool ok) {
      self->finish(ok ? 200 : 499, ok ? "" : "client_closed");
    });
  }
  if (reason == accel::FinishReason::error) {
    const ApiError error = generation_error();
    queue_.push_back("data: " + error.to_json() + "\n\n");
    outcome_.error_code = error.code == "upstream_error" ? "engine_failed" : error.code;
  } else {
    queue_.push_back(chunk_event(ChunkKind::last, "", finish_reason_name(reason)));
    if (request_.include_usage) queue_.push_back(usage_event(usage));
    queue_.push_back("data: [DONE]\n\n");
  }
  engine_done_ = true;
  pump();
}

// What ended a generation with FinishReason::error: the model's numerical fault (NaN or infinite logits)
// by name, anything else as the engine failing.
ApiError LocalForwarder::generation_error() const {
  if (handle_ && handle_->failure().starts_with(accel::kNumericalFaultPrefix))
    return api_errors::model_numerical_fault(request_.model,
                                             handle_->failure().substr(accel::kNumericalFaultPrefix.size()));
  return api_errors::upstream_error("the built-in engine failed while generating");
}

void LocalForwarder::pump() {
  if (writing_ || !stream_open_ || finished_) return;
  if (queue_.empty()) {
    if (!engine_done_) return;
    std::string tail = transform_ ? transform_->finish() : std::string();
    writing_ = true;
    auto end_stream = [self = shared_from_this()](bool client_ok) {
      if (!client_ok) return self->finish(499, "client_closed");
      self->sink_.finish_stream([self](bool ok) { self->finish(ok ? 200 : 499, ok ? self->outcome_.error_code : "client_closed"); });
    };
    if (tail.empty()) return end_stream(true);
    relay(tail);
    return sink_.write_chunk(std::move(tail), std::move(end_stream));
  }
  std::string data;
  while (!queue_.empty()) {
    data += queue_.front();
    queue_.pop_front();
  }
  queued_bytes_ = 0;
  if (transform_) data = transform_->on_data(data);
  bool failed = transform_ && transform_->failed();
  if (failed) {
    if (handle_) handle_->cancel();
    engine_done_ = true;
    outcome_.error_code = "response_check_failed";
  }
  if (data.empty() && !failed) return engine_done_ ? pump() : void();
  writing_ = true;
  relay(data);
  sink_.write_chunk(std::move(data), [self = shared_from_this(), failed](bool client_ok) {
    self->writing_ = false;
    if (!client_ok) {
      self->cancel();
      return self->finish(499, "client_closed");
    }
    if (failed) {
      self->queue_.clear();
      return self->sink_.finish_stream([self](bool) { self->finish(200, "response_check_failed"); });
    }
    self->pump();
  });
}

void LocalForwarder::respond_error(const ApiError& error) {
  HttpResponse response{error.status, 11};
  response.set(http::field::content_type, "application/json");
  response.set("X-Request-Id", request_id_);
  if (error.status == http::status::service_unavailable) response.set(http::field::retry_after, "1");
  response.body() = error.to_json();
  response.prepare_payload();
  relay(response.body());
  unsigned status = response.result_int();
  sink_.send(std::move(response), [self = shared_from_this(), status, code = error.code](bool) { self->finish(status, code); });
}

void LocalForwarder::relay(std::string data) {
  outcome_.bytes_out += data.size();
  if (digest_response_) response_hash_.update(data);
  if (keep_response_body_) outcome_.response_body += data;
}

void LocalForwarder::finish(unsigned status, std::string error_code) {
  if (finished_) return;
  finished_ = true;
  if (handle_ && status != 200) handle_->cancel();
  outcome_.status = status;
  outcome_.error_code = std::move(error_code);
  // Ended before the engine's count arrived (the client closed during a write): the text generated
  // so far is charged as a network stream's chunks are, on top of the prompt's estimate.
  if (!outcome_.usage && handle_) outcome_.usage = TokenUsage{text_events_, false};
  if (digest_response_) outcome_.response_sha256 = crypto::to_hex(response_hash_.finish());
  if (done_) done_(std::move(outcome_));
}

}  // namespace sovereign::gateway
