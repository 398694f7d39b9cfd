#pragma once
// The options of one `sovereign` subcommand, parsed the same way for every command: "--name value"
// and "--name=value" for options that take a value (once, unless the spec says it repeats; repeated
// values are kept in order),
// "--name" for flags, and positionals. Anything else is an error message the command prints
// with its usage, so every command says "unknown option '--x'" and "--x needs a value" alike.
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sovereign::gateway {

// What a subcommand accepts, e.g. ArgumentSpec().takes_values({"--key"}).takes_flags({"-f"}).at_most(1).
struct ArgumentSpec {
  std::set<std::string> values;  // options that take a value
  std::set<std::string> flags;   // options that take none
  std::set<std::string> repeatable;  // of `values`, those that may be given more than once
  std::size_t max_positionals = std::numeric_limits<std::size_t>::max();

  ArgumentSpec& takes_values(std::set<std::string> names) { values = std::move(names); return *this; }
  ArgumentSpec& repeats(std::set<std::string> names) { repeatable = std::move(names); return *this; }
  ArgumentSpec& takes_flags(std::set<std::string> names) { flags = std::move(names); return *this; }
  ArgumentSpec& at_most(std::size_t positionals) { max_positionals = positionals; return *this; }
};

class Arguments {
 public:
  // The parsed options, or a message saying what is wrong (for the command's usage error).
  static std::variant<Arguments, std::string> parse(std::span<const std::string> args, const ArgumentSpec& spec);

  const std::vector<std::string>& positionals() const { return positionals_; }
  // The last value given for `name`, if any.
  std::optional<std::string> value(const std::string& name) const;
  // Every value given for `name`, in order (empty if none).
  const std::vector<std::string>& values(const std::string& name) const;
  bool flag(const std::string& name) const { return flags_.count(name) != 0; }

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> flags_;
};

}  // namespace sovereign::gateway
