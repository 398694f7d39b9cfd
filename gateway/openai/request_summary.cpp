#include "gateway/openai/request_summary.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>

#include "gateway/openai/json_one_pass.hpp"
#include "gateway/openai/request_words.hpp"
#include "policy/unscanned_parts.hpp"

namespace sovereign::gateway {
namespace json = boost::json;
namespace {

// As decode_request parses (request_body.cpp): the same depth limit, so that the parser stops
// where decode_request's stops.
constexpr std::size_t max_json_depth = 64;
// decode_request refuses more texts than this under a policy; a summary gives up beyond it.
constexpr std::size_t max_text_fields = 4096;
// Keys are compared with those of the same object one by one: an object with more keys than this
// (a long logit_bias, a large JSON schema) is left to decode_request, which keeps the comparisons
// linear in the body's size.
constexpr std::size_t max_keys_per_object = 32;
constexpr std::int64_t max_max_tokens = 100'000'000;

// A key's hash, for telling whether an object names it twice. Keys are short (a dozen bytes), and
// std::hash's byte-wise mixing took a fifth of the pass: mixed here eight bytes at a time. Equal
// hashes of different keys cost a second parse only (Summary::on_key).
[[gnu::always_inline]] inline std::uint64_t key_hash(std::string_view key) {
  constexpr std::uint64_t multiplier = 0xff51afd7ed558ccdULL;
  std::uint64_t hash = key.size() * 0x9e3779b97f4a7c15ULL;
  auto mix = [&hash](std::uint64_t word) {
    hash = (hash ^ word) * multiplier;
    hash ^= hash >> 32;
  };
  std::size_t at = 0;
  for (; at + 8 <= key.size(); at += 8) {
    std::uint64_t word;
    std::memcpy(&word, key.data() + at, 8);
    mix(word);
  }
  if (at == key.size()) return hash;
  // The rest: the last eight bytes (some read twice) when there are eight, else byte by byte (a
  // copy into a zeroed word stalled the load that followed it).
  std::uint64_t word = 0;
  if (key.size() >= 8) {
    std::memcpy(&word, key.data() + key.size() - 8, 8);
  } else {
    for (std::size_t i = 0; i < key.size(); ++i)
      word |= static_cast<std::uint64_t>(static_cast<unsigned char>(key[i])) << (8 * i);
  }
  mix(word);
  return hash;
}

// What a value is to the plain path, known from where it sits before it is read.
enum class Role : std::uint8_t {
  other,           // anything the plain path does not read (temperature, tools, metadata...)
  body,            // the top-level object
  model,
  stream,
  stream_options,
  include_usage,   // stream_options.include_usage
  max_tokens,
  max_completion_tokens,
  logprobs,
  top_logprobs,
  n_probs,
  messages,        // chat: the array of messages
  message,         // chat: one of them
  role,            // chat: a message's role
  content,         // chat: a message's content (a string, null or an array of parts)
  part,            // chat: a content part
  part_text,       // chat: a part's "text"
  part_type,       // chat: a part's "type"
  prompts,         // completions' "prompt", embeddings' "input": a string or a list of strings
  prompt,          // one string of that list
};

// A JSON container the parser has opened. Left uninitialised until opened: zeroing the stack of
// them took about a twentieth of the pass.
struct Open {
  Role role;                // what the container is
  Role member;              // objects: what the member being read is
  bool object;
  std::uint32_t first_key;  // objects: where their keys' hashes start in Summary::key_hashes_
  std::uint32_t count;      // arrays: the elements read so far, which is the index of the one being read
  // Objects, collecting texts: where the member's key is, in the body (as most keys are, unescaped
  // and whole) or in Summary::keys_.
  std::uint32_t key_at;
  std::uint32_t key_size;
  bool key_held;
};

// A text collected for a policy (TextScope::policy_scan), held in the request's arena.
struct Collected {
  TextPath path;           // a prompt text's
  std::string other_path;  // any other string's (a key's ending in " (key)")
  std::string_view text;
  bool is_key;
  bool json_text;
};

// The handler of boost::json::basic_parser: follows the body's structure event by event and fills
// the request. Any event that decode_request would answer differently from a plain acceptance (an
// error, unreadable parts, token ids) stops the parse: the caller then runs decode_request.
// Collecting texts (for a policy), it also takes every string decode_request's every_string scope
// takes, in its order and with its paths: the prompt texts first, then every other string value
// but vocabulary words, every key outside the schema, and every whole number outside the top-level
// parameters, in the order the body writes them (as collect_other_strings walks the built body).
// `Collect`: whether texts are collected (a template parameter: the plain path pays nothing for it).
template <bool Collect>
class Summary : public OnePassHandler {
 public:
  // `arena`, collecting texts: where the texts are kept (an arena that frees nothing until it goes,
  // so that keeping a text is a copy, never an allocation of the heap's).
  Summary(Endpoint endpoint, std::string_view body, json::storage_ptr arena = {}) : body_(body), arena_(std::move(arena)) {
    request_.endpoint = endpoint;
  }

