#include "gateway/runtime/policy_findings_log.hpp"

#include "gateway/log/access_log.hpp"
#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"

namespace sovereign::gateway {

PolicyFindingsLog::PolicyFindingsLog() : thread_([this](std::stop_token stop) { run(stop); }) {}

PolicyFindingsLog::~PolicyFindingsLog() {
  // The thread is told to stop before the analysis in progress is: it then takes up no other one.
  thread_.request_stop();
  {
    std::lock_guard lock(mutex_);
    current_.request_stop();
  }
  thread_.join();
}

void PolicyFindingsLog::analyse(std::shared_ptr<const policy::Policy> policy,
                                std::vector<policy::BackendInfo> backends) {
  {
    std::lock_guard lock(mutex_);
    next_ = Job{std::move(policy), std::move(backends)};
    current_.request_stop();
  }
  wake_.notify_one();
}

void PolicyFindingsLog::run(std::stop_token stop) {
  for (;;) {
    Job job;
    std::stop_token job_stop;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, stop, [this] { return next_.has_value(); });
      if (stop.stop_requested()) return;
      job = std::move(*next_);
      next_.reset();
      current_ = std::stop_source();
      job_stop = current_.get_token();
    }
    if (!job.policy) continue;
    const auto findings = policy::analyse_policy(*job.policy, &job.backends, nullptr, job_stop);
    if (job_stop.stop_requested()) continue;  // given up: what it found may be incomplete
    for (const auto& finding : findings)
      log_event("warn", "policy_lint_finding", policy::format_diagnostic(finding));
  }
}

}  // namespace sovereign::gateway
