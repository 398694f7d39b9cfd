// Encodes each case of FILE.gguf.cases with the tokenizer of FILE.gguf and compares with the reference ids;
// prints mismatches, encode throughput, and "N passed, N failed".
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <variant>

#include "accel/gguf/gguf_file.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace {

using sovereign::accel::Tokenizer;
namespace gguf = sovereign::accel::gguf;

struct Case {
  std::string text;
  std::vector<std::int32_t> ids;
};

std::vector<Case> read_cases(const std::string& path) {
  std::vector<Case> cases;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    Case c;
    for (std::size_t i = 0; i + 1 < space; i += 2) c.text.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    std::stringstream ids(line.substr(space + 1));
    for (std::string id; std::getline(ids, id, ',');) c.ids.push_back(std::stoi(id));
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: compare_with_reference FILE.gguf (with FILE.gguf.cases beside it)\n";
    return 2;
  }
  const auto load_start = std::chrono::steady_clock::now();
  auto opened = gguf::File::open(argv[1]);
  if (const auto* error = std::get_if<gguf::Error>(&opened)) {
    std::cerr << argv[1] << ": " << error->to_string() << '\n';
    return 1;
  }
  auto loaded = Tokenizer::from_gguf(std::get<gguf::File>(opened));
  if (const auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << argv[1] << ": " << *error << '\n';
    return 1;
  }
  const Tokenizer& tokenizer = *std::get<std::unique_ptr<Tokenizer>>(loaded);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();

  const auto cases = read_cases(std::string(argv[1]) + ".cases");
  int passed = 0;
  int failed = 0;
  std::string corpus;
  for (const auto& c : cases) {
    corpus += c.text;
    const auto ids = tokenizer.encode(c.text, /*add_bos=*/true, /*parse_special=*/false);
    const auto decoded = tokenizer.decode(ids);
    if (ids == c.ids && decoded == c.text) {
      ++passed;
      continue;
    }
    ++failed;
    std::cout << "MISMATCH for " << c.text << "\n  reference:";
    for (const auto id : c.ids) std::cout << ' ' << id;
    std::cout << "\n  ours:     ";
    for (const auto id : ids) std::cout << ' ' << id;
    std::cout << "\n  decoded:   " << decoded << '\n';
  }
  std::string big;
  while (!corpus.empty() && big.size() < (1u << 20)) big += corpus;
  const auto encode_start = std::chrono::steady_clock::now();
  const auto ids = tokenizer.encode(big, false, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - encode_start).count();
  std::cout << argv[1] << ": " << tokenizer.vocab_size() << " tokens loaded in " << load_ms << " ms; encodes "
            << big.size() / 1e6 / seconds << " MB/s (" << ids.size() / seconds / 1e6 << " M tokens/s)\n";
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 && passed > 0 ? 0 : 1;
}
