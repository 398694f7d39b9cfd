#pragma once
// A backend's answer as the forwarder reads it: Beast's HTTP/1.1 response parser, keeping of the
// head only the fields the forwarder acts on, and taking the body in the way chosen once the head
// is read (whole, or piece by piece into a buffer it is given). Beast's own parser keeps every field
// of the head in a tree of allocated nodes and is a new object (its fields moved) for each way of
// reading the body; a backend's answer has half a dozen fields of which the forwarder reads four.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/container/small_vector.hpp>

namespace sovereign::gateway {

class BackendAnswerParser final : public boost::beast::http::basic_parser<false> {
 public:
  BackendAnswerParser() = default;

  unsigned status() const { return status_; }  // the number as the backend sent it, known to Beast or not
  // The first Content-Type, Content-Encoding and Retry-After fields' values (what Beast's
  // fields[name] gives), empty where the answer has none.
  std::string_view content_type() const { return {content_type_.data(), content_type_.size()}; }
  std::string_view content_encoding() const { return content_encoding_; }
  std::string_view retry_after() const { return retry_after_; }
  // Every Transfer-Encoding field, joined as one value ("gzip, chunked"); empty without one.
  std::string_view transfer_codings() const { return transfer_codings_; }

  // The body is appended to one string, handed over by take_body() once the answer is done.
  void take_whole();
  std::string take_body() { return std::move(body_); }

  // The body is put into [data, data + size); a read that fills it stops with error::need_buffer.
  // taken() says how much of it the reads since this call filled.
  void take_into(char* data, std::size_t size);
  std::size_t taken() const { return taken_; }

 private:
  enum class BodyMode { none, whole, buffer };

  void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int code, boost::beast::string_view, int, boost::beast::error_code&) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view, boost::beast::string_view value,
                     boost::beast::error_code&) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::beast::error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  unsigned status_ = 0;
  // Held inside the parser up to its usual length ("application/json; charset=utf-8").
  boost::container::small_vector<char, 48> content_type_;
  std::string content_encoding_;
  std::string retry_after_;
  std::string transfer_codings_;
  bool seen_content_type_ = false;
  bool seen_content_encoding_ = false;
  bool seen_retry_after_ = false;

  BodyMode mode_ = BodyMode::none;
  std::string body_;
  char* into_ = nullptr;
  std::size_t room_ = 0;
  std::size_t taken_ = 0;
};

}  // namespace sovereign::gateway