  // After a whole parse without error: whether the body holds what decode_request requires, and
  // the request if so.
  std::optional<DecodedRequest> finish() {
    if (request_.model.empty()) return std::nullopt;
    // As OpenAI answers: options of a stream on a request that asks for none is refused.
    if (stream_options_given_ && !request_.stream) return std::nullopt;
    if (request_.endpoint == Endpoint::chat_completions ? messages_ == 0 : !prompts_given_) return std::nullopt;
    if (texts_ > max_text_fields) return std::nullopt;
    // decode_request reads max_tokens, then max_completion_tokens over it.
    request_.max_tokens = static_cast<std::uint32_t>(max_completion_tokens_ != 0 ? max_completion_tokens_ : max_tokens_);
    request_.logprobs_asked_by = logprobs_asked_by();
    if constexpr (Collect) hand_over_texts();
    return std::move(request_);
  }

  bool on_object_begin(boost::system::error_code& ec) {
    const Role role = next_role();
    switch (role) {
      case Role::body:
      case Role::other:
      case Role::top_logprobs:  // not a positive number: asks for nothing
      case Role::n_probs:
        break;
      case Role::logprobs: logprobs_given_ = true; break;
      case Role::stream_options: stream_options_given_ = true; break;
      case Role::message: role_given_ = false; break;
      case Role::part:
        part_text_ = part_type_given_ = part_type_text_ = false;
        break;
      default: return give_up(ec);
    }
    return open(role, true, ec);
  }

  bool on_object_end(std::size_t, boost::system::error_code& ec) {
    const Open& closed = open_[--depth_];
    key_hashes_.resize(closed.first_key);
    if (closed.role == Role::message && !role_given_) return give_up(ec);
    // Servers read a part by its type; one without a type only as the text it holds. Any other
    // part is one no detector reads, which decode_request notes in unreadable_parts.
    if (closed.role == Role::part && !(part_type_given_ ? part_type_text_ : part_text_)) return give_up(ec);
    value_done();
    return true;
  }

  bool on_array_begin(boost::system::error_code& ec) {
    const Role role = next_role();
    switch (role) {
      case Role::other:
      case Role::top_logprobs:
      case Role::n_probs:
      case Role::content:
        break;
      case Role::logprobs: logprobs_given_ = true; break;
      case Role::messages: break;
      case Role::prompts: prompts_given_ = true; break;
      default: return give_up(ec);  // the body itself, or token ids nested in a prompt's list
    }
    return open(role, false, ec);
  }

  bool on_array_end(std::size_t size, boost::system::error_code& ec) {
    const Open& closed = open_[--depth_];
    if (closed.role == Role::messages) {
      if (size == 0) return give_up(ec);
      messages_ = size;
    }
    value_done();
    return true;
  }

