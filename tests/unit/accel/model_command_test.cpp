#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <sstream>
#include <variant>

#include "accel/chat/chat_template.hpp"
#include "accel/compute/engine.hpp"
#include "accel/gguf/demo_model.hpp"
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

// The demo model with one change made before it is written.
std::filesystem::path tampered_demo(const std::string& name, const std::function<void(gguf::Writer&)>& tamper) {
  gguf::Writer writer;
  REQUIRE_FALSE(gguf::build_demo_model({}, writer).has_value());
  tamper(writer);
  const auto path = temp_path(name);
  REQUIRE_FALSE(writer.write(path).has_value());
  return path;
}

// What `serve` says of the file (its load fails before anything is allocated for these files).
std::string serve_error(const std::filesystem::path& path) {
  auto loaded = sovereign::accel::Engine::load({.model_file = path, .device = "cpu", .context_length = 64, .max_batch = 1});
  REQUIRE(std::holds_alternative<std::string>(loaded));
  return std::get<std::string>(loaded);
}

}  // namespace

TEST_CASE("make-demo writes a llama model whose tokenizer round-trips any text and whose template is chatml") {
  for (const char* type : {"f32", "f16", "bf16", "q8_0", "q4_0"}) {
    const auto path = temp_path(std::string("sovereign_demo_") + type + ".gguf");
    const Run made = run({"make-demo", path.string(), "--type", type, "--force"});
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
  REQUIRE(run({"make-demo", path.string(), "--type", "q8_0", "--seed", "7", "--force"}).status == 0);
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
  REQUIRE(run({"make-demo", path.string(), "--force"}).status == 0);
  std::filesystem::resize_file(path, 2000);
  const Run info = run({"info", path.string()});
  CHECK(info.status == 1);
  CHECK(info.err.find(path.string() + ": byte ") != std::string::npos);
  CHECK(info.err.find("(metadata[") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("model info refuses, with serve's words, files that serve refuses") {
  const std::vector<std::pair<std::string, std::function<void(gguf::Writer&)>>> cases = {
      {"'general.architecture' (byte ", [](gguf::Writer& w) { w.set("general.architecture", std::string("gpt-j")); }},
      {"'llama.attention.head_count' (byte ", [](gguf::Writer& w) { w.set("llama.attention.head_count", std::uint32_t{0}); }},
      {"'llama.context_length' (byte ", [](gguf::Writer& w) { w.set("llama.context_length", std::uint32_t{0}); }},
      {"'tokenizer.ggml.model' (byte ", [](gguf::Writer& w) { w.set("tokenizer.ggml.model", std::string("wordpiece")); }},
      {"tensor 'blk.0.attn_q.weight' has dims",
       [](gguf::Writer& w) {
         w.set("llama.attention.key_length", std::uint32_t{16});
         w.set("llama.attention.value_length", std::uint32_t{16});
         w.set("llama.rope.dimension_count", std::uint32_t{16});
       }},
  };
  for (const auto& [expected, tamper] : cases) {
    CAPTURE(expected);
    const auto path = tampered_demo("sovereign_info_refused.gguf", tamper);
    const Run info = run({"info", path.string()});
    CHECK(info.status == 1);
    CHECK(info.err == "sovereign model info: " + serve_error(path) + "\n");
    CHECK(info.err.find(expected) != std::string::npos);
    std::filesystem::remove(path);
  }
}

TEST_CASE("model info says when the file's chat template is not recognised and which format is used instead") {
  const auto path = tampered_demo("sovereign_info_template.gguf", [](gguf::Writer& w) {
    w.set("tokenizer.chat_template", std::string("{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}"));
  });
  const Run info = run({"info", path.string()});
  CHECK(info.status == 0);
  CHECK(info.out.find("chat template:  chatml (fallback: the file's tokenizer.chat_template is not one this engine "
                      "recognises (chatml, llama3, llama2, mistral, zephyr); chat requests are rendered as chatml, chosen "
                      "from the vocabulary") != std::string::npos);
  std::filesystem::remove(path);
}

// A fresh directory of its own for each test that needs one (never a system path).
std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = temp_path(name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("make-demo never replaces a directory, FIFO or symlink, and names what the target is") {
  const auto dir = fresh_dir("sovereign_make_demo_targets");
  const auto sub = dir / "sub";
  std::filesystem::create_directories(sub);
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto notes = dir / "notes.txt";
  std::ofstream(notes) << "keep me";
  const auto link = dir / "link.gguf";
  std::filesystem::create_symlink(notes, link);
  const std::vector<std::pair<std::filesystem::path, std::string>> cases = {
      {sub, "a directory"}, {fifo, "a FIFO (named pipe)"}, {link, "a symbolic link"}};
  for (const auto& [target, kind] : cases) {
    for (const bool force : {false, true}) {
      CAPTURE(target);
      CAPTURE(force);
      const Run made = force ? run({"make-demo", target.string(), "--force"}) : run({"make-demo", target.string()});
      CHECK(made.status == 1);
      CHECK(made.err == "sovereign model make-demo: refusing to write " + target.string() + ": it is " + kind +
                            "; a model is written only to a new path or over a regular file\n");
      CHECK_FALSE(std::filesystem::exists(target.string() + ".partial"));
    }
  }
  CHECK(std::filesystem::is_directory(sub));
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK(std::filesystem::is_symlink(link));
  CHECK(file_text(notes) == "keep me");
  std::filesystem::remove_all(dir);
}

TEST_CASE("make-demo replaces an existing regular file only with --force") {
  const auto dir = fresh_dir("sovereign_make_demo_existing");
  const auto notes = dir / "notes.txt";
  std::ofstream(notes) << "keep me";
  const Run refused = run({"make-demo", notes.string()});
  CHECK(refused.status == 1);
  CHECK(refused.err == "sovereign model make-demo: " + notes.string() +
                           " already exists; pass --force to replace it or choose another path\n");
  CHECK(file_text(notes) == "keep me");
  CHECK_FALSE(std::filesystem::exists(notes.string() + ".partial"));

  const Run forced = run({"make-demo", notes.string(), "--force"});
  CHECK_MESSAGE(forced.status == 0, forced.err);
  CHECK(std::holds_alternative<gguf::File>(gguf::File::open(notes)));

  const auto fresh = dir / "new.gguf";
  CHECK(run({"make-demo", fresh.string()}).status == 0);
  CHECK(std::filesystem::is_regular_file(fresh));
  std::filesystem::remove_all(dir);
}

TEST_CASE("make-demo does not write through a leftover .partial that is not a regular file") {
  const auto dir = fresh_dir("sovereign_make_demo_partial");
  const auto notes = dir / "notes.txt";
  std::ofstream(notes) << "keep me";
  const auto target = dir / "demo.gguf";
  std::filesystem::create_symlink(notes, target.string() + ".partial");
  const Run made = run({"make-demo", target.string()});
  CHECK(made.status == 1);
  CHECK(made.err == "sovereign model make-demo: refusing to write " + target.string() +
                        ".partial: it is a symbolic link; remove it or choose another path\n");
  CHECK(file_text(notes) == "keep me");
  CHECK_FALSE(std::filesystem::exists(target));
  std::filesystem::remove_all(dir);
}

TEST_CASE("--help after a model subcommand prints the usage, exit 0, and opens or writes nothing") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"info", "--help"}, {"info", "-h"}, {"make-demo", "--help"}, {"make-demo", "out.gguf", "-h"}}) {
    CAPTURE(args[0]);
    CAPTURE(args[1]);
    const Run help = run(args);
    CHECK(help.status == 0);
    CHECK(help.out.starts_with("usage: sovereign model COMMAND"));
    CHECK(help.err.empty());
  }
  CHECK_FALSE(std::filesystem::exists("out.gguf"));
  const Run unknown = run({"info", "--verbose"});
  CHECK(unknown.status == 2);
  CHECK(unknown.err.starts_with("sovereign model info: unknown option '--verbose'\n"));
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
