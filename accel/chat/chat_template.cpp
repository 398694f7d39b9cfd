#include "accel/chat/chat_template.hpp"

#include <array>

namespace sovereign::accel {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return trim_end(s);
}

class PartsBuilder {
 public:
  PartsBuilder& markup(std::string_view text) { return add(text, false); }
  PartsBuilder& content(std::string_view text) { return add(text, true); }
  std::vector<PromptPart> take() { return std::move(parts_); }

 private:
  PartsBuilder& add(std::string_view text, bool is_content) {
    if (text.empty()) return *this;
    if (!parts_.empty() && parts_.back().is_content == is_content) {
      parts_.back().text.append(text);
    } else {
      parts_.push_back(PromptPart{std::string(text), is_content});
    }
    return *this;
  }
  std::vector<PromptPart> parts_;
};

// <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
std::vector<PromptPart> render_chatml(std::span<const ChatMessage> messages) {
  PartsBuilder b;
  for (const auto& m : messages) b.markup("<|im_start|>").content(m.role).markup("\n").content(m.content).markup("<|im_end|>\n");
  b.markup("<|im_start|>assistant\n");
  return b.take();
}

// <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> ... (content trimmed, as Meta's template does)
std::vector<PromptPart> render_llama3(std::span<const ChatMessage> messages) {
  PartsBuilder b;
  for (const auto& m : messages) {
    b.markup("<|start_header_id|>").content(m.role).markup("<|end_header_id|>\n\n").content(trim(m.content)).markup("<|eot_id|>");
  }
  b.markup("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return b.take();
}

// Meta's Llama 2 chat format: [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
// Meta's template strips the whole turn text, so a user message after <<SYS>> loses only trailing whitespace.
// System messages after the first turn join the next user turn the same way.
std::vector<PromptPart> render_llama2(std::span<const ChatMessage> messages) {
  PartsBuilder b;
  std::string system;
  bool first_turn = true;
  for (const auto& m : messages) {
    if (m.role == "system") {
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    if (m.role == "assistant") {
      b.markup(" ").content(trim(m.content)).markup(" </s>");
      continue;
    }
    b.markup(first_turn ? "[INST] " : "<s>[INST] ");
    first_turn = false;
    if (!system.empty()) {
      b.markup("<<SYS>>\n").content(system).markup("\n<</SYS>>\n\n").content(trim_end(m.content));
      system.clear();
    } else {
      b.content(trim(m.content));
    }
    b.markup(" [/INST]");
  }
  if (!system.empty()) {  // a conversation of system messages only still asks for an answer
    b.markup(first_turn ? "[INST] " : "<s>[INST] ").markup("<<SYS>>\n").content(system).markup("\n<</SYS>>\n\n [/INST]");
  }
  return b.take();
}

// Mistral instruct: [INST] user [/INST]answer</s>[INST] ... ; system text precedes the next user message.
std::vector<PromptPart> render_mistral(std::span<const ChatMessage> messages) {
  PartsBuilder b;
  std::string system;
  for (const auto& m : messages) {
    if (m.role == "system") {
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    if (m.role == "assistant") {
      b.content(m.content).markup("</s>");
      continue;
    }
    b.markup("[INST] ");
    if (!system.empty()) {
      b.content(system).content("\n\n");
      system.clear();
    }
    b.content(m.content).markup(" [/INST]");
  }
  if (!system.empty()) b.markup("[INST] ").content(system).markup(" [/INST]");
  return b.take();
}

// Zephyr (TinyLlama's chat models, Zephyr; Phi-3 with <|end|>): <|system|>\nS</s>\n<|user|>\nU</s>\n
// <|assistant|>\nA</s>\n ... <|assistant|>\n, each turn closed by the template's eos_token. The three role
// markers are markup, whole, since some vocabularies have them as tokens; another role is content.
std::vector<PromptPart> render_zephyr(std::span<const ChatMessage> messages, std::string_view turn_end) {
  PartsBuilder b;
  for (const auto& m : messages) {
    if (m.role == "system" || m.role == "user" || m.role == "assistant") b.markup("<|" + m.role + "|>\n");
    else b.markup("<|").content(m.role).markup("|>\n");
    b.content(m.content).markup(turn_end).markup("\n");
  }
  b.markup("<|assistant|>\n");
  return b.take();
}

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

}  // namespace

std::optional<ChatTemplate> ChatTemplate::from_template_text(std::string_view text) {
  if (contains(text, "<|im_start|>")) return ChatTemplate(Kind::chatml);
  if (contains(text, "<|start_header_id|>")) return ChatTemplate(Kind::llama3);
  if (contains(text, "[INST]")) return ChatTemplate(contains(text, "<<SYS>>") ? Kind::llama2 : Kind::mistral);
  if (contains(text, "<|user|>") && contains(text, "<|assistant|>"))
    return ChatTemplate(Kind::zephyr, Origin::file_template, contains(text, "<|end|>") ? "<|end|>" : "</s>");
  return std::nullopt;
}

ChatTemplate ChatTemplate::from_gguf(const gguf::File& file) {
  const auto text = file.get_string("tokenizer.chat_template");
  if (text) {
    if (auto found = from_template_text(*text)) {
      // Zephyr's turns end with the tokenizer's eos_token, whatever its text ("</s>", "<|endoftext|>");
      // Phi-3's, written the same way, with <|end|> (from_template_text sees it in the text).
      if (found->kind() == Kind::zephyr && found->turn_end_ != "<|end|>") {
        const auto eos = file.get_int("tokenizer.ggml.eos_token_id");
        const auto* tokens = file.get_string_array("tokenizer.ggml.tokens");
        if (eos && tokens != nullptr && *eos >= 0 && static_cast<std::uint64_t>(*eos) < tokens->size())
          return ChatTemplate(Kind::zephyr, Origin::file_template, (*tokens)[static_cast<std::size_t>(*eos)]);
      }
      return *found;
    }
  }
  // A template of another type than string is there but unusable: said so, not passed off as absent.
  const Origin origin =
      file.find("tokenizer.chat_template") != nullptr ? Origin::unrecognised_template : Origin::no_template;
  if (const auto* tokens = file.get_string_array("tokenizer.ggml.tokens")) {
    for (const auto& token : *tokens) {
      if (token == "<|im_start|>") return ChatTemplate(Kind::chatml, origin);
      if (token == "<|start_header_id|>") return ChatTemplate(Kind::llama3, origin);
      if (token == "[INST]") return ChatTemplate(Kind::mistral, origin);
    }
  }
  if (file.get_string("tokenizer.ggml.model") == std::optional<std::string_view>("llama"))
    return ChatTemplate(Kind::llama2, origin);
  return ChatTemplate(Kind::chatml, origin);
}

std::string ChatTemplate::fallback_note() const {
  if (origin_ != Origin::unrecognised_template) return {};
  return "the file's tokenizer.chat_template is not one this engine recognises (chatml, llama3, llama2, "
         "mistral, zephyr); chat requests are rendered as " +
         std::string(name()) + ", chosen from the vocabulary, which may not be the format the model was trained on";
}

std::optional<std::string> ChatTemplate::refusal(std::span<const ChatMessage> messages) const {
  // llama2 and mistral have no turn that opens an answer: the answer follows [/INST]. After an
  // assistant message the prompt would end with its </s>, and the model would be asked to go on
  // after an end of text with nothing to answer; Meta's and Mistral's templates refuse such a
  // conversation ("roles must alternate"). The other formats open a new assistant turn.
  if ((kind_ != Kind::llama2 && kind_ != Kind::mistral) || messages.empty() || messages.back().role != "assistant")
    return std::nullopt;
  return "'messages[" + std::to_string(messages.size() - 1) + "].role' is assistant, the last message; the " +
         std::string(name()) + " chat format of this model answers a user message only: end the conversation with one";
}

std::vector<PromptPart> ChatTemplate::render_parts(std::span<const ChatMessage> messages) const {
  switch (kind_) {
    case Kind::chatml: return render_chatml(messages);
    case Kind::llama3: return render_llama3(messages);
    case Kind::llama2: return render_llama2(messages);
    case Kind::mistral: return render_mistral(messages);
    case Kind::zephyr: return render_zephyr(messages, turn_end_);
  }
  return {};
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages) const {
  std::string out;
  for (const auto& part : render_parts(messages)) out += part.text;
  return out;
}

std::string_view ChatTemplate::name() const {
  switch (kind_) {
    case Kind::chatml: return "chatml";
    case Kind::llama3: return "llama3";
    case Kind::llama2: return "llama2";
    case Kind::mistral: return "mistral";
    case Kind::zephyr: return "zephyr";
  }
  return "chatml";
}

std::vector<std::int32_t> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                      std::span<const ChatMessage> messages) {
  const auto parts = chat_template.render_parts(messages);
  std::vector<TextSegment> segments;
  segments.reserve(parts.size());
  for (const auto& part : parts) segments.push_back(TextSegment{part.text, !part.is_content});
  return tokenizer.encode_segments(segments, tokenizer.add_bos_by_default());
}

}  // namespace sovereign::accel