  bool on_key_part(json::string_view part, std::size_t, boost::system::error_code&) {
    key_text_.append(part.data(), part.size());
    return true;
  }

  bool on_key(json::string_view last, std::size_t, boost::system::error_code& ec) {
    std::string_view key(last.data(), last.size());
    if (!key_text_.empty()) {
      key_text_.append(key);
      key = key_text_;
    }
    Open& object = open_[depth_ - 1];
    // A repeated key: decode_request refuses it where it may name "model" twice and keeps the
    // last otherwise. Keys are compared unescaped, as the built object compares them ("mod\u0065l"
    // is "model"). Equal hashes are taken for equal keys: a collision costs a second parse only.
    const std::uint64_t hash = key_hash(key);
    for (std::size_t i = object.first_key; i < key_hashes_.size(); ++i)
      if (key_hashes_[i] == hash) return give_up(ec);
    if (key_hashes_.size() - object.first_key == max_keys_per_object) return give_up(ec);
    key_hashes_.push_back(hash);
    object.member = member_role(object.role, key);
    if constexpr (Collect) {
      // Kept for the paths of what the member holds: where it is in the body, or else a copy (the
      // keys of deeper objects, all closed now, go). A key read for its role is one of the schema's
      // (n_probs, llama.cpp's, excepted).
      keep_key(object, key);
      const bool known = object.member != Role::other && object.member != Role::n_probs;
      if (!known && !schema_key(key) && !collect_other(key, true)) return give_up(ec);
    }
    key_text_.clear();
    return true;
  }

  // A string the parser gives in parts (at escapes): the model's and a part's type are read whole;
  // of a text only its size counts, which on_string is given, unless texts are collected.
  bool on_string_part(json::string_view part, std::size_t, boost::system::error_code&) {
    if (const Role role = next_role(); Collect || role == Role::model || role == Role::part_type)
      value_text_.append(part.data(), part.size());
    return true;
  }

  bool on_string(json::string_view last, std::size_t size, boost::system::error_code& ec) {
    std::string_view text(last.data(), last.size());
    if (!value_text_.empty()) {
      value_text_.append(text);
      text = value_text_;
    }
    // Under a policy every string but the model's and the prompt texts is scanned as another
    // string, a vocabulary word (a role, a part's type) excepted.
    bool other = Collect;
    switch (next_role()) {
      case Role::other:
      case Role::top_logprobs:
      case Role::n_probs:
        break;
      case Role::logprobs: logprobs_given_ = true; break;
      case Role::model:
        if (!valid_model_name(text)) return give_up(ec);
        request_.model.assign(text);
        other = false;
        break;
      case Role::role: role_given_ = true; break;
      case Role::part_type:
        part_type_given_ = true;
        part_type_text_ = policy::text_part_type(text);
        break;
      case Role::part_text:
        part_text_ = true;
        if (!add_text(size, text, {"messages", index_at(depth_ - 4), index_at(depth_ - 2)})) return give_up(ec);
        other = false;
        break;
      case Role::prompts:
        prompts_given_ = true;
        if (!add_text(size, text, {prompts_key(), -1, -1})) return give_up(ec);
        other = false;
        break;
      case Role::content:
        if (!add_text(size, text, {"messages", index_at(depth_ - 2), -1})) return give_up(ec);
        other = false;
        break;
      case Role::prompt:
        if (!add_text(size, text, {prompts_key(), index_at(depth_ - 1), -1})) return give_up(ec);
        other = false;
        break;
      default: return give_up(ec);
    }
    if constexpr (Collect)
      if (other && !vocabulary_word(text) && !collect_other(text, false)) return give_up(ec);
    value_text_.clear();
    value_done();
    return true;
  }

