#include "gateway/pipeline/answer_texts.hpp"

#include <array>
#include <functional>
#include <utility>

#include <boost/json.hpp>

#include "gateway/openai/json_one_pass.hpp"
#include "gateway/pipeline/answer_fields.hpp"

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// The rewriter parses an answer with Boost.JSON's default options; this pass uses them too, so that
// the parser stops (too deep, not UTF-8...) wherever the rewriter's stops.
const json::parse_options answer_parse_options{};
constexpr std::size_t max_json_depth = json::parse_options{}.max_depth;
// Keys the rewriter does not know by name are compared with those of the same object one by one: an
// object with more of them than this is left to the rewriter's reading of the parsed answer, which
// keeps the comparisons linear.
constexpr std::size_t max_other_keys_per_object = 64;

// What a value is to the texts' reading, known from where it sits before it is read.
enum class Role : std::uint8_t {
  other,      // none of the below: each of its strings is scanned on its own
  server,     // a server field (server_field) or a value inside one: none of its strings is scanned
  answer,     // the answer itself
  choices,
  choice,
  choice_index,
  not_read,   // a chat choice's `delta` or `text`, where the other mode keeps its text
  withheld,   // log probabilities the rewriter replaces by null (carries_tokens)
  message,    // a chat choice's
  message_text,  // one of message_text_members: which, in Open::text
  tool_calls,
  tool_call,
  tool_call_index,
  function,   // a tool call's
  tool_call_arguments,
  function_call,
  function_call_arguments,
  completion_text,
};

// A JSON container the parser has opened. Left uninitialised until opened.
struct Open {
  Role role;                // what the container is
  Role member;              // objects: what the member being read is
  bool object;
  std::uint8_t text;        // objects: which message text that member is, when it is one
  std::uint32_t named;      // objects: the AnswerMember names they have, one bit each
  std::uint32_t first_key;  // objects: where their other keys start in Reader::other_keys_
};
static_assert(static_cast<std::size_t>(AnswerMember::arguments) < 32, "each name has a bit of Open::named");

// The handler of boost::json::basic_parser: follows the answer's structure event by event and
// collects its texts as the rewriter's reading of the parsed answer finds them (texts_of and the scan
// of other strings in response_rewriter.cpp). Whatever that reading would refuse, or read in a shape
// this pass does not follow, stops the parse: the caller then leaves the answer to it.
class Reader : public OnePassHandler {
 public:
  Reader(std::string_view answer, Endpoint endpoint, bool withhold_logprobs)
      : answer_(answer), endpoint_(endpoint), withhold_logprobs_(withhold_logprobs) {}

  // After a whole parse without error: the texts, the other strings' first, when the answer has its
  // list of choices.
  std::optional<AnswerTexts> finish() {
    if (!choices_read_) return std::nullopt;
    for (auto& text : choice_texts_) texts_.texts.push_back(std::move(text));
    return std::move(texts_);
  }

  bool on_object_begin(boost::system::error_code& ec) {
    const Role role = next_role();
    switch (role) {
      case Role::answer:
      case Role::other:
      case Role::server:
      case Role::message:
      case Role::function:
      case Role::function_call:
        break;
      case Role::choice: start_choice(); break;
      case Role::tool_call: start_tool_call(); break;
      default: return give_up(ec);  // a text, an index or the list of choices as an object...
    }
    return open(role, true, ec);
  }

  bool on_object_end(std::size_t, boost::system::error_code&) {
    const Open& closed = open_[--depth_];
    other_keys_.resize(closed.first_key);
    if (closed.role == Role::tool_call) end_tool_call();
    else if (closed.role == Role::choice) end_choice();
    return true;
  }

