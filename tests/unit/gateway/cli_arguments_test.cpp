// Every subcommand parses its options through Arguments: values in both spellings and in order,
// flags, positionals, and a message for each way a command line can be wrong.
#include <doctest/doctest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "gateway/cli/arguments.hpp"
#include "gateway/cli/number_option.hpp"

using sovereign::gateway::ArgumentSpec;
using sovereign::gateway::Arguments;
using sovereign::gateway::CommandUsage;
using sovereign::gateway::HelpRequested;

namespace {

std::variant<Arguments, std::string, HelpRequested> parse(std::vector<std::string> args, const ArgumentSpec& spec) {
  return Arguments::parse(args, spec);
}

// What a command prints and returns for a command line, with its usage "usage: x ARGS\n".
struct Answer {
  std::variant<Arguments, int> result;
  std::string out;
  std::string err;
};

Answer answer(std::vector<std::string> args, const ArgumentSpec& spec) {
  std::ostringstream out;
  std::ostringstream err;
  const CommandUsage usage("sovereign x", "usage: x ARGS\n", out, err);
  auto result = usage.parse(args, spec);
  return {std::move(result), out.str(), err.str()};
}

std::string error_of(std::vector<std::string> args, const ArgumentSpec& spec) {
  auto result = parse(std::move(args), spec);
  REQUIRE(std::holds_alternative<std::string>(result));
  return std::get<std::string>(result);
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("values in both spellings, repeated values in order, flags and positionals") {
    const auto spec = ArgumentSpec().takes_values({"--key", "--limit"}).repeats({"--key"}).takes_flags({"-f"});
    auto result = parse({"DIR", "--key", "a.pub", "-f", "--key=b.pub", "--limit=5", "EXTRA"}, spec);
    REQUIRE(std::holds_alternative<Arguments>(result));
    const Arguments& args = std::get<Arguments>(result);
    CHECK(args.positionals() == std::vector<std::string>{"DIR", "EXTRA"});
    CHECK(args.values("--key") == std::vector<std::string>{"a.pub", "b.pub"});
    CHECK(args.value("--key") == "b.pub");
    CHECK(args.value("--limit") == "5");
    CHECK(args.flag("-f"));
    CHECK_FALSE(args.flag("--other"));
    CHECK_FALSE(args.value("--other").has_value());
    CHECK(args.values("--other").empty());
  }

  TEST_CASE("a value may start with a dash, be empty, or contain '='") {
    const auto spec = ArgumentSpec().takes_values({"--seed", "--filter"}).repeats({"--seed"});
    auto result = parse({"--seed", "-1", "--filter=a=b", "--seed="}, spec);
    REQUIRE(std::holds_alternative<Arguments>(result));
    const Arguments& args = std::get<Arguments>(result);
    CHECK(args.values("--seed") == std::vector<std::string>{"-1", ""});
    CHECK(args.value("--filter") == "a=b");
  }

  TEST_CASE("a lone dash is a positional (standard input by convention)") {
    auto result = parse({"-"}, ArgumentSpec());
    REQUIRE(std::holds_alternative<Arguments>(result));
    CHECK(std::get<Arguments>(result).positionals() == std::vector<std::string>{"-"});
  }

  TEST_CASE("each mistake gets its own message") {
    const auto spec = ArgumentSpec().takes_values({"--config"}).takes_flags({"--require-closed"}).at_most(1);
    CHECK(error_of({"--confg", "x"}, spec) == "unknown option '--confg'");
    CHECK(error_of({"--config"}, spec) == "--config needs a value");
    CHECK(error_of({"--require-closed=yes"}, spec) == "--require-closed takes no value");
    CHECK(error_of({"one", "two"}, spec) == "unexpected argument 'two'");
    CHECK(error_of({"x"}, ArgumentSpec().at_most(0)) == "unexpected argument 'x'");
    // An option that is not declared repeatable is taken once: a second value would silently win.
    CHECK(error_of({"--config", "a.yaml", "--config=b.yaml"}, spec) == "--config is given twice; give it once");
  }

  TEST_CASE("--help and -h ask for the usage wherever they stand, whatever else the command line holds") {
    const auto spec = ArgumentSpec().takes_values({"--config"}).at_most(1);
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"--help"}, {"-h"}, {"FILE", "--help"}, {"--config", "x", "-h"}, {"--bogus", "--help"}, {"a", "b", "-h"}}) {
      CAPTURE(args.size());
      CHECK(std::holds_alternative<HelpRequested>(parse(args, spec)));
    }
    // Given a value, it is a mistake; as a word on its own ("help"), a positional.
    CHECK(error_of({"--help=yes"}, spec) == "--help takes no value");
    auto word = parse({"help"}, spec);
    REQUIRE(std::holds_alternative<Arguments>(word));
    CHECK(std::get<Arguments>(word).positionals() == std::vector<std::string>{"help"});
  }

  TEST_CASE("a command prints its usage on stdout with status 0 for help, and on stderr with status 2 after a mistake") {
    const auto spec = ArgumentSpec().takes_values({"--config"}).at_most(0);
    const Answer help = answer({"--config", "x", "--help"}, spec);
    CHECK(std::get<int>(help.result) == 0);
    CHECK(help.out == "usage: x ARGS\n");
    CHECK(help.err.empty());
    const Answer mistake = answer({"--confg", "x"}, spec);
    CHECK(std::get<int>(mistake.result) == 2);
    CHECK(mistake.out.empty());
    CHECK(mistake.err == "sovereign x: unknown option '--confg'\n\nusage: x ARGS\n");
    const Answer good = answer({"--config", "x"}, spec);
    REQUIRE(std::holds_alternative<Arguments>(good.result));
    CHECK(std::get<Arguments>(good.result).value("--config") == "x");
    CHECK(good.out.empty());
    CHECK(good.err.empty());
  }

  TEST_CASE("a command that takes a subcommand answers none, help, --help and -h before looking for one") {
    std::ostringstream out;
    std::ostringstream err;
    const CommandUsage usage("sovereign x", "usage: x COMMAND\n", out, err);
    CHECK(usage.answer_without_subcommand(std::vector<std::string>{}) == 2);
    CHECK(err.str() == "sovereign x: no command given\n\nusage: x COMMAND\n");
    for (const char* word : {"help", "--help", "-h"}) CHECK(usage.answer_without_subcommand(std::vector<std::string>{word}) == 0);
    CHECK(out.str() == "usage: x COMMAND\nusage: x COMMAND\nusage: x COMMAND\n");
    CHECK_FALSE(usage.answer_without_subcommand(std::vector<std::string>{"check", "--help"}).has_value());
  }
}

