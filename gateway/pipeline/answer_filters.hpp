#pragma once
// The filters each text of an answer goes through (gateway/pipeline/response_rewriter.hpp): the
// policy's output scan, with the vault's tokens restored in it. A token the vault holds for this
// tenant and conversation is read by the scan as its value, the text the client will read: the value
// is the client's own and is never removed (a token's name is no value either: six hex digits that
// happen to be all decimal would read as an account number), while the model's text around it is
// decided with it, so a context word after it counts as it would with the value written out. Text
// only shaped like a token is scanned like any other.
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