  bool on_array_begin(boost::system::error_code& ec) {
    const Role role = next_role();
    switch (role) {
      case Role::other:
      case Role::server:
        break;
      case Role::choices: choices_read_ = true; break;
      case Role::tool_calls: tool_calls_read_ = 0; break;
      default: return give_up(ec);  // the answer as a list, a text as parts...
    }
    return open(role, false, ec);
  }

  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }

  bool on_key_part(json::string_view part, std::size_t, boost::system::error_code&) {
    parts_.append(part.data(), part.size());
    return true;
  }

  // A repeated key gives up: the rewriter refuses it. Keys are compared unescaped, as the parsed
  // object compares them ("r\u006fle" is "role").
  bool on_key(json::string_view last, std::size_t, boost::system::error_code& ec) {
    const std::string_view key = assembled(last);
    const AnswerMember name = answer_member(key);
    Open& object = open_[depth_ - 1];
    if (name != AnswerMember::other) {
      const std::uint32_t bit = 1U << static_cast<unsigned>(name);
      if ((object.named & bit) != 0) return give_up(ec);
      object.named |= bit;
    } else if (!add_other_key(object, key)) {
      return give_up(ec);
    }
    parts_.clear();
    object.member = member_role(object, name);
    return true;
  }

  bool on_string_part(json::string_view part, std::size_t, boost::system::error_code&) {
    parts_.append(part.data(), part.size());
    return true;
  }

  bool on_string(json::string_view last, std::size_t, boost::system::error_code& ec) {
    const Role role = next_role();
    if (role == Role::server) {
      parts_.clear();
      return true;
    }
    const std::string_view text = lasting(assembled(last));
    parts_.clear();
    switch (role) {
      case Role::other:
        // The scan of other strings skips empty ones; a choice's text is read empty or not.
        if (!text.empty()) texts_.texts.push_back({text, {}, 0});
        return true;
      case Role::message_text: message_texts_[open_[depth_ - 1].text] = text; return true;
      case Role::tool_call_arguments: tool_call_arguments_ = text; return true;
      case Role::function_call_arguments: function_call_arguments_ = text; return true;
      case Role::completion_text: completion_text_ = text; return true;
      default: return give_up(ec);
    }
  }

  bool on_int64(std::int64_t number, json::string_view, boost::system::error_code& ec) {
    switch (next_role()) {
      case Role::choice_index: choice_index_ = number; return true;
      case Role::tool_call_index: tool_call_index_ = number; return true;
      default: return not_text(ec);
    }
  }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code& ec) { return not_text(ec); }
  bool on_double(double, json::string_view, boost::system::error_code& ec) { return not_text(ec); }
  bool on_bool(bool, boost::system::error_code& ec) { return not_text(ec); }

  bool on_null(boost::system::error_code& ec) {
    switch (next_role()) {
      // The answer itself, its choices, a choice or a tool call as null: the rewriter refuses or
      // skips them; anything else null holds no text.
      case Role::answer:
      case Role::choices:
      case Role::choice:
      case Role::tool_call:
        return give_up(ec);
      default: return true;
    }
  }

 private:
  // A number or boolean: nothing to read where no text, index or container is expected.
  bool not_text(boost::system::error_code& ec) const {
    const Role role = next_role();
    return role == Role::other || role == Role::server || give_up(ec);
  }

  // A key of `object` that is no AnswerMember, unless the object named it before (or has too many to
  // compare). Out of line: the keys the rewriter knows by name, most of an answer's, need none of it.
  [[gnu::noinline]] bool add_other_key(const Open& object, std::string_view key) {
    for (std::size_t i = object.first_key; i < other_keys_.size(); ++i)
      if (other_keys_[i] == key) return false;
    if (other_keys_.size() - object.first_key == max_other_keys_per_object) return false;
    other_keys_.push_back(lasting(key));
    return true;
  }

  // The role of the value about to be read, from the container it sits in.
  Role next_role() const {
    if (depth_ == 0) return Role::answer;
    const Open& parent = open_[depth_ - 1];
    if (parent.object) return parent.member;
    switch (parent.role) {
      case Role::choices: return Role::choice;
      case Role::tool_calls: return Role::tool_call;
      case Role::server: return Role::server;
      default: return Role::other;
    }
  }

  // The role of the member `name` of `object`; a message text's index is noted in `object`.
  Role member_role(Open& object, AnswerMember name) const {
    using M = AnswerMember;
    // Wherever they stand, as the rewriter withholds them (server fields included).
    if (withhold_logprobs_ && carries_tokens(name)) return Role::withheld;
    switch (object.role) {
      case Role::server: return Role::server;
      case Role::answer:
        if (name == M::choices) return Role::choices;
        break;
      case Role::choice:
        if (name == M::index) return Role::choice_index;
        if (endpoint_ == Endpoint::completions) {
          if (name == M::text) return Role::completion_text;
        } else if (name == M::message) {
          return Role::message;
        } else if (name == M::delta || name == M::text) {
          return Role::not_read;
        }
        break;
      case Role::message:
        for (std::size_t i = 0; i < message_text_members.size(); ++i)
          if (name == message_text_member(i)) {
            object.text = static_cast<std::uint8_t>(i);
            return Role::message_text;
          }
        if (name == M::tool_calls) return Role::tool_calls;
        if (name == M::function_call) return Role::function_call;
        break;
      case Role::tool_call:
        if (name == M::index) return Role::tool_call_index;
        if (name == M::function) return Role::function;
        break;
      case Role::function:
        if (name == M::arguments) return Role::tool_call_arguments;
        break;
      case Role::function_call:
        if (name == M::arguments) return Role::function_call_arguments;
        break;
      default: break;
    }
    return server_field(name) ? Role::server : Role::other;
  }

  bool open(Role role, bool object, boost::system::error_code& ec) {
    if (depth_ == open_.size()) return give_up(ec);  // beyond the parse's own depth limit: never reached
    open_[depth_++] = {role, Role::other, object, 0, 0, static_cast<std::uint32_t>(other_keys_.size())};
    return true;
  }

  // A key or string whole: its last part joined to those before it, if any (the parser gives a key
  // or string in parts at escapes). Valid until parts_ is cleared.
  std::string_view assembled(json::string_view last) {
    if (parts_.empty()) return {last.data(), last.size()};
    return joined(last);
  }
  [[gnu::noinline]] std::string_view joined(json::string_view last) {
    parts_.append(last.data(), last.size());
    return parts_;
  }

  // `text` in storage that lasts as long as the result: the answer's bytes where it lies in them
  // (it had no escapes), else a copy in texts_.unescaped.
  std::string_view lasting(std::string_view text) {
    const std::less<const char*> before;
    if (!before(text.data(), answer_.data()) && !before(answer_.data() + answer_.size(), text.data() + text.size()))
      return text;
    return kept(text);
  }
  [[gnu::noinline]] std::string_view kept(std::string_view text) { return texts_.unescaped.emplace_front(text); }

  void start_choice() {
    choice_index_ = 0;
    message_texts_ = {};
    tool_calls_.clear();
    function_call_arguments_.reset();
    completion_text_.reset();
  }

  // The choice's texts, in the order texts_of finds them.
  void end_choice() {
    const auto add = [this](std::string_view text, std::string field) {
      choice_texts_.push_back({text, std::move(field), choice_index_});
    };
    if (endpoint_ == Endpoint::completions) {
      if (completion_text_) add(*completion_text_, std::string(completion_text));
      return;
    }
    for (std::size_t i = 0; i < message_text_members.size(); ++i)
      if (message_texts_[i]) add(*message_texts_[i], std::string(message_text_members[i]));
    for (const auto& [index, arguments] : tool_calls_) add(arguments, tool_call_arguments(index));
    if (function_call_arguments_) add(*function_call_arguments_, std::string(function_call_arguments));
  }

  // A tool call is keyed by its integer index, or else by its place in the list.
  void start_tool_call() {
    tool_call_index_ = static_cast<std::int64_t>(tool_calls_read_++);
    tool_call_arguments_.reset();
  }

  void end_tool_call() {
    if (tool_call_arguments_) tool_calls_.emplace_back(tool_call_index_, *tool_call_arguments_);
  }

  std::string_view answer_;
  Endpoint endpoint_;
  bool withhold_logprobs_;
  std::array<Open, max_json_depth + 1> open_;
  std::size_t depth_ = 0;
  // The keys of every open object that are no AnswerMember, each object's after its parent's.
  boost::container::small_vector<std::string_view, 16> other_keys_;
  std::string parts_;   // a key or string the parser gave in parts
  AnswerTexts texts_;   // the other strings, as they come; the choices' texts join them at the end
  boost::container::small_vector<AnswerText, 2> choice_texts_;
  bool choices_read_ = false;
  // The choice being read.
  std::int64_t choice_index_ = 0;
  std::array<std::optional<std::string_view>, message_text_members.size()> message_texts_;
  boost::container::small_vector<std::pair<std::int64_t, std::string_view>, 2> tool_calls_;  // index, arguments
  std::optional<std::string_view> function_call_arguments_;
  std::optional<std::string_view> completion_text_;
  // The tool call being read, and how many of the message's came before it.
  std::size_t tool_calls_read_ = 0;
  std::int64_t tool_call_index_ = 0;
  std::optional<std::string_view> tool_call_arguments_;
};

}  // namespace

std::optional<AnswerTexts> read_answer_texts(std::string_view answer, Endpoint endpoint, bool withhold_logprobs) {
  return read_in_one_pass<Reader>(answer, answer_parse_options, answer, endpoint, withhold_logprobs);
}

}  // namespace sovereign::gateway
