#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {

std::variant<Arguments, std::string> Arguments::parse(std::span<const std::string> args, const ArgumentSpec& spec) {
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

}  // namespace sovereign::gateway
