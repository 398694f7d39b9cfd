#include "gateway/openai/sse_data.hpp"

namespace sovereign::gateway {

std::optional<std::string_view> sse_data_value(std::string_view line) {
  if (line == "data") return std::string_view();
  if (!line.starts_with("data:")) return std::nullopt;
  line.remove_prefix(5);
  if (line.starts_with(' ')) line.remove_prefix(1);
  return line;
}

bool SseEventData::add_line(std::string_view line) {
  const std::optional<std::string_view> value = sse_data_value(line);
  if (!value) return false;
  if (lines_++ > 0) text_ += '\n';
  text_.append(*value);
  return true;
}

void SseEventData::clear() {
  text_.clear();
  lines_ = 0;
}

}  // namespace sovereign::gateway
