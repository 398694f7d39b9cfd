#include "gateway/openai/json_members.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// Builds the value as boost::json::parse does (the value_stack calls of its own handler), and adds
// up the members of every object as written, duplicates included: the built object keeps only the
// last of a repeated key, so the two counts differ exactly where a key is repeated.
struct CountingBuilder {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();
  json::value_stack st;
  std::size_t members = 0;

  CountingBuilder(json::storage_ptr storage, unsigned char* buffer, std::size_t size)
      : st(std::move(storage), buffer, size) {}
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t n, boost::system::error_code&) {
    members += n;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::system::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, boost::system::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, boost::system::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};

std::size_t parsed_members(const json::value& value) {
  std::size_t members = 0;
  if (const auto* array = value.if_array()) {
    for (const auto& item : *array) members += parsed_members(item);
  } else if (const auto* object = value.if_object()) {
    members += object->size();
    for (const auto& [key, item] : *object) members += parsed_members(item);
  }
  return members;
}

// The path of every value as the parser meets it, and the keys of each open object: the first key
// an object names twice is kept with its path.
struct KeyRepeats {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  struct Open {
    bool object = false;
    std::size_t index = 0;             // arrays: the element being read
    std::string key{};                 // objects: the member being read
    std::vector<std::string> keys{};   // objects: the keys named so far
  };
  std::vector<Open> open;
  std::string key_part;
  std::string found;

  std::string path() const {
    std::string out;
    for (const auto& level : open) {
      if (level.object) out += (out.empty() ? "" : ".") + level.key;
      else out += "[" + std::to_string(level.index) + "]";
    }
    return out;
  }
  bool value_done() {
    if (!open.empty() && !open.back().object) ++open.back().index;
    return true;
  }
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) {
    open.push_back({false});
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    open.pop_back();
    return value_done();
  }
  bool on_object_begin(boost::system::error_code&) {
    open.push_back({true});
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    open.pop_back();
    return value_done();
  }
  bool on_string_part(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, boost::system::error_code&) { return value_done(); }
  bool on_key_part(json::string_view part, std::size_t, boost::system::error_code&) {
    key_part.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, boost::system::error_code&) {
    key_part.append(part.data(), part.size());
    auto& object = open.back();
    object.key = std::move(key_part);
    key_part.clear();
    if (found.empty() && std::find(object.keys.begin(), object.keys.end(), object.key) != object.keys.end())
      found = path();
    object.keys.push_back(object.key);
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, boost::system::error_code&) { return value_done(); }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code&) { return value_done(); }
  bool on_double(double, json::string_view, boost::system::error_code&) { return value_done(); }
  bool on_bool(bool, boost::system::error_code&) { return value_done(); }
  bool on_null(boost::system::error_code&) { return value_done(); }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};

}  // namespace

std::string repeated_key_path(std::string_view written, const json::parse_options& options) {
  json::basic_parser<KeyRepeats> parser(options);
  boost::system::error_code ec;
  parser.write_some(false, written.data(), written.size(), ec);
  return std::move(parser.handler().found);
}

json::value parse_counting_members(std::string_view text, boost::system::error_code& ec, json::storage_ptr storage,
                                   const json::parse_options& options, std::size_t& written_members) {
  written_members = 0;
  // As boost::json::parse: the parser's working stack starts in a buffer of its own frame.
  unsigned char buffer[BOOST_JSON_STACK_BUFFER_SIZE];
  json::basic_parser<CountingBuilder> parser(options, json::storage_ptr(), buffer, sizeof buffer);
  parser.handler().st.reset(std::move(storage));
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) return nullptr;
  written_members = parser.handler().members;
  return parser.handler().st.release();
}

bool repeats_a_key(std::size_t written_members, const json::value& parsed) {
  return written_members != parsed_members(parsed);
}

}  // namespace sovereign::gateway
