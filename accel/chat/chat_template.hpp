// Renders chat messages into the prompt format a model was trained on (chatml, llama3, llama2/mistral, zephyr).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "accel/gguf/gguf_file.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {

// One message of an OpenAI-style conversation ("system", "user", "assistant").
struct ChatMessage {
  std::string role;
  std::string content;
};

// A piece of a rendered prompt: template markup (may contain special tokens) or message text (role or content,
// untrusted).
struct PromptPart {
  std::string text;
  bool is_content = false;
};

// A prompt format chosen from tokenizer.chat_template; renders without the leading BOS (the tokenizer adds it).
// System messages go where the format puts them (llama2: <<SYS>> in the first turn; mistral: before the first user
// message); roles other than system/user/assistant are written as given in chatml, llama3 and zephyr and as user
// turns in llama2/mistral.
class ChatTemplate {
 public:
  enum class Kind { chatml, llama3, llama2, mistral, zephyr };
  // Where the format came from: the file's template, or the fallback for a file without one or with
  // one this engine does not recognise.
  enum class Origin { file_template, no_template, unrecognised_template };

  // Recognises tokenizer.chat_template by its markers; without a template (or an unrecognised one) the vocabulary's
  // turn tokens decide, then the tokenizer kind (SentencePiece: llama2), then chatml.
  static ChatTemplate from_gguf(const gguf::File& file);
  // nullopt when the text has none of the markers of the supported formats.
  static std::optional<ChatTemplate> from_template_text(std::string_view jinja_text);
  // turn_end: the text that closes a zephyr turn, the template's eos_token (from_gguf reads the model's).
  explicit ChatTemplate(Kind kind, Origin origin = Origin::file_template, std::string turn_end = "</s>")
      : kind_(kind), origin_(origin), turn_end_(std::move(turn_end)) {}

  // Why this format cannot ask the model to answer `messages`, naming the message at fault
  // ("'messages[1].role' is ..."); nullopt when it can.
  std::optional<std::string> refusal(std::span<const ChatMessage> messages) const;
  // Ends with the assistant turn opener.
  std::string render(std::span<const ChatMessage> messages) const;
  std::vector<PromptPart> render_parts(std::span<const ChatMessage> messages) const;
  std::string_view name() const;
  Kind kind() const { return kind_; }
  Origin origin() const { return origin_; }
  // For an unrecognised tokenizer.chat_template, a sentence saying so and which format is used
  // instead (for `model info` and the warning `serve` logs at load); empty otherwise.
  std::string fallback_note() const;

 private:
  Kind kind_;
  Origin origin_;
  std::string turn_end_;
};

// Tokenizes a conversation so that message content can never produce special tokens (prompt-injection safe).
std::vector<std::int32_t> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                      std::span<const ChatMessage> messages);

}  // namespace sovereign::accel
