#include "gateway/pipeline/response_rewriter.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// The text field of one choice: delta.content while streaming chat, message.content for a whole
// chat answer, text for completions. nullptr when the choice carries no text.
json::value* text_of(json::object& choice, Endpoint endpoint, bool streaming) {
  if (endpoint == Endpoint::completions) return choice.if_contains("text");
  json::value* holder = choice.if_contains(streaming ? "delta" : "message");
  if (holder == nullptr || !holder->is_object()) return nullptr;
  return holder->get_object().if_contains("content");
}

std::size_t event_end(std::string_view buffer, std::size_t& separator) {
  auto lf = buffer.find("\n\n");
  auto crlf = buffer.find("\r\n\r\n");
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
    separator = 4;
    return crlf;
  }
  separator = 2;
  return lf;
}

}  // namespace

ResponseRewriter::ResponseRewriter(Endpoint endpoint, FilterChainFactory make_chain)
    : endpoint_(endpoint), make_chain_(std::move(make_chain)) {}

ResponseRewriter::Choice& ResponseRewriter::choice(std::int64_t index) {
  auto [it, inserted] = choices_.try_emplace(index);
  if (inserted) it->second.chain = make_chain_();
  return it->second;
}

std::string ResponseRewriter::run(Choice& c, std::string_view text) {
  std::string out(text);
  for (auto& filter : c.chain) {
    out = filter->feed(out);
    if (filter->failed()) failed_ = true;
  }
  return out;
}

// A non-streamed answer: each filter sees the choice's text once, as complete output.
std::string ResponseRewriter::run_whole(Choice& c, std::string_view text) {
  c.finished = true;
  std::string out(text);
  for (auto& filter : c.chain) {
    out = filter->complete(out);
    if (filter->failed()) failed_ = true;
  }
  return out;
}

std::string ResponseRewriter::close(Choice& c) {
  if (c.finished) return {};
  c.finished = true;
  std::string carry;
  for (auto& filter : c.chain) {
    carry = filter->feed(carry);
    carry += filter->finish();
    if (filter->failed()) failed_ = true;
  }
  return carry;
}

std::string ResponseRewriter::fail(const std::string& why) {
  failed_ = true;
  ApiError error{boost::beast::http::status::bad_gateway, "upstream_error", "response_check_failed",
                 "The response was stopped because it could not be checked: " + why + ".", {}};
  return "data: " + error.to_json() + "\n\n";
}

std::string ResponseRewriter::on_data(std::string_view chunk) {
  if (failed_) return {};
  pending_.append(chunk);
  std::string out;
  std::size_t separator = 0;
  for (auto end = event_end(pending_, separator); end != std::string::npos; end = event_end(pending_, separator)) {
    out += rewrite_event(std::string_view(pending_).substr(0, end));
    pending_.erase(0, end + separator);
    if (failed_) return out;
  }
  if (pending_.size() > max_event_bytes) return out + fail("a server-sent event is larger than 4 MiB");
  return out;
}

std::string ResponseRewriter::rewrite_event(std::string_view event) {
  std::string out;
  std::size_t start = 0;
  while (start <= event.size()) {
    auto newline = event.find('\n', start);
    std::string_view line = event.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = newline == std::string_view::npos ? event.size() + 1 : newline + 1;
    if (!line.starts_with("data:")) {
      out.append(line).append("\n");
      continue;
    }
    auto payload = line.substr(5);
    if (payload.starts_with(' ')) payload.remove_prefix(1);
    if (payload == "[DONE]") {
      out += flush_choices();
      out += "data: [DONE]\n";
      continue;
    }
    // Parsed into an arena that lives for this event; most events fit its inline part.
    unsigned char inline_arena[4096];
    json::monotonic_resource arena(inline_arena, sizeof inline_arena);
    boost::system::error_code ec;
    json::value value = json::parse(payload, ec, &arena);
    if (ec || !value.is_object()) return fail("a streamed event is not JSON");
    bool rewritten = false;
    if (auto* choices = value.get_object().if_contains("choices"); choices && choices->is_array()) {
      for (auto& item : choices->get_array()) {
        if (!item.is_object()) continue;
        auto& object = item.get_object();
        std::int64_t index = 0;
        if (auto* i = object.if_contains("index"); i && i->is_int64()) index = i->get_int64();
        auto& c = choice(index);
        std::string text;
        json::value* field = text_of(object, endpoint_, true);
        if (field && field->is_string()) text = run(c, field->get_string());
        auto* finish_reason = object.if_contains("finish_reason");
        if (finish_reason && !finish_reason->is_null()) text += close(c);
        if (field && field->is_string()) {
          if (text == field->get_string()) continue;
          *field = text;
          rewritten = true;
        } else if (!text.empty()) {
          // Held-back text released on a final event that carried none: give it a place.
          if (endpoint_ == Endpoint::completions) object["text"] = text;
          else if (auto* delta = object.if_contains("delta"); delta && delta->is_object()) delta->get_object()["content"] = text;
          rewritten = true;
        }
      }
    }
    if (failed_) return out + fail("the output scanner failed");
    // No filter changed the event: it goes out as the backend wrote it.
    if (rewritten) out.append("data: ").append(json::serialize(value)).append("\n");
    else out.append(line).append("\n");
  }
  return out + "\n";
}

std::string ResponseRewriter::flush_choices() {
  std::string out;
  for (auto& [index, c] : choices_) {
    std::string rest = close(c);
    if (rest.empty()) continue;
    json::object delta;
    json::object item{{"index", index}, {"finish_reason", nullptr}};
    if (endpoint_ == Endpoint::completions) item["text"] = rest;
    else item["delta"] = json::object{{"content", rest}};
    out += "data: " + json::serialize(json::object{{"choices", json::array{item}}}) + "\n\n";
  }
  return out;
}

std::string ResponseRewriter::finish() {
  if (failed_) return {};
  std::string out;
  if (!pending_.empty()) {
    out += rewrite_event(pending_);
    pending_.clear();
  }
  return out + flush_choices();
}

std::string ResponseRewriter::fail_whole(const std::string& why) {
  failed_ = true;
  failure_ = why;
  return {};
}

std::string ResponseRewriter::whole(std::string body) {
  // The answer is parsed into an arena that lives for this call; most answers fit the inline part.
  unsigned char inline_arena[8192];
  json::monotonic_resource arena(inline_arena, sizeof inline_arena);
  boost::system::error_code ec;
  json::value value = json::parse(body, ec, &arena);
  // An answer whose text cannot be found cannot be checked: fail closed (the forwarder answers 502).
  if (ec || !value.is_object()) return fail_whole("the backend's answer is not JSON");
  auto* choices = value.get_object().if_contains("choices");
  if (choices == nullptr || !choices->is_array()) return fail_whole("the backend's answer has no choices");
  bool rewritten = false;
  for (auto& item : choices->get_array()) {
    if (!item.is_object()) continue;
    std::int64_t index = 0;
    if (auto* i = item.get_object().if_contains("index"); i && i->is_int64()) index = i->get_int64();
    json::value* field = text_of(item.get_object(), endpoint_, false);
    if (field == nullptr || !field->is_string()) continue;
    std::string text = run_whole(choice(index), field->get_string());
    if (text == field->get_string()) continue;
    *field = text;
    rewritten = true;
  }
  if (failed_) return fail_whole("the output scanner failed");
  // Nothing changed: the backend's bytes go out as they came.
  return rewritten ? json::serialize(value) : body;
}

}  // namespace sovereign::gateway
