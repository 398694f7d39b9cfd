#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <variant>

#include "accel/chat/chat_template.hpp"
#include "accel/gguf/gguf_file.hpp"
#include "accel/tokenizer/tokenizer.hpp"
#include "gateway/cli/model_command.hpp"

namespace gguf = sovereign::accel::gguf;
using sovereign::gateway::run_model_command;

namespace {

struct Run {
  int status;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  const int status = run_model_command(args, out, err);
  return {status, out.str(), err.str()};
}

std::filesystem::path temp_path(const std::string& name) { return std::filesystem::temp_directory_path() / name; }

}  // namespace

TEST_CASE("make-demo writes a llama model whose tokenizer round-trips any text and whose template is chatml") {
  for (const char* type : {"f32", "f16", "bf16", "q8_0", "q4_0"}) {
    const auto path = temp_path(std::string("sovereign_demo_") + type + ".gguf");
    const Run made = run({"make-demo", path.string(), "--type", type});
    REQUIRE_MESSAGE(made.status == 0, made.err);
    auto opened = gguf::File::open(path);
    REQUIRE(std::holds_alternative<gguf::File>(opened));
    const auto& file = std::get<gguf::File>(opened);
    CHECK(file.get_string("general.architecture") == "llama");
    CHECK(file.tensor("blk.1.ffn_down.weight") != nullptr);
    CHECK(gguf::type_traits(file.tensor("blk.0.attn_q.weight")->type)->name == std::string(type));
    auto tokenizer = sovereign::accel::Tokenizer::from_gguf(file);
    REQUIRE(std::holds_alternative<std::unique_ptr<sovereign::accel::Tokenizer>>(tokenizer));
    const auto& t = *std::get<std::unique_ptr<sovereign::accel::Tokenizer>>(tokenizer);
    CHECK(file.tensor("token_embd.weight")->dims[1] == t.vocab_size());
    for (const std::string& text : std::vector<std::string>{"Hello world, how are you?", "Grüße aus Zürich 🚀", "  tabs\tand\nnewlines ",
                                   std::string("\xFF\x00 raw", 6)}) {
      CHECK(t.decode(t.encode(text, true, false)) == text);
    }
    // Common words are single tokens: BOS, "▁Hello", "▁world".
    CHECK(t.encode("Hello world", true).size() == 3);
    CHECK(sovereign::accel::ChatTemplate::from_gguf(file).name() == "chatml");
    std::filesystem::remove(path);
  }
}

TEST_CASE("model info prints architecture, sizes, types, tokenizer and template") {
  const auto path = temp_path("sovereign_demo_info.gguf");
  REQUIRE(run({"make-demo", path.string(), "--type", "q8_0", "--seed", "7"}).status == 0);
  const Run info = run({"info", path.string()});
  CHECK(info.status == 0);
  CHECK(info.out.find("architecture:   llama\n") != std::string::npos);
  CHECK(info.out.find("layers:         2\n") != std::string::npos);
  CHECK(info.out.find("heads:          4 (kv 2)\n") != std::string::npos);
  CHECK(info.out.find("q8_0: 16") != std::string::npos);
  CHECK(info.out.find("f32: 5") != std::string::npos);
  CHECK(info.out.find("tokenizer:      llama (SentencePiece)") != std::string::npos);
  CHECK(info.out.find("chat template:  chatml\n") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("model info reports a corrupt file with the field and byte offset") {
  const auto path = temp_path("sovereign_corrupt.gguf");
  REQUIRE(run({"make-demo", path.string()}).status == 0);
  std::filesystem::resize_file(path, 2000);
  const Run info = run({"info", path.string()});
  CHECK(info.status == 1);
  CHECK(info.err.find(path.string() + ": byte ") != std::string::npos);
  CHECK(info.err.find("(metadata[") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("model command usage errors exit with status 2") {
  CHECK(run({}).status == 2);
  CHECK(run({"frobnicate"}).status == 2);
  CHECK(run({"info"}).status == 2);
  CHECK(run({"make-demo"}).status == 2);
  const Run bad_type = run({"make-demo", "x.gguf", "--type", "q4_k"});
  CHECK(bad_type.status == 2);
  CHECK(bad_type.err == "sovereign model make-demo: --type must be one of f32, f16, bf16, q8_0, q4_0 (got 'q4_k')\n");
  CHECK(run({"make-demo", "x.gguf", "--seed", "-1"}).status == 2);
  CHECK(run({"make-demo", "x.gguf", "--seed= 5"}).status == 2);
  const Run misspelt = run({"make-demo", "x.gguf", "--sed", "5"});
  CHECK(misspelt.status == 2);
  CHECK(misspelt.err.starts_with("sovereign model make-demo: unknown option '--sed'\n"));
  CHECK(run({"make-demo", "x.gguf", "y.gguf"}).status == 2);
}
