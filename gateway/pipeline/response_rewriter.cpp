#include "gateway/pipeline/response_rewriter.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <iterator>

#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>

#include "gateway/log/json_line.hpp"
#include "gateway/openai/json_members.hpp"
#include "gateway/openai/sse_data.hpp"
#include "gateway/pipeline/answer_fields.hpp"

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// A piece of text one choice carries, with the name of its stream (one filter chain each).
struct ChoiceText {
  std::string field;      // "content", "reasoning_content", "refusal", "tool_calls.K.arguments", "text"
  json::value* value;     // the string in the event or answer
};

// What a text field holds that is not text (null is no text): the gateway cannot check it.
const char* kind_of(const json::value& value) {
  switch (value.kind()) {
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
    case json::kind::bool_: return "a boolean";
    case json::kind::string: return "a string";
    case json::kind::null: return "null";
    case json::kind::double_: return "a decimal number";
    case json::kind::uint64: return "a number out of range";
    default: return "a number";
  }
}

// The members of an object that texts_of reads, found in one pass over its members instead of a
// lookup each: a parsed object holds each key once (the last of a repeated one), so each is what a
// lookup by name would find.
template <std::size_t N>
std::array<json::value*, N> members_named(json::object& object, const std::array<std::string_view, N>& names) {
  std::array<json::value*, N> found{};
  for (auto& member : object) {
    const std::string_view key = member.key();
    for (std::size_t i = 0; i < N; ++i)
      if (key == names[i]) {
        found[i] = &member.value();
        break;
      }
  }
  return found;
}

// Every text of one choice that a model writes: for chat, the message's (or, streaming, the
// delta's) content, reasoning_content (or reasoning, as some servers name it) and refusal, each tool
// call's function arguments (keyed by the call's index, which deltas carry) and the arguments of the
// deprecated function_call (the request schema still takes `functions`); for completions, text.
// One of them holding something other than a string or null (content as an array of parts,
// arguments as an object), or a member that holds them in another shape than OpenAI's (tool_calls
// as an object, a function as a string), cannot be checked: `unreadable` names it, and the answer is
// refused, since a client may still read the text there.
template <class Texts>
void texts_of(json::object& choice, Endpoint endpoint, bool streaming, std::string& unreadable, Texts& out) {
  // `where` names the member for the refusal: built only then (every answer and every event passes
  // here, the response rewriter's scan of other strings included).
  auto take = [&](json::value* text, std::string_view field, auto where) {
    if (text == nullptr || text->is_null()) return;
    if (text->is_string()) out.push_back({std::string(field), text});
    else if (unreadable.empty()) unreadable = where() + " is " + kind_of(*text) + ", not text";
  };
  // Whether a member holding texts is there in its shape (absent or null: no texts).
  auto shaped = [&](json::value* member, json::kind kind, auto where) {
    if (member == nullptr || member->is_null()) return false;
    if (member->kind() == kind) return true;
    if (unreadable.empty())
      unreadable = where() + " is " + kind_of(*member) + ", not " + (kind == json::kind::array ? "a list" : "an object");
    return false;
  };
  if (endpoint == Endpoint::completions) {
    take(choice.if_contains(completion_text), completion_text, [] { return std::string(completion_text); });
    return;
  }
  const std::string_view holder_name = streaming ? "delta" : "message";
  const auto within = [holder_name](std::string_view rest) { return std::string(holder_name).append(rest); };
  // The choice's "message" (or "delta"), the other of the two, and "text".
  const auto [holder, other_holder, text_member] =
      members_named(choice, std::array<std::string_view, 3>{holder_name, streaming ? "message" : "delta", completion_text});
  // Where a chat choice keeps its text in the other mode (a streamed event's whole `message`, as some
  // servers send, or a completion's `text`) it is not read, and a client may read it there.
  for (const auto& [elsewhere, member] : {std::pair<const char*, const json::value*>{streaming ? "message" : "delta", other_holder},
                                          std::pair<const char*, const json::value*>{"text", text_member}}) {
    const bool empty = member == nullptr || member->is_null() || (member->is_string() && member->get_string().empty()) ||
                       (member->is_object() && member->get_object().empty());
    if (!empty && unreadable.empty())
      unreadable = std::string(elsewhere) + " is there in a " + (streaming ? "streamed" : "whole") +
                   " chat answer, whose text is read from " + std::string(holder_name);
  }
  if (!shaped(holder, json::kind::object, [&] { return std::string(holder_name); })) return;
  auto& message = holder->get_object();
  // The message's texts, then the members that hold texts of their own.
  static constexpr std::array<std::string_view, 6> message_members = {message_text_members[0], message_text_members[1],
                                                                      message_text_members[2], message_text_members[3],
                                                                      "tool_calls", "function_call"};
  const std::array<json::value*, 6> in_message = members_named(message, message_members);
  for (std::size_t i = 0; i < message_text_members.size(); ++i)
    take(in_message[i], message_members[i], [&] { return within(".").append(message_members[i]); });
  if (auto* calls = in_message[4]; shaped(calls, json::kind::array, [&] { return within(".tool_calls"); })) {
    auto& list = calls->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto where = [&] { return within(".tool_calls[" + std::to_string(i) + "]"); };
      if (!shaped(&list[i], json::kind::object, where)) continue;
      auto& call = list[i].get_object();
      std::int64_t index = static_cast<std::int64_t>(i);
      if (auto* k = call.if_contains("index"); k && k->is_int64()) index = k->get_int64();
      else if (k && streaming && unreadable.empty())
        unreadable = where() + ".index is " + kind_of(*k) + ", not an integer";
      auto* function = call.if_contains("function");
      if (shaped(function, json::kind::object, [&] { return where() + ".function"; }))
        take(function->get_object().if_contains("arguments"), tool_call_arguments(index),
             [&] { return where() + ".function.arguments"; });
    }
  }
  if (auto* call = in_message[5]; shaped(call, json::kind::object, [&] { return within(".function_call"); }))
    take(call->get_object().if_contains("arguments"), function_call_arguments,
         [&] { return within(".function_call.arguments"); });
}

