#include "gateway/pipeline/outcome_gate.hpp"

#include <algorithm>
#include <memory>

namespace sovereign::gateway {

namespace http = boost::beast::http;

OutcomeGate::Ending OutcomeGate::ending() {
  held_ = true;
  return {status_, bytes_, crypto::to_hex(hash_.finish())};
}

void OutcomeGate::send(HttpResponse response, Completion done) {
  status_ = response.result_int();
  bytes_ += response.body().size();
  hash_.update(response.body());
  if (status_ >= 400) return client_.send(std::move(response), std::move(done));  // failures are recorded afterwards
  auto held = std::make_shared<HttpResponse>(std::move(response));
  hold_(ending(), [this, held, done = std::move(done)](std::optional<std::string> refusal) mutable {
    if (refusal) {
      refused_ = true;
      HttpResponse error{http::status::service_unavailable, 11};
      error.set(http::field::content_type, "application/json");
      error.set("X-Request-Id", (*held)["X-Request-Id"]);
      error.body() = std::move(*refusal);
      error.prepare_payload();
      return client_.send(std::move(error), std::move(done));
    }
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
  if (held_ && status_ < 400) return done(true);
  bytes_ += data.size();
  hash_.update(data);
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
  if (status_ >= 400 || !ends) return client_.write_chunk(std::move(data), std::move(done));
  auto held = std::make_shared<std::string>(std::move(data));
  hold_(ending(), [this, held, done = std::move(done)](std::optional<std::string> refusal) mutable {
    if (refusal) {
      // The answer so far stays, its end does not: an error event takes the place of [DONE].
      refused_ = true;
      return client_.write_chunk("data: " + *refusal + "\n\n", std::move(done));
    }
    client_.write_chunk(std::move(*held), std::move(done));
  });
}

}  // namespace sovereign::gateway