  bool on_int64(std::int64_t number, json::string_view, boost::system::error_code& ec) {
    switch (const Role role = next_role()) {
      case Role::max_tokens:
      case Role::max_completion_tokens:
        // 0 is refused as OpenAI refuses it: an answer of no tokens.
        if (number < 1 || number > max_max_tokens) return give_up(ec);
        (role == Role::max_tokens ? max_tokens_ : max_completion_tokens_) = number;
        value_done();
        return true;
      default: return positive_number(number > 0, number, ec);
    }
  }

  bool on_uint64(std::uint64_t number, json::string_view, boost::system::error_code& ec) {
    return positive_number(number > 0, number, ec);
  }

  bool on_double(double number, json::string_view, boost::system::error_code& ec) {
    // 1e999 is read as infinity, which a policy's rewrite could not write back: decode_request's
    // to judge.
    if (!std::isfinite(number)) return give_up(ec);
    return positive_number(number > 0, number, ec);
  }

  bool on_bool(bool value, boost::system::error_code& ec) {
    switch (next_role()) {
      case Role::other:
      case Role::top_logprobs:
      case Role::n_probs:
        break;
      case Role::logprobs: logprobs_given_ = logprobs_given_ || value; break;
      case Role::stream: request_.stream = value; break;
      case Role::include_usage: request_.include_usage = value; break;
      default: return give_up(ec);
    }
    value_done();
    return true;
  }

  bool on_null(boost::system::error_code& ec) {
    switch (next_role()) {
      // Optional members: null is as if absent. A null content is an assistant turn with tool calls.
      case Role::other:
      case Role::stream:
      case Role::stream_options:
      case Role::include_usage:
      case Role::max_tokens:
      case Role::max_completion_tokens:
      case Role::logprobs:
      case Role::top_logprobs:
      case Role::n_probs:
      case Role::content:
        value_done();
        return true;
      default: return give_up(ec);
    }
  }

 private:
  // The role of the value about to be read, from the container it sits in.
  Role next_role() const {
    if (depth_ == 0) return Role::body;
    const Open& parent = open_[depth_ - 1];
    if (parent.object) return parent.member;
    switch (parent.role) {
      case Role::messages: return Role::message;
      case Role::content: return Role::part;
      case Role::prompts: return Role::prompt;
      default: return Role::other;
    }
  }

  // The role of the member named `key` of an object that is `object`.
  Role member_role(Role object, std::string_view key) const {
    const Endpoint endpoint = request_.endpoint;
    switch (object) {
      case Role::body:
        switch (key.size()) {  // the names' lengths tell them apart but for three pairs
          case 5:
            if (key == "model") return Role::model;
            if (key == "input" && endpoint == Endpoint::embeddings) return Role::prompts;
            break;
          case 6:
            if (key == "stream") return Role::stream;
            if (key == "prompt" && endpoint == Endpoint::completions) return Role::prompts;
            break;
          case 7: if (key == "n_probs") return Role::n_probs; break;
          case 8:
            if (key == "messages" && endpoint == Endpoint::chat_completions) return Role::messages;
            if (key == "logprobs") return Role::logprobs;
            break;
          case 10: if (key == "max_tokens") return Role::max_tokens; break;
          case 12: if (key == "top_logprobs") return Role::top_logprobs; break;
          case 14: if (key == "stream_options") return Role::stream_options; break;
          case 21: if (key == "max_completion_tokens") return Role::max_completion_tokens; break;
          default: break;
        }
        return Role::other;
      case Role::stream_options: return key == "include_usage" ? Role::include_usage : Role::other;
      case Role::message:
        if (key == "role") return Role::role;
        if (key == "content") return Role::content;
        return Role::other;
      case Role::part:
        if (key == "text") return Role::part_text;
        if (key == "type") return Role::part_type;
        return Role::other;
      default: return Role::other;
    }
  }

  bool open(Role role, bool object, boost::system::error_code& ec) {
    if (depth_ == open_.size()) return give_up(ec);  // beyond the parse's own depth limit: never reached
    open_[depth_++] = {role, Role::other, object, static_cast<std::uint32_t>(key_hashes_.size()), 0, 0, 0, false};
    return true;
  }

