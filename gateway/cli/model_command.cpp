#include "gateway/cli/model_command.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <variant>

#include "accel/chat/chat_template.hpp"
#include "accel/compute/engine.hpp"
#include "accel/gguf/demo_model.hpp"
#include "accel/gguf/gguf_file.hpp"
#include "accel/tokenizer/tokenizer.hpp"
#include "accel/tokenizer/utf8.hpp"
#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {
namespace {

namespace gguf = accel::gguf;

constexpr const char* kUsage = R"(usage: sovereign model COMMAND

Commands:
  info FILE                                         print a GGUF model's architecture, sizes, types, tokenizer
                                                    and chat template
  make-demo OUT.gguf [--type f32|f16|bf16|q8_0|q4_0] [--seed N] [--force]
                                                    write a small llama-architecture model with a real tokenizer
                                                    and random weights (its output is gibberish; see docs/MODELS.md);
                                                    an existing regular file is replaced only with --force, anything
                                                    else (directory, symlink, device, FIFO) never
)";

std::string human_bytes(std::uint64_t n) {
  char buffer[32];
  if (n >= (1ull << 30)) std::snprintf(buffer, sizeof buffer, "%.2f GiB", static_cast<double>(n) / (1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buffer, sizeof buffer, "%.2f MiB", static_cast<double>(n) / (1ull << 20));
  else if (n >= (1ull << 10)) std::snprintf(buffer, sizeof buffer, "%.1f KiB", static_cast<double>(n) / (1ull << 10));
  else std::snprintf(buffer, sizeof buffer, "%llu B", static_cast<unsigned long long>(n));
  return buffer;
}

std::string human_count(std::uint64_t n) {
  char buffer[32];
  if (n >= 1'000'000'000) std::snprintf(buffer, sizeof buffer, "%.2f B", static_cast<double>(n) / 1e9);
  else if (n >= 1'000'000) std::snprintf(buffer, sizeof buffer, "%.2f M", static_cast<double>(n) / 1e6);
  else if (n >= 1'000) std::snprintf(buffer, sizeof buffer, "%.1f K", static_cast<double>(n) / 1e3);
  else std::snprintf(buffer, sizeof buffer, "%llu", static_cast<unsigned long long>(n));
  return buffer;
}

std::string int_or_missing(const gguf::File& file, const std::string& key) {
  const auto v = file.get_int(key);
  return v ? std::to_string(*v) : "(not set)";
}

// Model files are untrusted: control characters in their strings are shown escaped, never sent to the terminal.
using accel::utf8::printable;

std::string token_label(const accel::Tokenizer& t, std::int32_t id) {
  if (id < 0) return "(none)";
  return std::to_string(id) + " \"" + printable(t.token_text(id)) + "\"";
}

void print_info(const gguf::File& file, const std::string& path, std::ostream& out) {
  const std::string arch = printable(file.get_string("general.architecture").value_or("(not set)"));
  const std::string p = arch + ".";
  out << "file:           " << path << " (" << human_bytes(file.file_size()) << ", GGUF v" << file.version()
      << ", alignment " << file.alignment() << ")\n";
  out << "name:           " << printable(file.get_string("general.name").value_or("(not set)")) << '\n';
  out << "architecture:   " << arch << '\n';
  out << "layers:         " << int_or_missing(file, p + "block_count") << '\n';
  out << "embedding:      " << int_or_missing(file, p + "embedding_length") << '\n';
  out << "feed-forward:   " << int_or_missing(file, p + "feed_forward_length") << '\n';
  out << "heads:          " << int_or_missing(file, p + "attention.head_count") << " (kv "
      << int_or_missing(file, p + "attention.head_count_kv") << ")\n";
  out << "context length: " << int_or_missing(file, p + "context_length") << '\n';
  if (const auto base = file.get_float(p + "rope.freq_base")) out << "rope base:      " << *base << '\n';

  std::uint64_t parameters = 0;
  std::uint64_t weight_bytes = 0;
  std::map<std::string, std::size_t> by_type;
  for (const auto& t : file.tensors()) {
    parameters += t.element_count();
    weight_bytes += t.n_bytes;
    ++by_type[gguf::type_traits(t.type)->name];
  }
  out << "parameters:     " << human_count(parameters) << " (" << human_bytes(weight_bytes) << " of weights)\n";
  out << "tensors:        " << file.tensors().size() << " (";
  bool first = true;
  for (const auto& [name, count] : by_type) {
    out << (first ? "" : ", ") << name << ": " << count;
    first = false;
  }
  out << ")\n";

  auto tokenizer = accel::Tokenizer::from_gguf(file);
  if (const auto* error = std::get_if<std::string>(&tokenizer)) {
    out << "tokenizer:      unusable: " << printable(*error) << '\n';
  } else {
    const auto& t = *std::get<std::unique_ptr<accel::Tokenizer>>(tokenizer);
    const bool spm = t.model_name() == "llama";
    out << "tokenizer:      " << t.model_name() << (spm ? " (SentencePiece)" : " (byte-level BPE, pre-tokenizer ")
        << (spm ? "" : printable(t.pre_tokenizer()) + ")") << ", " << t.vocab_size() << " tokens\n";
    out << "special tokens: bos " << token_label(t, t.bos()) << ", eos " << token_label(t, t.eos())
        << ", add bos: " << (t.add_bos_by_default() ? "yes" : "no") << '\n';
  }
  const auto chat = accel::ChatTemplate::from_gguf(file);
  out << "chat template:  " << chat.name();
  if (chat.origin() == accel::ChatTemplate::Origin::no_template)
    out << " (no tokenizer.chat_template; chosen from the vocabulary)";
  if (chat.origin() == accel::ChatTemplate::Origin::unrecognised_template)
    out << " (fallback: " << chat.fallback_note() << ")";
  out << '\n';
}

int run_info(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  // Parsed like every command's options, so that "--verbose" is an unknown option, not a file to open.
  const CommandUsage usage("sovereign model info", kUsage, out, err);
  auto parsed = usage.parse(args, ArgumentSpec().at_most(1));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  if (args.size() != 1) return usage.error("info needs FILE");
  auto result = gguf::File::open(args[0]);
  if (const auto* error = std::get_if<gguf::Error>(&result)) {
    err << "sovereign model info: " << args[0] << ": " << printable(error->to_string()) << '\n';
    return 1;
  }
  print_info(std::get<gguf::File>(result), args[0], out);
  // What `serve` checks before it allocates: a file it would refuse is reported with its words.
  if (const std::string error = accel::Engine::check_model_file(args[0]); !error.empty()) {
    err << "sovereign model info: " << printable(error) << '\n';
    return 1;
  }
  return 0;
}

int run_make_demo(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const CommandUsage usage("sovereign model make-demo", kUsage, out, err);
  auto parsed = usage.parse(args, ArgumentSpec().takes_values({"--type", "--seed"}).takes_flags({"--force"}).at_most(1));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  gguf::DemoModelOptions options;
  const std::string path = arguments.positionals().empty() ? std::string() : arguments.positionals()[0];
  if (auto name = arguments.value("--type")) {
    const auto type = gguf::tensor_type_from_name(name->c_str());
    if (!type || *type == gguf::TensorType::q4_k || *type == gguf::TensorType::q6_k) {
      err << "sovereign model make-demo: --type must be one of f32, f16, bf16, q8_0, q4_0 (got '" << *name << "')\n";
      return 2;
    }
    options.matrix_type = *type;
  }
  if (auto text = arguments.value("--seed")) {
    char* end = nullptr;
    const unsigned long seed = std::strtoul(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || seed > 0xFFFFFFFFul || !std::isdigit(static_cast<unsigned char>((*text)[0]))) {
      err << "sovereign model make-demo: --seed must be a number from 0 to 4294967295 (got '" << *text << "')\n";
      return 2;
    }
    options.seed = static_cast<std::uint32_t>(seed);
  }
  if (path.empty()) return usage.error("make-demo needs OUT.gguf");
  const bool force = arguments.flag("--force");
  std::error_code ec;
  if (!force && std::filesystem::symlink_status(path, ec).type() == std::filesystem::file_type::regular) {
    err << "sovereign model make-demo: " << path
        << " already exists; pass --force to replace it or choose another path\n";
    return 1;
  }
  if (auto error = gguf::write_demo_model(options, path, force ? gguf::Writer::Replace::regular_file
                                                               : gguf::Writer::Replace::nothing)) {
    err << "sovereign model make-demo: " << *error << '\n';
    return 1;
  }
  out << "wrote " << path << ": a llama-architecture demo model with random " << gguf::type_traits(options.matrix_type)->name
      << " weights (its output is gibberish; point a `type: local` backend's model_file at a real GGUF file for "
         "useful answers)\n";
  return 0;
}

}  // namespace

int run_model_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const CommandUsage usage("sovereign model", kUsage, out, err);
  if (const auto answered = usage.answer_without_subcommand(args)) return *answered;
  const auto rest = args.subspan(1);
  if (args[0] == "info") return run_info(rest, out, err);
  if (args[0] == "make-demo") return run_make_demo(rest, out, err);
  return usage.error("unknown command '" + args[0] + "'");
}

int run_model_command(std::span<const std::string> args) { return run_model_command(args, std::cout, std::cerr); }

}  // namespace sovereign::gateway
