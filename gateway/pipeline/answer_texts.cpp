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
  finish_reason,  // a streamed choice's: whether the choice ends with the event
  envelope,       // a streamed event's envelope member: which, in Open::slot
};

// A JSON container the parser has opened. Left uninitialised until opened.
struct Open {
  Role role;                // what the container is
  Role member;              // objects: what the member being read is
  bool object;
  std::uint8_t slot;        // objects: which message text or envelope member that member is, when it is one
  std::uint32_t named;      // objects: the AnswerMember names they have, one bit each
  std::uint32_t first_key;  // objects: where their other keys start in Reader::other_keys_
};
static_assert(static_cast<std::size_t>(AnswerMember::created) < 32, "each name has a bit of Open::named");

// A text as found: its unescaped bytes, and whether they are the answer's own (AnswerText::in_place).
struct Found {
  std::string_view text;
  bool in_place = false;
};

// The place of `name` in envelope_members, or -1.
constexpr int envelope_slot(AnswerMember name) {
  using M = AnswerMember;
  switch (name) {
    case M::id: return 0;
    case M::object: return 1;
    case M::created: return 2;
    case M::model: return 3;
    case M::system_fingerprint: return 4;
    case M::service_tier: return 5;
    default: return -1;
  }
}
static_assert([] {
  for (std::size_t i = 0; i < envelope_members.size(); ++i)
    if (envelope_slot(answer_member(envelope_members[i])) != static_cast<int>(i)) return false;
  return true;
}());

// The handler of boost::json::basic_parser: follows the answer's (or streamed event's) structure
// value by value and collects its texts as the rewriter's reading of the parsed answer or event finds
// them (texts_of and the scan of other strings in response_rewriter.cpp). Whatever that reading would
// refuse, or read in a shape this pass does not follow, stops the parse: the caller then leaves the
// answer to it.
class Reader : public OnePassHandler {
 public:
  // The texts are collected into `out` (empty).
  Reader(std::string_view answer, Endpoint endpoint, bool withhold_logprobs, bool streaming, AnswerTexts& out)
      : answer_(answer), endpoint_(endpoint), withhold_logprobs_(withhold_logprobs), streaming_(streaming), texts_(out) {}

  // After a whole parse without error: whether `out` holds the texts, the other strings' first (the
  // answer has its list of choices; an event may have none).
  std::optional<bool> finish() {
    if (!choices_read_ && !streaming_) return std::nullopt;
    const auto others = static_cast<std::uint32_t>(texts_.texts.size());
    for (auto& text : choice_texts_) texts_.texts.push_back(std::move(text));
    for (auto& choice : texts_.choices) {
      choice.first_text += others;
      choice.end_text += others;
    }
    return true;
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
    // The parser gives a string without escapes in one piece, as the answer's bytes between its
    // quotes; one with escapes in its own buffer, or in parts (joined, then kept elsewhere).
    const Found found{text, text.data() == last.data()};
    switch (role) {
      case Role::other:
        // The scan of other strings skips empty ones; a choice's text is read empty or not.
        if (!text.empty()) texts_.texts.push_back({text, {}, 0, found.in_place});
        return true;
      case Role::message_text: message_texts_[open_[depth_ - 1].slot] = found; return true;
      case Role::tool_call_arguments: tool_call_arguments_ = found; return true;
      case Role::function_call_arguments: function_call_arguments_ = found; return true;
      case Role::completion_text: completion_text_ = found; return true;
      // Some servers write "" where OpenAI writes null: that ends nothing.
      case Role::finish_reason: finishes_ = !text.empty(); return true;
      case Role::envelope: {
        // A string `created` is scanned as the event's other strings are: left to the parsed reading.
        if (open_[depth_ - 1].slot == envelope_slot(AnswerMember::created)) return give_up(ec);
        EnvelopeValue& value = envelope_value(json::kind::string);
        value.string = text;
        return true;
      }
      default: return give_up(ec);
    }
  }

  bool on_int64(std::int64_t number, json::string_view, boost::system::error_code& ec) {
    switch (next_role()) {
      case Role::choice_index: choice_index_ = number; return true;
      case Role::tool_call_index: tool_call_index_ = number; return true;
      case Role::envelope: envelope_value(json::kind::int64).int64 = number; return true;
      default: return not_text(ec);
    }
  }
  bool on_uint64(std::uint64_t number, json::string_view, boost::system::error_code& ec) {
    if (next_role() != Role::envelope) return not_text(ec);
    envelope_value(json::kind::uint64).uint64 = number;
    return true;
  }
  bool on_double(double number, json::string_view, boost::system::error_code& ec) {
    if (next_role() != Role::envelope) return not_text(ec);
    envelope_value(json::kind::double_).real = number;
    return true;
  }
  bool on_bool(bool value, boost::system::error_code& ec) {
    if (next_role() != Role::envelope) return not_text(ec);
    envelope_value(json::kind::bool_).boolean = value;
    return true;
  }