  // Where the key of the member `object` is reading lies: in the body where the parser's view is
  // into it, else copied after the keys held for the objects that enclose this one.
  void keep_key(Open& object, std::string_view key) {
    object.key_size = static_cast<std::uint32_t>(key.size());
    if (key.data() >= body_.data() && key.data() + key.size() <= body_.data() + body_.size()) {
      object.key_held = false;
      object.key_at = static_cast<std::uint32_t>(key.data() - body_.data());
      return;
    }
    std::size_t held_end = 0;
    for (std::size_t i = 0; i + 1 < depth_; ++i)
      if (open_[i].object && open_[i].key_held) held_end = open_[i].key_at + open_[i].key_size;
    keys_.resize(held_end);
    object.key_held = true;
    object.key_at = static_cast<std::uint32_t>(keys_.size());
    keys_.append(key);
  }

  std::string_view key_of(const Open& object) const {
    return std::string_view(object.key_held ? keys_ : body_).substr(object.key_at, object.key_size);
  }

  // A value was read whole: the array holding it moves on to its next element.
  void value_done() {
    if constexpr (Collect)
      if (depth_ != 0 && !open_[depth_ - 1].object) ++open_[depth_ - 1].count;
  }

  // The index of the element being read of the array open at `level`.
  std::int32_t index_at(std::size_t level) const { return static_cast<std::int32_t>(open_[level].count); }

  const char* prompts_key() const { return request_.endpoint == Endpoint::completions ? "prompt" : "input"; }

  // A number where the plain path reads none but the log probabilities' counts: those ask for
  // log probabilities when positive, and anything given as "logprobs" (but false) does. Under a
  // policy a whole number is scanned as its digits, OpenAI's top-level parameters excepted.
  template <class Number>
  bool positive_number(bool positive, Number number, boost::system::error_code& ec) {
    switch (next_role()) {
      case Role::other: break;
      case Role::logprobs: logprobs_given_ = true; break;
      case Role::top_logprobs: top_logprobs_positive_ = top_logprobs_positive_ || positive; break;
      case Role::n_probs: n_probs_positive_ = n_probs_positive_ || positive; break;
      default: return give_up(ec);  // a number as the model, a message, a token id...
    }
    if constexpr (Collect)
      if (!collect_number(json::value(number))) return give_up(ec);
    value_done();
    return true;
  }

  // A prompt text of `size` unescaped bytes (what decode_request's TextField::text holds), at
  // `path`; false where there are more texts than decode_request takes.
  bool add_text(std::size_t size, std::string_view text, TextPath path) {
    request_.prompt_bytes += size;
    if (++texts_ > max_text_fields) return false;
    if constexpr (Collect)
      prompts_.push_back({path, {}, hold(text), false, false});
    return true;
  }

  // The path of the member or element being read, as decode_request writes it (messages[2].name).
  void write_path(std::string& path) const {
    path.clear();
    for (std::size_t i = 0; i < depth_; ++i) {
      const Open& step = open_[i];
      if (step.object) {
        if (!path.empty()) path += '.';
        path.append(key_of(step));
      } else {
        char digits[12];
        path += '[';
        path.append(digits, std::to_chars(digits, digits + sizeof digits, step.count).ptr);
        path += ']';
      }
    }
  }

  // A string that is not a prompt text (a key, with `is_key`); false where there are too many.
  bool collect_other(std::string_view text, bool is_key) {
    if (++texts_ > max_text_fields) return false;
    Collected& collected = others_.emplace_back();
    write_path(collected.other_path);
    if (is_key) collected.other_path += " (key)";
    collected.text = hold(text);
    collected.is_key = is_key;
    collected.json_text = !is_key && holds_json_text(collected.other_path);
    return true;
  }

