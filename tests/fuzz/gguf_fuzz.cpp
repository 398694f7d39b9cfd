// libFuzzer target: any byte string given to the GGUF reader (and, if accepted, to the tokenizer loader and chat
// template) must yield an error value or a consistent file, never a crash, hang or out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "accel/chat/chat_template.hpp"
#include "accel/gguf/gguf_file.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace gguf = sovereign::accel::gguf;

namespace {
volatile unsigned g_sink;  // keeps the reads observable so the optimiser cannot drop them
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto result = gguf::File::parse(bytes);
  auto* file = std::get_if<gguf::File>(&result);
  if (file == nullptr) return 0;
  // Touch every tensor byte so the sanitizer sees any view that escapes the input.
  unsigned checksum = 0;
  for (const auto& tensor : file->tensors()) {
    for (const std::byte b : tensor.data) checksum += static_cast<unsigned>(b);
  }
  auto tokenizer = sovereign::accel::Tokenizer::from_gguf(*file);
  if (auto* t = std::get_if<std::unique_ptr<sovereign::accel::Tokenizer>>(&tokenizer)) {
    const std::vector<sovereign::accel::ChatMessage> messages{{"user", "Hello <|im_start|> w\xC3\xB6rld 123!"}};
    const auto chat = sovereign::accel::ChatTemplate::from_gguf(*file);
    const auto ids = sovereign::accel::encode_chat(**t, chat, messages);
    checksum += static_cast<unsigned>((*t)->decode(ids).size());
  }
  g_sink = checksum;
  return 0;
}