TEST_CASE("a numeric option past its range is told the bound, not that it is not a number") {
  using sovereign::gateway::parse_whole_number;
  const auto problem = [](std::string_view what, std::string_view text, std::uint64_t min, std::uint64_t max) {
    auto parsed = parse_whole_number(what, text, min, max);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    return std::get<std::string>(parsed);
  };
  CHECK(std::get<std::uint64_t>(parse_whole_number("-n", "42")) == 42);
  CHECK(std::get<std::uint64_t>(parse_whole_number("-n", "18446744073709551615")) == 18446744073709551615ULL);
  CHECK(problem("-n", "99999999999999999999", 0, UINT64_MAX) ==
        "-n 99999999999999999999 is too large: at most 18446744073709551615");
  CHECK(problem("-n", "18446744073709551616", 0, UINT64_MAX) ==
        "-n 18446744073709551616 is too large: at most 18446744073709551615");
  CHECK(problem("--threads", "2147483648", 1, 2147483647) == "--threads 2147483648 is too large: at most 2147483647");
  CHECK(problem("--threads", "0", 1, 2147483647) == "--threads 0 is too small: at least 1");
  for (const char* text : {"", "ten", "-1", "+1", "1.5", " 1", "1 ", "0x10"})
    CHECK(problem("-n", text, 0, UINT64_MAX) == "-n needs a whole number, got '" + std::string(text) + "'");
}
