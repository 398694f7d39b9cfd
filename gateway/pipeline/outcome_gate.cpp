#include "gateway/pipeline/outcome_gate.hpp"

#include <memory>

namespace sovereign::gateway {

namespace http = boost::beast::http;

OutcomeGate::Ending OutcomeGate::ending(std::string_view held_data, bool whole) {
  held_ = true;
  Ending out;
  out.status = status_;
  out.whole = whole;
  out.bytes = sent_bytes_ + held_data.size();
  out.sha256 = crypto::to_hex(sent_hash_.finish_with(held_data));
  if (keep_body_) out.body = std::move(body_);  // nothing is relayed after the ending
  return out;
}

void OutcomeGate::sent(std::string_view data) {
  sent_bytes_ += data.size();
  sent_hash_.update(data);
}

const std::string& OutcomeGate::sha256_sent() {
  if (!sent_sha256_) sent_sha256_ = crypto::to_hex(sent_hash_.finish());
  return *sent_sha256_;
}

void OutcomeGate::send(HttpResponse response, Completion done) {
  status_ = response.result_int();
  if (status_ >= 400 && !keep_body_) {  // failures are recorded afterwards
    sent(response.body());
    return client_.send(std::move(response), std::move(done));
  }
  if (keep_body_) body_ = response.body();
  auto held = std::make_shared<HttpResponse>(std::move(response));
  hold_(ending(held->body(), status_ < 400), [this, held, done = std::move(done)](std::optional<std::string> refusal) mutable {
    if (refusal) {
      refused_ = true;
      HttpResponse error{http::status::service_unavailable, 11};
      error.set(http::field::content_type, "application/json");
      error.set("X-Request-Id", (*held)["X-Request-Id"]);
      error.body() = std::move(*refusal);
      error.prepare_payload();
      sent(error.body());
      return client_.send(std::move(error), std::move(done));
    }
    sent(held->body());
    client_.send(std::move(*held), std::move(done));
  });
}

void OutcomeGate::start_stream(ResponseHead header, Completion done) {
  status_ = header.result_int();
  client_.start_stream(std::move(header), std::move(done));
}

void OutcomeGate::write_chunk(std::string data, Completion done) {
  // What a backend sends after its end is no part of the answer whose digest the outcome record
  // holds: it is not relayed.
  if (held_) return done(true);
  // The stream's end is found as the forwarder finds it (one StreamEnd, one definition of the end
  // line); the chunk that completes the end line and its event is the ending. An end line whose
  // line ending comes in a later chunk (the backend's body ended after it) is no ending yet: that
  // later chunk, with the blank line that ends the event, is.
  if (status_ < 400) end_.cut(data);
  if (keep_body_) body_ += data;
  if (!end_.ended()) {
    sent(data);
    return client_.write_chunk(std::move(data), std::move(done));
  }
  auto held = std::make_shared<std::string>(std::move(data));
  hold_(ending(*held, true), [this, held, done = std::move(done)](std::optional<std::string> refusal) mutable {
    if (refusal) {
      // The answer so far stays, its end does not: an error event takes the place of [DONE].
      refused_ = true;
      std::string event = "data: " + *refusal + "\n\n";
      sent(event);
      return client_.write_chunk(std::move(event), std::move(done));
    }
    sent(*held);
    client_.write_chunk(std::move(*held), std::move(done));
  });
}

// A stream that ends without `data: [DONE]` (it broke, or the backend ends it so), or an error
// stream: with a capture to write, its end waits for it too.
void OutcomeGate::finish_stream(Completion done) {
  if (!keep_body_ || held_) return client_.finish_stream(std::move(done));
  hold_(ending({}, false), [this, done = std::move(done)](std::optional<std::string> refusal) mutable {
    if (!refusal) return client_.finish_stream(std::move(done));
    refused_ = true;
    std::string event = "data: " + *refusal + "\n\n";
    sent(event);
    client_.write_chunk(std::move(event), [this, done = std::move(done)](bool client_ok) mutable {
      if (!client_ok) return done(false);
      client_.finish_stream(std::move(done));
    });
  });
}

}  // namespace sovereign::gateway