  // A number, as its digits where it is whole and not one of OpenAI's top-level parameters.
  bool collect_number(const json::value& number) {
    std::string path;
    write_path(path);
    if (schema_key(path)) return true;
    const auto digits = whole_number_digits(number);
    if (!digits) return true;
    if (++texts_ > max_text_fields) return false;
    others_.push_back({{}, std::move(path), hold(*digits), false, false});
    return true;
  }

  // Keeps a copy of `text` (the parser's views last only as long as its event) for the request.
  std::string_view hold(std::string_view text) {
    if (text.empty()) return {};
    auto* kept = static_cast<char*>(arena_->allocate(text.size(), 1));
    std::memcpy(kept, text.data(), text.size());
    return {kept, text.size()};
  }

  // The collected texts into the request, prompt texts first, with the arena that holds them.
  void hand_over_texts() {
    request_.held_storage = arena_;
    request_.texts.reserve(prompts_.size() + others_.size());
    request_.prompt_bytes = 0;
    const auto hand_over = [&](auto& list) {
      for (Collected& collected : list) {
        TextField& field = request_.texts.emplace_back();
        field.path = collected.path;
        field.other_path = std::move(collected.other_path);
        field.text = collected.text;
        field.is_key = collected.is_key;
        field.json_text = collected.json_text;
        request_.prompt_bytes += collected.text.size();
      }
    };
    hand_over(prompts_);
    hand_over(others_);
  }

  // As logprobs_asked_by in request_body.cpp.
  std::string_view logprobs_asked_by() const {
    if (request_.endpoint == Endpoint::embeddings) return {};
    if (logprobs_given_) return "logprobs";
    if (request_.endpoint == Endpoint::chat_completions && top_logprobs_positive_) return "top_logprobs";
    if (n_probs_positive_) return "n_probs";
    return {};
  }

  DecodedRequest request_;  // its endpoint set by the constructor
  const std::string_view body_;
  std::array<Open, max_json_depth + 1> open_;
  std::size_t depth_ = 0;
  // The hashes of the keys of every open object, each object's after its parent's: on the stack
  // for a usual body (the top level's dozen keys, a message's and a part's few).
  boost::container::small_vector<std::uint64_t, 64> key_hashes_;
  std::string key_text_;    // a key the parser gave in parts (at an escape)
  std::string value_text_;  // a string the parser gave in parts
  std::size_t texts_ = 0;
  // Collecting texts: the keys on the way to the value being read that are not in the body as
  // written, the texts read, where they lie (on the stack for a usual body).
  std::string keys_;
  json::storage_ptr arena_;
  boost::container::small_vector<Collected, 8> prompts_;
  boost::container::small_vector<Collected, 4> others_;
  std::size_t messages_ = 0;
  std::int64_t max_tokens_ = 0;
  std::int64_t max_completion_tokens_ = 0;
  bool stream_options_given_ = false;  // as an object
  bool prompts_given_ = false;
  bool logprobs_given_ = false;
  bool top_logprobs_positive_ = false;
  bool n_probs_positive_ = false;
  bool role_given_ = false;       // the message being read has a string role
  bool part_text_ = false;        // the part being read has a string "text"
  bool part_type_given_ = false;  // ... a string "type"
  bool part_type_text_ = false;   // ... which names a text part
};

template <bool Collect>
std::optional<DecodedRequest> read_request(Endpoint endpoint, std::string_view body, json::storage_ptr arena = {}) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  return read_in_one_pass<Summary<Collect>>(body, options, endpoint, body, std::move(arena));
}

}  // namespace

std::optional<DecodedRequest> summarize_request(Endpoint endpoint, std::string_view body, bool collect_texts,
                                                json::storage_ptr storage) {
  if (!collect_texts) return read_request<false>(endpoint, body);
  // The given storage where it is an arena (a request's), else an arena of the request's own.
  if (!storage.is_not_shared_and_deallocate_is_trivial()) storage = json::make_shared_resource<json::monotonic_resource>();
  return read_request<true>(endpoint, body, std::move(storage));
}

}  // namespace sovereign::gateway
