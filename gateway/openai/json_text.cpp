#include "gateway/openai/json_text.hpp"

namespace sovereign::gateway {

ReadableJsonText readable_json_text(std::string_view json_text) { return {policy::unescape_json_text(json_text)}; }

std::pair<std::size_t, std::size_t> ReadableJsonText::original_range(std::size_t begin, std::size_t end) const {
  return {source[begin], policy::written_end(*this, end)};
}

}  // namespace sovereign::gateway
