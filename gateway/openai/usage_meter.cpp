#include "gateway/openai/usage_meter.hpp"

#include <boost/json.hpp>

namespace sovereign::gateway {
namespace {

namespace json = boost::json;

std::optional<std::uint64_t> count_of(const json::object& usage, std::string_view key) {
  const json::value* value = usage.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_uint64()) return value->as_uint64();
  if (value->is_int64() && value->as_int64() >= 0) return static_cast<std::uint64_t>(value->as_int64());
  return std::nullopt;
}

// usage.total_tokens, or prompt_tokens + completion_tokens when a server leaves the total out.
std::optional<std::uint64_t> usage_total(const json::object& answer) {
  const json::value* usage = answer.if_contains("usage");
  if (usage == nullptr || !usage->is_object()) return std::nullopt;
  if (auto total = count_of(usage->as_object(), "total_tokens")) return total;
  auto prompt = count_of(usage->as_object(), "prompt_tokens");
  auto completion = count_of(usage->as_object(), "completion_tokens");
  if (!prompt && !completion) return std::nullopt;
  return prompt.value_or(0) + completion.value_or(0);
}

bool non_empty_string(const json::value* value) {
  return value != nullptr && value->is_string() && !value->as_string().empty();
}

// A streamed chunk that carries generated text: a chat delta's content or a completion's text.
bool carries_text(const json::object& chunk) {
  const json::value* choices = chunk.if_contains("choices");
  if (choices == nullptr || !choices->is_array()) return false;
  for (const json::value& choice : choices->as_array()) {
    if (!choice.is_object()) continue;
    const json::object& c = choice.as_object();
    if (non_empty_string(c.if_contains("text"))) return true;
    const json::value* delta = c.if_contains("delta");
    if (delta != nullptr && delta->is_object() && non_empty_string(delta->as_object().if_contains("content"))) return true;
  }
  return false;
}

}  // namespace

void UsageMeter::read_object(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return;  // not an answer the meter can read: the estimate stands
  if (auto total = usage_total(value.as_object())) reported_ = total;
  else if (stream_ && carries_text(value.as_object())) ++text_chunks_;
}

void UsageMeter::feed(std::string_view raw) {
  if (!stream_) return read_object(raw);
  // Lines as a client reads them: ended by LF, CRLF or a lone CR.
  const std::string normalized = line_ends_.normalize(raw);
  std::string_view bytes = normalized;
  while (!bytes.empty()) {
    const std::size_t end = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, end);
    line_has_bytes_ = line_has_bytes_ || !piece.empty();
    if (!skipping_event_) {
      if (event_.size() + line_.size() + piece.size() > max_event_bytes) {
        skipping_event_ = true;
        line_.clear();
        event_.clear();
      } else {
        line_.append(piece);
      }
    }
    if (end == std::string_view::npos) return;
    bytes.remove_prefix(end + 1);
    if (!line_has_bytes_) end_event();  // a blank line ends the event
    else if (!skipping_event_) event_.add_line(line_);
    line_.clear();
    line_has_bytes_ = false;
  }
}

void UsageMeter::end_event() {
  if (!skipping_event_ && event_.has_data() && event_.text() != "[DONE]") read_object(event_.text());
  event_.clear();
  skipping_event_ = false;
}

void UsageMeter::finish() {
  if (!stream_) return;
  feed(line_ends_.finish());
  if (line_has_bytes_ && !skipping_event_) event_.add_line(line_);
  line_.clear();
  line_has_bytes_ = false;
  end_event();
}

std::optional<TokenUsage> UsageMeter::result() const {
  if (reported_) return TokenUsage{*reported_, true};
  if (text_chunks_ > 0) return TokenUsage{text_chunks_, false};
  return std::nullopt;
}

}  // namespace sovereign::gateway
