#pragma once
// What the gateway's one-pass readers of JSON share (the request's, gateway/openai/request_summary.cpp,
// and the answer's, gateway/pipeline/answer_texts.cpp): the plumbing of a boost::json::basic_parser
// handler, and the run of one whole text through it. Each reader follows its text's structure and
// gives up on whatever it cannot vouch for, leaving that text to the built route (a parsed document),
// whose answer, an error included, is then the one that counts.
#include <optional>
#include <string_view>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/system/error_code.hpp>

namespace sovereign::gateway {

// The members of a handler that every one-pass reader has alike.
class OnePassHandler {
 public:
  // As the value builder the built route parses with (json_members.cpp): the parser stops at the
  // same sizes.
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 protected:
  // Stops the parse: the text is left to the built route.
  static bool give_up(boost::system::error_code& ec) {
    ec = boost::system::errc::make_error_code(boost::system::errc::operation_canceled);
    return false;
  }
};

// Parses the whole of `text` with a `Handler` made from `args`: its finish() where the parse took
// all of it without error or giving up, else nullopt (not JSON, text after it, or given up).
template <class Handler, class... Args>
auto read_in_one_pass(std::string_view text, const boost::json::parse_options& options, Args&&... args)
    -> decltype(std::declval<Handler&>().finish()) {
  boost::json::basic_parser<Handler> parser(options, std::forward<Args>(args)...);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used < text.size()) return std::nullopt;
  return parser.handler().finish();
}

}  // namespace sovereign::gateway
