#pragma once
// Logs what `policy lint` finds in each policy the gateway installs (shadowed rules, tenants no rule
// allows or no backend can serve...) as policy_lint_finding warnings, on a thread of its own: on a
// policy of thousands of rules and tenants the analysis takes a while, and neither serving, a reload
// nor a shutdown may wait for it.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::gateway {

class PolicyFindingsLog {
 public:
  PolicyFindingsLog();
  // Ends an analysis in progress (it stops at its next rule or tenant) without logging its findings.
  ~PolicyFindingsLog();
  PolicyFindingsLog(const PolicyFindingsLog&) = delete;
  PolicyFindingsLog& operator=(const PolicyFindingsLog&) = delete;

  // Analyses this policy next, with the gateway's backends (a null policy: none serves, nothing to
  // analyse). A policy not yet analysed, or being analysed, is given up: its findings would be about a
  // policy no longer serving.
  void analyse(std::shared_ptr<const policy::Policy> policy, std::vector<policy::BackendInfo> backends);

 private:
  struct Job {
    std::shared_ptr<const policy::Policy> policy;
    std::vector<policy::BackendInfo> backends;
  };
  void run(std::stop_token stop);

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::optional<Job> next_;
  std::stop_source current_;  // stops the analysis in progress
  std::jthread thread_;       // last: it starts with the members above in place
};

}  // namespace sovereign::gateway
