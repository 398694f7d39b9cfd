// Every subcommand parses its options through Arguments: values in both spellings and in order,
// flags, positionals, and a message for each way a command line can be wrong.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "gateway/cli/arguments.hpp"

using sovereign::gateway::ArgumentSpec;
using sovereign::gateway::Arguments;

namespace {

std::variant<Arguments, std::string> parse(std::vector<std::string> args, const ArgumentSpec& spec) {
  return Arguments::parse(args, spec);
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
}