std::vector<ChoiceText> texts_of(json::object& choice, Endpoint endpoint, bool streaming, std::string& unreadable) {
  std::vector<ChoiceText> out;
  texts_of(choice, endpoint, streaming, unreadable, out);
  return out;
}

// Calls `found` with every string of `node` (an answer, an event, an error) that is not empty, not
// in `skip` and not inside a server field, in the order they are written (an object keeps its
// members in that order): the strings scanned on their own.
template <class Found>
void for_each_other_string(json::value& node, std::span<const json::value* const> skip, Found&& found) {
  const auto visit = [&](auto& self, json::value& node) -> void {
    if (auto* array = node.if_array()) {
      for (auto& item : *array) self(self, item);
    } else if (auto* object = node.if_object()) {
      for (auto& [key, item] : *object)
        if (!server_field(key)) self(self, item);
    } else if (node.is_string() && !node.get_string().empty() &&
               std::find(skip.begin(), skip.end(), &node) == skip.end()) {
      found(node.get_string());
    }
  };
  visit(visit, node);
}

// The texts of a parsed answer or event as the filters read them (AnswerTexts), with the string each
// is, and its choices (objects, until one that is not).
struct ParsedTexts {
  AnswerTexts read;
  boost::container::small_vector<json::string*, 4> places;
  boost::container::small_vector<json::object*, 1> choices;

  void add(json::string& place, std::string field, std::int64_t choice) {
    read.texts.push_back({place, std::move(field), choice});
    places.push_back(&place);
  }
};

// The texts of `answer`, a whole answer with a list of choices or (`streaming`) an event, whose
// choices may be absent: every other string, then each choice's texts (texts_of). Each choice's
// texts are found once: the scan of other strings skips them. A choice that is no object, or whose
// texts cannot be read, ends the texts with its refusal.
void find_answer_texts(json::value& answer, Endpoint endpoint, bool streaming, ParsedTexts& out) {
  json::array none;
  json::value* choices = answer.get_object().if_contains("choices");
  json::array& list = choices != nullptr && choices->is_array() ? choices->get_array() : none;
  struct ChoiceTexts {
    boost::container::small_vector<ChoiceText, 2> texts;
    std::string unreadable;
  };
  boost::container::small_vector<ChoiceTexts, 1> found(list.size());
  boost::container::small_vector<const json::value*, 4> skip;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) continue;  // refused below
    texts_of(list[i].get_object(), endpoint, streaming, found[i].unreadable, found[i].texts);
    for (const auto& text : found[i].texts) skip.push_back(text.value);
  }
  for_each_other_string(answer, skip, [&out](json::string& text) { out.add(text, {}, 0); });
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto& item = list[i];
    if (!item.is_object()) {
      out.read.refusal = std::string("a choice is ") + kind_of(item) + ", not an object";
      return;
    }
    std::int64_t index = 0;
    if (auto* k = item.get_object().if_contains("index"); k && k->is_int64()) index = k->get_int64();
    if (!found[i].unreadable.empty()) {
      out.read.refusal = "choice " + std::to_string(index) + "'s " + found[i].unreadable;
      return;
    }
    out.choices.push_back(&item.get_object());
    for (auto& [field, text] : found[i].texts) out.add(text->get_string(), std::move(field), index);
  }
}

// A whole answer parsed into `storage`; `refusal` says why it cannot be checked (not JSON, a
// repeated key, no list of choices), and is left empty where it can.
json::value parse_answer(std::string_view body, json::storage_ptr storage, std::string& refusal) {
  boost::system::error_code ec;
  std::size_t written_members = 0;
  json::value value = parse_counting_members(body, ec, std::move(storage), {}, written_members);
  // An answer whose text cannot be found cannot be checked: fail closed (the forwarder answers 502).
  if (ec || !value.is_object()) {
    refusal = "the backend's answer is not JSON";
  } else if (repeats_a_key(written_members, value)) {
    // What was checked is what goes out, byte for byte when nothing changed: a repeated key could
    // carry past the check what a client that reads the first of two keys would read.
    refusal = "the backend's answer repeats a key inside an object";
  } else if (auto* choices = value.get_object().if_contains("choices"); choices == nullptr || !choices->is_array()) {
    refusal = "the backend's answer has no choices";
  }
  return value;
}

