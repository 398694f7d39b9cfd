#include "gateway/pipeline/outcome_gate.hpp"

#include <algorithm>
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
  // The stream's end is a line of its own; the same words inside an event (a model writing about
  // event streams) are text. What a backend sends after its end is no part of the answer whose
  // digest the outcome record holds: it is not relayed.
  // The space after the colon is optional in server-sent events.
  static constexpr std::string_view done_markers[] = {"\ndata: [DONE]", "\ndata:[DONE]"};
  if (held_) return done(true);
  if (keep_body_) body_ += data;
  // The marker may straddle two chunks: the end of the previous one is kept to look across.
  const std::size_t keep = done_markers[0].size() - 1;
  auto holds_marker = [](std::string_view text) {
    return std::any_of(std::begin(done_markers), std::end(done_markers),
                       [text](std::string_view marker) { return text.find(marker) != std::string_view::npos; });
  };
  const bool ends = holds_marker(data) || holds_marker(tail_ + data.substr(0, keep));
  if (data.size() >= keep) {
    tail_.assign(data, data.size() - keep, keep);
  } else {
    tail_ += data;
    if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
  }
  if (status_ >= 400 || !ends) {
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
