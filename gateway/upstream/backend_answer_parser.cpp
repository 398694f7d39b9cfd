#include "gateway/upstream/backend_answer_parser.hpp"

#include <algorithm>
#include <cstring>

#include <boost/beast/http/error.hpp>

namespace sovereign::gateway {
namespace http = boost::beast::http;

void BackendAnswerParser::take_whole() {
  mode_ = BodyMode::whole;
  // Once the head is read (the forwarder chooses then, with the body limit set: a Content-Length
  // above it was refused), the body's room is taken at once.
  if (!is_header_done()) return;
  if (const auto length = content_length()) body_.reserve(static_cast<std::size_t>(*length));
}

void BackendAnswerParser::take_into(char* data, std::size_t size) {
  mode_ = BodyMode::buffer;
  into_ = data;
  room_ = size;
  taken_ = 0;
}

void BackendAnswerParser::on_response_impl(int code, boost::beast::string_view, int, boost::beast::error_code&) {
  status_ = static_cast<unsigned>(code);
}

void BackendAnswerParser::on_field_impl(http::field name, boost::beast::string_view, boost::beast::string_view value,
                                        boost::beast::error_code&) {
  // The first of each, as fields[name] reads it; the head's size is bounded by header_limit.
  const auto keep_first = [value](bool& seen, auto& kept) {
    if (seen) return;
    seen = true;
    kept.assign(value.begin(), value.end());
  };
  switch (name) {
    case http::field::content_type: return keep_first(seen_content_type_, content_type_);
    case http::field::content_encoding: return keep_first(seen_content_encoding_, content_encoding_);
    case http::field::retry_after: return keep_first(seen_retry_after_, retry_after_);
    case http::field::transfer_encoding:
      if (!transfer_codings_.empty()) transfer_codings_ += ", ";
      transfer_codings_.append(value.data(), value.size());
      return;
    default: return;
  }
}

std::size_t BackendAnswerParser::on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) {
  switch (mode_) {
    case BodyMode::whole:
      body_.append(body.data(), body.size());
      return body.size();
    case BodyMode::buffer: {
      const std::size_t n = std::min(room_, body.size());
      if (n > 0) std::memcpy(into_, body.data(), n);
      into_ += n;
      room_ -= n;
      taken_ += n;
      if (n < body.size()) ec = http::error::need_buffer;
      return n;
    }
    case BodyMode::none: break;
  }
  // Read past the head before the forwarder chose how to take the body: never asked for.
  ec = http::error::unexpected_body;
  return 0;
}

}  // namespace sovereign::gateway