// Whether two readings of one answer found the same texts, in the same order, for the same streams.
bool same_texts(const AnswerTexts& one, const AnswerTexts& other) {
  return one.refusal == other.refusal &&
         std::equal(one.texts.begin(), one.texts.end(), other.texts.begin(), other.texts.end(),
                    [](const AnswerText& a, const AnswerText& b) {
                      return a.text == b.text && a.field == b.field && a.choice == b.choice;
                    });
}

// Arguments are JSON text inside the JSON string; every other text is prose.
TextForm form_of(const std::string& field) {
  return field.starts_with("tool_calls.") || field == function_call_arguments ? TextForm::json : TextForm::prose;
}

// Puts text released at the end of a stream where its field belongs, in a delta (chat) or choice
// (completions) that did not carry that field.
void place_released(json::object& choice, Endpoint endpoint, const std::string& field, const std::string& text) {
  if (endpoint == Endpoint::completions) {
    choice["text"] = text;
    return;
  }
  json::value& delta = choice["delta"];
  if (!delta.is_object()) delta = json::object{};
  auto& message = delta.get_object();
  if (field == function_call_arguments) {
    json::value& call = message["function_call"];
    if (!call.is_object()) call = json::object{};
    call.get_object()["arguments"] = text;
    return;
  }
  if (!field.starts_with("tool_calls.")) {
    message[field] = text;
    return;
  }
  const std::int64_t index = std::stoll(field.substr(11, field.find('.', 11) - 11));
  json::value& calls = message["tool_calls"];
  if (!calls.is_array()) calls = json::array{};
  calls.get_array().push_back(json::object{{"index", index}, {"function", json::object{{"arguments", text}}}});
}

// Whether a streamed choice ends with this event: its finish_reason names a reason. Some servers
// (Ollama, SGLang) write "" in every event where OpenAI writes null; that ends nothing.
bool finishes(const json::object& choice) {
  const json::value* reason = choice.if_contains("finish_reason");
  return reason != nullptr && !reason->is_null() && !(reason->is_string() && reason->get_string().empty());
}

// How many bytes at the end of text begin a UTF-8 character that they do not complete (0 to 3):
// what a backend that cuts its output between the bytes of a character leaves for its next event.
std::size_t cut_character_tail(std::string_view text) {
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, text.size()); ++back) {
    const auto byte = static_cast<unsigned char>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: its lead is further back
    const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

// A streamed event, parsed; its strings may hold bytes that are not UTF-8 only where the strict
// parse refused them for that alone (a character cut between two events), which the caller then
// joins and checks.
// `written_members` counts its members as written, for repeats_a_key.
json::value parse_event(std::string_view payload, json::storage_ptr storage, boost::system::error_code& ec,
                        bool& well_formed, std::size_t& written_members) {
  well_formed = true;
  json::parse_options options;
  json::value value = parse_counting_members(payload, ec, storage, options, written_members);
  if (!ec || is_well_formed_utf8(payload)) return value;
  well_formed = false;
  ec = {};
  options.allow_invalid_utf8 = true;
  return parse_counting_members(payload, ec, storage, options, written_members);
}


// `payload` with each changed text (`changes`: its place in read.texts, what it became) written as a
// JSON string where it stood, into `out`; the rest of the bytes as they came. False where a changed
// text is not the payload's own bytes between its quotes (it had escapes): the event is then parsed.
bool written_in_place(std::string_view payload, const AnswerTexts& read,
                      std::span<const std::pair<std::size_t, std::string>> changes, std::string& out) {
  boost::container::small_vector<std::size_t, 4> order;  // changes, by where their text stands
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const AnswerText& text = read.texts[changes[i].first];
    const char* begin = text.text.data();
    // Its quotes are checked too: a guard, should a parser ever give a view that is not the string's whole.
    if (!text.in_place || begin <= payload.data() || begin + text.text.size() >= payload.data() + payload.size() ||
        begin[-1] != '"' || begin[text.text.size()] != '"')
      return false;
    order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::less<const char*>()(read.texts[changes[a].first].text.data(), read.texts[changes[b].first].text.data());
  });
  const char* from = payload.data();
  for (const std::size_t i : order) {
    const std::string_view was = read.texts[changes[i].first].text;
    out.append(from, was.data() - 1);
    out += json::serialize(json::string_view(changes[i].second));
    from = was.data() + was.size() + 1;
  }
  out.append(from, payload.data() + payload.size());
  return true;
}

