#pragma once
// The options of one `sovereign` subcommand, parsed the same way for every command: "--name value"
// and "--name=value" for options that take a value (once, unless the spec says it repeats; repeated
// values are kept in order),
// "--name" for flags, and positionals. Anything else is an error message the command prints
// with its usage, so every command says "unknown option '--x'" and "--x needs a value" alike.
// "--help" and "-h" ask for the usage, whatever else a command takes.
#include <cstddef>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
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

// What Arguments::parse returns for "--help" or "-h".
struct HelpRequested {};

// Whether a word asks for a command's usage: "--help" or "-h".
bool is_help_option(std::string_view word);

class Arguments {
 public:
  // The parsed options, a request for the usage (which "--help" or "-h" anywhere is), or a message
  // saying what is wrong (for the command's usage error).
  static std::variant<Arguments, std::string, HelpRequested> parse(std::span<const std::string> args,
                                                                   const ArgumentSpec& spec);

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

// How a command answers a request for its usage and a command line it cannot run, the same for every
// command: the usage on standard output and exit status 0 for "--help" or "-h"; "NAME: what is wrong"
// and the usage on standard error and exit status 2 for a mistake.
class CommandUsage {
 public:
  // `usage` is kept by reference: a literal, or text that outlives the object.
  CommandUsage(std::string name, std::string_view usage, std::ostream& out = std::cout, std::ostream& err = std::cerr)
      : name_(std::move(name)), usage_(usage), out_(out), err_(err) {}

  // Prints the usage; returns 0.
  int help() const;
  // Prints "NAME: message" and the usage; returns 2.
  int error(std::string_view message) const;
  // The options of `args`, or the exit status of a command line answered here: help or a mistake.
  std::variant<Arguments, int> parse(std::span<const std::string> args, const ArgumentSpec& spec) const;
  // For a command whose first word names its subcommand: no word at all (the usage as a mistake) and a
  // request for help ("help", "--help", "-h") are answered here; nullopt when there is a subcommand to run.
  std::optional<int> answer_without_subcommand(std::span<const std::string> args) const;

 private:
  std::string name_;
  std::string_view usage_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace sovereign::gateway
