#include "policy/rule_tenants.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace sovereign::policy {

namespace {

bool has(const std::vector<std::size_t>& sorted, std::size_t item) {
    return std::binary_search(sorted.begin(), sorted.end(), item);
}

void sort_unique(std::vector<std::size_t>& items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
}

}  // namespace

RuleTenants::RuleTenants(const PolicyModel& model)
    : model_(model), named_(model.rules.size()), exempt_(model.rules.size()) {
    // Names may repeat in a policy that did not load (lint analyses what could be read of it): each
    // name stands for every tenant or rule that has it, as comparing names did.
    std::unordered_map<std::string_view, std::vector<std::size_t>> tenants_named;
    for (std::size_t t = 0; t < model.tenants.size(); ++t) tenants_named[model.tenants[t].name].push_back(t);
    std::unordered_map<std::string_view, std::vector<std::size_t>> rules_named;
    for (std::size_t r = 0; r < model.rules.size(); ++r) rules_named[model.rules[r].name].push_back(r);

    for (std::size_t r = 0; r < model.rules.size(); ++r) {
        for (const auto& name : model.rules[r].when.tenants)
            if (const auto found = tenants_named.find(name); found != tenants_named.end())
                named_[r].insert(named_[r].end(), found->second.begin(), found->second.end());
        sort_unique(named_[r]);
    }
    for (std::size_t t = 0; t < model.tenants.size(); ++t)
        for (const auto& name : model.tenants[t].exempt_from)
            if (const auto found = rules_named.find(name); found != rules_named.end())
                for (const auto r : found->second) exempt_[r].push_back(t);
    for (auto& tenants : exempt_) sort_unique(tenants);
}

bool RuleTenants::applies_to(std::size_t rule, std::size_t tenant) const {
    return !names_tenants(rule) || has(named_[rule], tenant);
}

bool RuleTenants::exempts(std::size_t rule, std::size_t tenant) const { return has(exempt_[rule], tenant); }

bool RuleTenants::escapes(std::size_t earlier, std::size_t later) const {
    return std::any_of(exempt_[earlier].begin(), exempt_[earlier].end(),
                       [&](std::size_t t) { return !exempts(later, t) && applies_to(later, t); });
}

}  // namespace sovereign::policy