// Calls `visit` with each line of an event (lines end with LF; the event's last has none).
template <class Visit>
void for_each_line(std::string_view event, Visit&& visit) {
  for (std::size_t start = 0; start <= event.size();) {
    const std::size_t newline = event.find('\n', start);
    const std::size_t end = newline == std::string_view::npos ? event.size() : newline;
    visit(event.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

ResponseRewriter::ResponseRewriter(Endpoint endpoint, bool withhold_logprobs, FilterChainFactory make_chain,
                                   AnswerReading reading)
    : endpoint_(endpoint),
      withhold_logprobs_(withhold_logprobs),
      make_chain_(std::move(make_chain)),
      reading_(reading) {}

bool ResponseRewriter::withhold_logprobs(json::value& answer) const {
  if (!withhold_logprobs_) return false;
  bool changed = false;
  // Wherever a server puts them: in each choice as OpenAI does, beside the choices as llama.cpp does.
  const auto visit = [&](auto& self, json::value& node) -> void {
    if (auto* array = node.if_array()) {
      for (auto& item : *array) self(self, item);
    } else if (auto* object = node.if_object()) {
      for (auto& [key, item] : *object) {
        if (!carries_tokens(key)) {
          self(self, item);
        } else if (!item.is_null()) {
          item = nullptr;
          changed = true;
        }
      }
    }
  };
  visit(visit, answer);
  return changed;
}

ResponseRewriter::Stream* ResponseRewriter::stream(std::int64_t choice, const std::string& field) {
  auto found = streams_.find({choice, field});
  if (found != streams_.end()) return &found->second;
  if (streams_.size() >= max_texts) return nullptr;
  auto& added = streams_[{choice, field}];
  added.chain = make_chain_(form_of(field));
  return &added;
}

std::string ResponseRewriter::too_many_texts() const {
  return "the answer has more than " + std::to_string(max_texts) + " texts (choices times their fields)";
}

std::string ResponseRewriter::run(Stream& c, std::string_view text) {
  // A character cut between two events is joined before any filter sees it.
  std::string out = std::exchange(c.cut_character, {});
  out.append(text);
  const std::size_t cut = cut_character_tail(out);
  c.cut_character.assign(out, out.size() - cut, cut);
  out.resize(out.size() - cut);
  // Text that is not UTF-8 beyond that ends the stream before any filter sees it: held back by one
  // and released in a later event, it would go out unchecked.
  if (!is_well_formed_utf8(out)) {
    failed_ = true;
    not_utf8_ = true;
    return {};
  }
  for (auto& filter : c.chain) {
    out = filter->feed(out);
    if (filter->failed()) failed_ = true;
  }
  return out;
}

// A non-streamed answer: each filter sees the choice's text once, as complete output.
// Nothing when the text goes out as it came (most answers): then it is not copied.
std::optional<std::string> ResponseRewriter::run_whole(Stream& c, std::string_view text) {
  c.finished = true;
  std::optional<std::string> out;
  for (auto& filter : c.chain) {
    std::optional<std::string> changed = filter->complete_changed(out ? std::string_view(*out) : text);
    if (filter->failed()) failed_ = true;
    if (changed) out = std::move(changed);
  }
  if (out && *out == text) return std::nullopt;
  return out;
}

std::optional<std::string> ResponseRewriter::run_once(std::string_view text) {
  Stream once;
  once.chain = make_chain_(TextForm::prose);
  return run_whole(once, text);
}

std::string ResponseRewriter::close(Stream& c) {
  if (c.finished) return {};
  c.finished = true;
  // A character the stream never completed is no text: it goes out as a replacement character.
  std::string carry = well_formed_utf8(std::exchange(c.cut_character, {}));
  for (auto& filter : c.chain) {
    carry = filter->feed(carry);
    carry += filter->finish();
    if (filter->failed()) failed_ = true;
  }
  return carry;
}

// The strings of an answer or event that are not its choices' texts (a server's own members, such
// as llama.cpp's completion_probabilities or a tool call's function name, and members no schema
// names): each is scanned whole, on its own, by a chain of its own, and changed in place where a
// filter changes it. Streamed, such a string is not joined with the same member of other events.
bool ResponseRewriter::scan_other_strings(json::value& answer) {
  std::vector<const json::value*> texts;
  if (auto* choices = answer.get_object().if_contains("choices"); choices && choices->is_array())
    for (auto& item : choices->get_array()) {
      if (!item.is_object()) continue;  // refused by the caller
      std::string unreadable;
      for (const auto& text : texts_of(item.get_object(), endpoint_, !whole_answer_, unreadable)) texts.push_back(text.value);
    }
  return scan_strings(answer, texts);
}

bool ResponseRewriter::scan_strings(json::value& node, std::span<const json::value* const> skip) {
  bool changed = false;
  for_each_other_string(node, skip, [&](json::string& text) {
    std::optional<std::string> filtered = run_once(text);
    if (!filtered) return;
    text = *filtered;
    changed = true;
  });
  return changed;
}

std::string ResponseRewriter::fail(const std::string& why) {
  failed_ = true;
  ApiError error{boost::beast::http::status::bad_gateway, "upstream_error", "response_check_failed",
                 "The response was stopped because it could not be checked: " + why + ".", {}};
  return "data: " + error.to_json() + "\n\n";
}

std::string ResponseRewriter::on_data(std::string_view chunk) {
  if (failed_ || ended_) return {};
  // Every line end as LF (the stream's own CRLF or CR included), so that the events and lines read
  // here are the ones a client reads.
  return read_events(line_ends_.normalize(chunk));
}

std::string ResponseRewriter::read_events(std::string normalized) {
  // Bytes after the end line's event are no part of the answer: StreamEnd drops them, and ends that
  // event with a blank line where the backend has not (yet) written one.
  end_.cut(normalized);
  return take_events(normalized);
}

std::string ResponseRewriter::take_events(std::string_view cut) {
  pending_.append(cut);
  std::string out;
  // The events taken are cut off once, after the loop: cut one at a time, the bytes after each were
  // moved forward again for every event the chunk held.
  std::size_t taken = 0;
  for (auto end = pending_.find("\n\n"); end != std::string::npos; end = pending_.find("\n\n", taken)) {
    // Once the end line has come, the bytes stop at the end of its event: the last one here.
    const bool ends = end_.ended() && end + 2 == pending_.size();
    rewrite_event(std::string_view(pending_).substr(taken, end - taken), ends, out);
    taken = end + 2;
    if (failed_ || ended_) {
      pending_.clear();
      return out;
    }
  }
  pending_.erase(0, taken);
  if (pending_.size() > max_event_bytes) return out + fail("a server-sent event is larger than 4 MiB");
  return out;
}

void ResponseRewriter::rewrite_event(std::string_view event, bool ends, std::string& out) {
  // The event's data is what a client parses: the values of all its data lines joined with LF (a
  // server may write one JSON value over several lines). Only data reaches the client: `event:`,
  // `id:` and `retry:` lines, which the filters do not read, are dropped, and a comment (a
  // keep-alive) goes out as a bare ":", without its text.
  std::string comments;
  std::string_view payload;
  std::string joined;  // the data of an event with more than one data line
  std::size_t data_lines = 0;
  for_each_line(event, [&](std::string_view line) {
    if (line.starts_with(':')) comments.append(":\n");
    const std::optional<std::string_view> value = sse_data_value(line);
    if (!value) return;
    if (++data_lines == 1) {
      payload = *value;
      return;
    }
    if (data_lines == 2) joined.assign(payload);
    joined.append(1, '\n').append(*value);
  });
  if (data_lines > 1) payload = joined;
  // The end line's event ends the stream whatever other data lines it has (they precede the end
  // line, and what a client makes of them joined to it is no answer): as a relayed stream ends.
  if (ends) {
    out += comments;
    out += end_stream();
    return;
  }
  if (data_lines == 0) {
    if (!comments.empty()) out.append(comments).append("\n");
    return;
  }
  const std::optional<std::string> rewritten = rewrite_data(payload, data_lines == 1);
  if (failed_ || ended_) {
    out.append(comments).append(rewritten.value_or(std::string()));
    return;
  }
  if (rewritten) {
    out.append(comments).append("data: ").append(*rewritten).append("\n");
  } else {
    // No filter changed the event: it goes out as the backend wrote it, data line by data line.
    for_each_line(event, [&](std::string_view line) {
      if (line.starts_with(':')) out.append(":\n");
      else if (sse_data_value(line)) out.append(line).append("\n");
    });
  }
  out.append("\n");
}

std::string ResponseRewriter::end_stream() {
  ended_ = true;
  return flush_choices() + "data: [DONE]\n\n";
}

// The data of one event, checked: nothing when it goes out as it came, else what goes out instead
// (its JSON rewritten; or, once the stream failed, the error event that replaces it).
std::optional<std::string> ResponseRewriter::rewrite_data(std::string_view payload, bool one_line) {
  if (reading_ == AnswerReading::one_pass_first)
    if (AnswerTexts read; read_event_texts(payload, endpoint_, withhold_logprobs_, read))
      return rewrite_read_event(payload, read, one_line);
  ++event_routes_.parsed;
  return rewrite_parsed_event(payload);
}

// An event the one pass read (an ordinary event, with texts and choices where the parsed reading
// finds them), taken as rewrite_parsed_event takes it: the strings that are no choice's text, then
// choice by choice its texts and, where it finishes, what its streams held back.
std::optional<std::string> ResponseRewriter::rewrite_read_event(std::string_view payload, const AnswerTexts& read,
                                                                bool one_line) {
  TextChanges changes;
  // Text released at a choice's end for a field the event does not carry: placed in the parsed event.
  struct Placed {
    std::size_t choice;  // in read.choices
    std::string field, text;
  };
  boost::container::small_vector<Placed, 1> placed;
  const std::size_t others = read.choices.empty() ? read.texts.size() : read.choices.front().first_text;
  for (std::size_t i = 0; i < others; ++i)
    if (std::optional<std::string> filtered = run_once(read.texts[i].text)) changes.emplace_back(i, std::move(*filtered));
  // The envelope members are server fields or numbers, which no filter changes.
  remember_envelope(read);
  for (std::size_t c = 0; c < read.choices.size(); ++c) {
    const EventChoice& choice = read.choices[c];
    for (std::size_t i = choice.first_text; i < choice.end_text; ++i) {
      const AnswerText& text = read.texts[i];
      Stream* filters = stream(choice.index, text.field);
      if (filters == nullptr) return fail(too_many_texts());
      if (filters->finished && !text.text.empty())
        return fail("choice " + std::to_string(choice.index) + "'s " + text.field + " goes on after its finish_reason");
      std::string filtered = run(*filters, text.text);
      if (filtered != text.text) changes.emplace_back(i, std::move(filtered));
    }
    if (!choice.finishes) continue;
    // Every stream of the choice releases what it held back, appended to the field this event carries.
    for (auto& [key, s] : streams_) {
      if (key.first != choice.index) continue;
      std::string rest = close(s);
      if (rest.empty()) continue;
      const std::string& field = key.second;
      const auto carried = std::find_if(read.texts.begin() + choice.first_text, read.texts.begin() + choice.end_text,
                                        [&](const AnswerText& t) { return t.field == field; });
      if (carried == read.texts.begin() + choice.end_text) {
        placed.push_back({c, field, std::move(rest)});
        continue;
      }
      const auto at = static_cast<std::size_t>(carried - read.texts.begin());
      auto change = std::find_if(changes.begin(), changes.end(), [&](const auto& ch) { return ch.first == at; });
      if (change == changes.end()) changes.emplace_back(at, std::string(carried->text) + rest);
      else change->second += rest;
    }
  }
  if (failed_) return fail(not_utf8_ ? "a streamed event's text is not UTF-8" : "the output scanner failed");
  if (changes.empty() && placed.empty()) {
    ++event_routes_.one_pass;
    return std::nullopt;
  }
  std::string out;
  if (one_line && placed.empty() && written_in_place(payload, read, changes, out)) {
    ++event_routes_.spliced;
  } else {
    ++event_routes_.one_pass_then_parsed;
    unsigned char inline_arena[4096];
    json::monotonic_resource arena(inline_arena, sizeof inline_arena);
    boost::system::error_code ec;
    std::size_t written_members = 0;
    json::value value = parse_counting_members(payload, ec, &arena, {}, written_members);
    // As for whole answers: the filters have run, and must not run again; texts found otherwise
    // than the one pass found them would be put in the wrong places: fail closed.
    ParsedTexts found;
    const bool vouched = !ec && value.is_object() && !repeats_a_key(written_members, value) && !withhold_logprobs(value);
    if (vouched) find_answer_texts(value, endpoint_, true, found);
    if (!vouched || !same_texts(read, found.read) || found.choices.size() != read.choices.size())
      return fail("the event's texts were not found alike in one pass and parsed");
    for (const auto& [at, text] : changes) *found.places[at] = text;
    // After the texts: placing adds members, which may move the strings found.
    for (const Placed& p : placed) place_released(*found.choices[p.choice], endpoint_, p.field, p.text);
    out = json::serialize(value);
  }
  return out;
}

// An event parsed into a document, its texts found and changed there, and written again where a
// filter changed one: the reading the one pass stands in for (every event the one pass does not
// vouch for, and every event under AnswerReading::parsed).
std::optional<std::string> ResponseRewriter::rewrite_parsed_event(std::string_view payload) {
  // Parsed into an arena that lives for this event; most events fit its inline part.
  unsigned char inline_arena[4096];
  json::monotonic_resource arena(inline_arena, sizeof inline_arena);
  boost::system::error_code ec;
  bool well_formed = true;
  std::size_t written_members = 0;
  json::value value = parse_event(payload, &arena, ec, well_formed, written_members);
  if (ec || !value.is_object()) return fail("a streamed event is not JSON");
  if (repeats_a_key(written_members, value)) return fail("a streamed event repeats a key inside an object");
  bool rewritten = !well_formed;  // its bytes cannot go out as they came
  auto* choices = value.get_object().if_contains("choices");
  if (choices != nullptr && !choices->is_null() && !choices->is_array())
    return fail(std::string("an event's choices is ") + kind_of(*choices) + ", not a list");
  rewritten = withhold_logprobs(value) || rewritten;
  // Before the texts: releasing held text adds members, which may move the strings found here.
  rewritten = scan_other_strings(value) || rewritten;
  // After the scan: the envelope is repeated as it went out, never with what the scan masked.
  remember_envelope(value.get_object());
  if (choices != nullptr && choices->is_array()) {
    for (auto& item : choices->get_array()) {
      if (!item.is_object()) return fail(std::string("a choice is ") + kind_of(item) + ", not an object");
      auto& object = item.get_object();
      std::int64_t index = 0;
      // Streamed text is joined by its choice's index: one the gateway read otherwise than a client
      // does ("1" or 1.0, which JavaScript takes for 1) would put text of one choice into another's
      // filters, where a value split between them is found by neither.
      if (auto* i = object.if_contains("index"); i && i->is_int64()) index = i->get_int64();
      else if (i) return fail("a choice's index is " + std::string(kind_of(*i)) + ", not an integer");
      std::string unreadable;
      const std::vector<ChoiceText> texts = texts_of(object, endpoint_, true, unreadable);
      if (!unreadable.empty()) return fail("choice " + std::to_string(index) + "'s " + unreadable);
      for (auto& [field, text] : texts) {
        Stream* filters = stream(index, field);
        if (filters == nullptr) return fail(too_many_texts());
        // Its filters released what they held when the choice finished: text after that would be
        // checked without what came before it, and what they hold back of it never released.
        if (filters->finished && !text->get_string().empty())
          return fail("choice " + std::to_string(index) + "'s " + field + " goes on after its finish_reason");
        std::string filtered = run(*filters, text->get_string());
        if (filtered == text->get_string()) continue;
        *text = filtered;
        rewritten = true;
      }
      if (!finishes(object)) continue;
      // The choice ends: every one of its streams releases what it held back, appended to the
      // field this event carries, or placed anew once those are done (placing adds members, which
      // may move the ones `texts` points to).
      std::vector<std::pair<std::string, std::string>> to_place;
      for (auto& [key, s] : streams_) {
        if (key.first != index) continue;
        std::string rest = close(s);
        if (rest.empty()) continue;
        rewritten = true;
        const std::string& field = key.second;
        auto carried = std::find_if(texts.begin(), texts.end(), [&](const ChoiceText& t) { return t.field == field; });
        if (carried != texts.end()) *carried->value = std::string(carried->value->get_string()) + rest;
        else to_place.emplace_back(key.second, std::move(rest));
      }
      for (const auto& [field, rest] : to_place) place_released(object, endpoint_, field, rest);
    }
  }
  if (failed_) return fail(not_utf8_ ? "a streamed event's text is not UTF-8" : "the output scanner failed");
  if (!rewritten) return std::nullopt;
  std::string serialized = json::serialize(value);
  if (!well_formed && !is_well_formed_utf8(serialized))
    return fail("a streamed event's text is not UTF-8");
  return serialized;
}

void ResponseRewriter::remember_envelope(const AnswerTexts& read) {
  for (const EnvelopeValue& value : read.envelope) {
    json::value& kept = envelope_[value.member];
    // Copied only when it changed: most streams repeat one envelope.
    switch (value.kind) {
      case json::kind::string:
        if (!kept.is_string() || kept.get_string() != value.string) kept = value.string;
        break;
      case json::kind::int64: kept = value.int64; break;
      case json::kind::uint64: kept = value.uint64; break;
      case json::kind::double_: kept = value.real; break;
      case json::kind::bool_: kept = value.boolean; break;
      default: break;
    }
  }
}

void ResponseRewriter::remember_envelope(const json::object& event) {
  for (std::size_t member = 0; member < envelope_members.size(); ++member)
    if (auto* value = event.if_contains(envelope_members[member]); value && !value->is_null())
      if (envelope_[member] != *value) envelope_[member] = *value;
}

std::string ResponseRewriter::flush_choices() {
  std::string out;
  for (auto& [key, s] : streams_) {
    std::string rest = close(s);
    if (rest.empty()) continue;
    json::object item{{"index", key.first}, {"finish_reason", nullptr}};
    place_released(item, endpoint_, key.second, rest);
    // Written by the gateway, yet shaped as the backend's chunks: clients that check each chunk's
    // id against the stream's (openai-go's accumulator) or read its model would fail on a bare one.
    json::object event;
    for (std::size_t member = 0; member < envelope_members.size(); ++member)
      if (!envelope_[member].is_null()) event[envelope_members[member]] = envelope_[member];
    event["choices"] = json::array{item};
    out += "data: " + json::serialize(event) + "\n\n";
  }
  return out;
}

std::string ResponseRewriter::finish() {
  if (failed_ || ended_) return {};
  // A CR the body ended with ends a line: the events it completes are read as any others.
  std::string out = read_events(line_ends_.finish());
  if (failed_ || ended_) return out;
  // The body ended before the line ending of its last line: an end line ends the stream all the
  // same (StreamEnd::finish ends its event); any other event is cut short, and dropped as a client
  // drops it (the forwarder reports a body that ends without that line as a broken stream).
  std::string end_of_event;
  end_.finish(end_of_event);
  out += take_events(end_of_event);
  if (failed_ || ended_) return out;
  pending_.clear();
  return out + flush_choices();
}

std::string ResponseRewriter::abandon() {
  if (failed_ || ended_) return {};
  // The stream broke: the event it was in the middle of is not whole, and is dropped; the text the
  // filters hold back from whole events is decided as final and released before the error.
  pending_.clear();
  return flush_choices();
}

std::string ResponseRewriter::fail_whole(const std::string& why) {
  failed_ = true;
  failure_ = why;
  return {};
}

// Each text of the answer goes through its filters once, in the order of AnswerTexts: the strings
// that are no choice's text first, each on its own, then each choice's, each through its stream's
// filters (a choice's text and the other strings are told apart before any is scanned).
bool ResponseRewriter::filter_whole(const AnswerTexts& texts, TextChanges& changes) {
  for (std::size_t i = 0; i < texts.texts.size(); ++i) {
    const AnswerText& text = texts.texts[i];
    std::optional<std::string> filtered;
    if (text.field.empty()) {
      filtered = run_once(text.text);
    } else {
      Stream* filters = stream(text.choice, text.field);
      if (filters == nullptr) {
        fail_whole(too_many_texts());
        return false;
      }
      filtered = run_whole(*filters, text.text);
    }
    if (filtered) changes.emplace_back(i, std::move(*filtered));
  }
  if (!texts.refusal.empty()) {
    fail_whole(texts.refusal);
    return false;
  }
  if (failed_) {
    fail_whole("the output scanner failed");
    return false;
  }
  return true;
}

std::string ResponseRewriter::whole(std::string body) {
  whole_answer_ = true;
  if (reading_ == AnswerReading::parsed) return whole_parsed(std::move(body));
  std::optional<AnswerTexts> texts = read_answer_texts(body, endpoint_, withhold_logprobs_);
  if (!texts) return whole_parsed(std::move(body));
  whole_route_ = WholeRoute::one_pass;
  TextChanges changes;
  if (!filter_whole(*texts, changes)) return {};
  // Nothing changed (most answers): the backend's bytes go out as they came (moved, not copied),
  // and were never parsed into a document.
  if (changes.empty()) return body;
  whole_route_ = WholeRoute::one_pass_then_parsed;
  return rewrite_read_answer(body, *texts, changes);
}

std::string ResponseRewriter::whole_parsed(std::string body) {
  whole_route_ = WholeRoute::parsed;
  // The answer is parsed into an arena that lives for this call; most answers fit the inline part.
  unsigned char inline_arena[8192];
  json::monotonic_resource arena(inline_arena, sizeof inline_arena);
  std::string refusal;
  json::value value = parse_answer(body, &arena, refusal);
  if (!refusal.empty()) return fail_whole(refusal);
  const bool withheld = withhold_logprobs(value);
  ParsedTexts found;
  find_answer_texts(value, endpoint_, false, found);
  TextChanges changes;
  if (!filter_whole(found.read, changes)) return {};
  if (!withheld && changes.empty()) return body;
  for (auto& [at, text] : changes) *found.places[at] = text;
  return json::serialize(value);
}

std::string ResponseRewriter::rewrite_read_answer(std::string_view body, const AnswerTexts& read,
                                                  const TextChanges& changes) {
  unsigned char inline_arena[8192];
  json::monotonic_resource arena(inline_arena, sizeof inline_arena);
  std::string refusal;
  json::value value = parse_answer(body, &arena, refusal);
  // The one pass vouched for an answer the parsed reading accepts, with nothing to withhold, and
  // found its texts as that reading finds them; the filters have run on them, and must not run again
  // (they count findings, restore tokens). Texts found otherwise would be put in the wrong places:
  // fail closed.
  ParsedTexts found;
  const bool vouched = refusal.empty() && !withhold_logprobs(value);
  if (vouched) find_answer_texts(value, endpoint_, false, found);
  if (!vouched || !same_texts(read, found.read))
    return fail_whole("the answer's texts were not found alike in one pass and parsed");
  for (const auto& [at, text] : changes) *found.places[at] = text;
  return json::serialize(value);
}

// An error's body is no answer: it has no choices to read, and every string in it is what a
// backend wrote about the request (a message quoting the prompt, a parameter's value), each
// scanned whole, on its own, with the answers' filters.
std::string ResponseRewriter::error_body(std::string body) {
  if (body.size() > max_error_body_bytes)
    return fail_whole("it is larger than " + std::to_string(max_error_body_bytes / 1024) + " KiB");
  unsigned char inline_arena[4096];
  json::monotonic_resource arena(inline_arena, sizeof inline_arena);
  boost::system::error_code ec;
  std::size_t written_members = 0;
  json::value value = parse_counting_members(body, ec, &arena, {}, written_members);
  if (ec) return body;  // never relayed: the forwarder answers in its own words
  if (repeats_a_key(written_members, value)) return fail_whole("it repeats a key inside an object");
  const bool rewritten = scan_strings(value, {});
  if (failed_) return fail_whole("the output scanner failed");
  if (rewritten) return json::serialize(value);
  return body;
}

}  // namespace sovereign::gateway