  bool on_null(boost::system::error_code& ec) {
    switch (next_role()) {
      // A streamed choice's or tool call's index must be an integer: the parsed reading refuses null.
      case Role::choice_index:
      case Role::tool_call_index:
        return !streaming_ || give_up(ec);
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

  // The role of the member `name` of `object`; which message text or envelope member it is is
  // noted in `object`.
  Role member_role(Open& object, AnswerMember name) const {
    using M = AnswerMember;
    // Wherever they stand, as the rewriter withholds them (server fields included).
    if (withhold_logprobs_ && carries_tokens(name)) return Role::withheld;
    switch (object.role) {
      case Role::server: return Role::server;
      case Role::answer:
        if (name == M::choices) return Role::choices;
        if (const int slot = envelope_slot(name); streaming_ && slot >= 0) {
          object.slot = static_cast<std::uint8_t>(slot);
          return Role::envelope;
        }
        break;
      case Role::choice:
        if (name == M::index) return Role::choice_index;
        if (streaming_ && name == M::finish_reason) return Role::finish_reason;
        if (endpoint_ == Endpoint::completions) {
          if (name == M::text) return Role::completion_text;
        } else if (name == (streaming_ ? M::delta : M::message)) {
          return Role::message;  // the texts' holder
        } else if (name == (streaming_ ? M::message : M::delta) || name == M::text) {
          return Role::not_read;
        }
        break;
      case Role::message:
        for (std::size_t i = 0; i < message_text_members.size(); ++i)
          if (name == message_text_member(i)) {
            object.slot = static_cast<std::uint8_t>(i);
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

  // A streamed event's envelope member being read, as a value of `kind`.
  EnvelopeValue& envelope_value(json::kind kind) {
    EnvelopeValue& value = texts_.envelope.emplace_back();
    value.member = open_[depth_ - 1].slot;
    value.kind = kind;
    return value;
  }

  void start_choice() {
    choice_index_ = 0;
    choice_first_text_ = static_cast<std::uint32_t>(choice_texts_.size());
    finishes_ = false;
    message_texts_ = {};
    tool_calls_.clear();
    function_call_arguments_.reset();
    completion_text_.reset();
  }

  // The choice's texts, in the order texts_of finds them.
  void end_choice() {
    const auto add = [this](const Found& found, std::string field) {
      choice_texts_.push_back({found.text, std::move(field), choice_index_, found.in_place});
    };
    if (endpoint_ == Endpoint::completions) {
      if (completion_text_) add(*completion_text_, std::string(completion_text));
    } else {
      for (std::size_t i = 0; i < message_text_members.size(); ++i)
        if (message_texts_[i]) add(*message_texts_[i], std::string(message_text_members[i]));
      for (const auto& [index, arguments] : tool_calls_) add(arguments, tool_call_arguments(index));
      if (function_call_arguments_) add(*function_call_arguments_, std::string(function_call_arguments));
    }
    if (streaming_)
      texts_.choices.push_back(
          {choice_index_, choice_first_text_, static_cast<std::uint32_t>(choice_texts_.size()), finishes_});
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
  bool streaming_;  // a streamed event: texts in each choice's delta
  std::array<Open, max_json_depth + 1> open_;
  std::size_t depth_ = 0;
  // The keys of every open object that are no AnswerMember, each object's after its parent's.
  boost::container::small_vector<std::string_view, 16> other_keys_;
  std::string parts_;   // a key or string the parser gave in parts
  AnswerTexts& texts_;  // the other strings, as they come; the choices' texts join them at the end
  boost::container::small_vector<AnswerText, 2> choice_texts_;
  bool choices_read_ = false;
  // The choice being read.
  std::int64_t choice_index_ = 0;
  std::uint32_t choice_first_text_ = 0;  // where its texts start in choice_texts_
  bool finishes_ = false;                // a streamed choice's finish_reason names a reason
  std::array<std::optional<Found>, message_text_members.size()> message_texts_;
  boost::container::small_vector<std::pair<std::int64_t, Found>, 2> tool_calls_;  // index, arguments
  std::optional<Found> function_call_arguments_;
  std::optional<Found> completion_text_;
  // The tool call being read, and how many of the message's came before it.
  std::size_t tool_calls_read_ = 0;
  std::int64_t tool_call_index_ = 0;
  std::optional<Found> tool_call_arguments_;
};

}  // namespace

std::optional<AnswerTexts> read_answer_texts(std::string_view answer, Endpoint endpoint, bool withhold_logprobs) {
  std::optional<AnswerTexts> texts(std::in_place);
  if (!read_in_one_pass<Reader>(answer, answer_parse_options, answer, endpoint, withhold_logprobs, false, *texts))
    texts.reset();
  return texts;
}

bool read_event_texts(std::string_view event, Endpoint endpoint, bool withhold_logprobs, AnswerTexts& out) {
  return read_in_one_pass<Reader>(event, answer_parse_options, event, endpoint, withhold_logprobs, true, out).has_value();
}

}  // namespace sovereign::gateway
