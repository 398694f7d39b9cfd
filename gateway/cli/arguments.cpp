#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {

bool is_help_option(std::string_view word) { return word == "--help" || word == "-h"; }

std::variant<Arguments, std::string, HelpRequested> Arguments::parse(std::span<const std::string> args,
                                                                     const ArgumentSpec& spec) {
  // Asked for anywhere, the usage is the answer, even to a command line that is wrong otherwise.
  for (const std::string& arg : args)
    if (is_help_option(arg)) return HelpRequested{};
  Arguments parsed;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      if (parsed.positionals_.size() == spec.max_positionals) return "unexpected argument '" + arg + "'";
      parsed.positionals_.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    if (is_help_option(name)) return name + " takes no value";
    if (spec.flags.count(name) != 0) {
      if (inline_value) return name + " takes no value";
      parsed.flags_.insert(name);
    } else if (spec.values.count(name) != 0) {
      if (!inline_value && i + 1 >= args.size()) return name + " needs a value";
      auto& given = parsed.values_[name];
      if (!given.empty() && spec.repeatable.count(name) == 0) return name + " is given twice; give it once";
      given.push_back(inline_value ? *inline_value : args[++i]);
    } else {
      return "unknown option '" + name + "'";
    }
  }
  return parsed;
}

std::optional<std::string> Arguments::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& Arguments::values(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = values_.find(name);
  return it == values_.end() ? none : it->second;
}

int CommandUsage::help() const {
  out_ << usage_;
  return 0;
}

int CommandUsage::error(std::string_view message) const {
  err_ << name_ << ": " << message << "\n\n" << usage_;
  return 2;
}

std::variant<Arguments, int> CommandUsage::parse(std::span<const std::string> args, const ArgumentSpec& spec) const {
  auto parsed = Arguments::parse(args, spec);
  if (auto* arguments = std::get_if<Arguments>(&parsed)) return std::move(*arguments);
  if (auto* mistake = std::get_if<std::string>(&parsed)) return error(*mistake);
  return help();
}

std::optional<int> CommandUsage::answer_without_subcommand(std::span<const std::string> args) const {
  if (args.empty()) return error("no command given");
  if (args[0] == "help" || is_help_option(args[0])) return help();
  return std::nullopt;
}

}  // namespace sovereign::gateway
