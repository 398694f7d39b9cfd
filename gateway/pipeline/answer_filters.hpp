#pragma once
// The filters each text of an answer goes through (gateway/pipeline/response_rewriter.hpp): the
// policy's output scan, then the vault's token restore. The scan steps over the tokens the restore
// will replace (the vault holds them for this tenant and conversation): a token's name is no value
// (six hex digits that happen to be all decimal read as an account number), and a token redacted
// inside could never be restored. Text only shaped like a token is scanned like any other.
#include <map>
#include <memory>
#include <string>

#include "crypto/token_vault.hpp"
#include "gateway/pipeline/response_rewriter.hpp"
#include "policy/policy.hpp"

namespace sovereign::gateway {

struct AnswerFilterSettings {
  std::shared_ptr<const policy::Policy> policy;
  const crypto::TokenVault* vault = nullptr;  // none configured: nothing to restore
  std::string tenant;
  std::string scope;  // the vault scope of the request's conversation
  // Findings per detector across the whole answer (metadata for the outcome record and metrics).
  std::shared_ptr<std::map<std::string, int>> totals;
};

FilterChain answer_filters(const AnswerFilterSettings& settings, TextForm form);

}  // namespace sovereign::gateway
