#include "gateway/pipeline/answer_filters.hpp"

#include <optional>

#include "crypto/token_finder.hpp"
#include "crypto/token_restorer.hpp"
#include "policy/response_scanner.hpp"

namespace sovereign::gateway {
namespace {

crypto::TokenText token_text(TextForm form) { return form == TextForm::json ? crypto::TokenText::json : crypto::TokenText::plain; }

// Whether text may hold a token's opening bracket, raw or escaped: most answers do not, and are
// scanned in one pass.
bool may_hold_token(std::string_view text) {
  return text.find(crypto::token_open) != std::string_view::npos || text.find("u27e6") != std::string_view::npos ||
         text.find("u27E6") != std::string_view::npos;
}

// The policy's scan of one text, with the vault's tokens restored in it. The scan reads the text as
// the client will: a token of this tenant and conversation stands there as its value, which the
// client sent itself and so is never removed, while the model's text around it is decided with it
// (a context word after it still counts, a value it completes is still found). Anything only shaped
// like a token (invented by the model, altered, another tenant's or conversation's, expired) is
// scanned as the text it is: its name takes any digits, so ⟦A_4111111111111111⟧ would otherwise
// carry a card number out.
class ScanFilter : public TextFilter {
 public:
  ScanFilter(const AnswerFilterSettings& settings, TextForm form)
      : scanner_(settings.policy, settings.tenant,
                 form == TextForm::json ? policy::AnswerText::json_text : policy::AnswerText::prose),
        tokens_(token_text(form)),
        totals_(settings.totals) {
    if (settings.vault != nullptr) restorer_.emplace(*settings.vault, settings.tenant, settings.scope, token_text(form));
  }
  ~ScanFilter() override { report(); }
  std::string feed(std::string_view text) override {
    std::string out;
    tokens_.feed(text, around_tokens(out));
    return out;
  }
  // The totals must be complete when the outcome record is written, which happens right after
  // the response ends: report at finish, not when the filter happens to be destroyed.
  std::string finish() override {
    std::string out;
    tokens_.finish(around_tokens(out));
    out += scanner_.finish();
    report();
    return out;
  }
  std::string complete(std::string_view text) override {
    if (may_hold_token(text)) return TextFilter::complete(text);
    std::string out = scanner_.complete(text);
    report();
    return out;
  }
  std::optional<std::string> complete_changed(std::string_view text) override {
    if (may_hold_token(text)) return TextFilter::complete_changed(text);
    std::optional<std::string> out = scanner_.complete_changed(text);
    report();
    return out;
  }
  bool failed() const override { return scanner_.failed(); }

 private:
  crypto::TokenFinder::Output around_tokens(std::string& out) {
    return {[this, &out](std::string_view plain) { out += scanner_.feed(plain); },
            [this, &out](std::string_view written, std::string_view token) {
              const std::optional<std::string> value = restorer_ ? restorer_->value_of(token) : std::nullopt;
              out += value ? scanner_.feed_protected(*value) : scanner_.feed(written);
            }};
  }

  void report() {
    if (reported_ || !totals_) return;
    reported_ = true;
    for (const auto& [name, count] : scanner_.counts()) (*totals_)[name] += count;
  }

  policy::ResponseScanner scanner_;
  crypto::TokenFinder tokens_;
  std::optional<crypto::TokenRestorer> restorer_;  // none configured: no token is restored
  bool reported_ = false;
  std::shared_ptr<std::map<std::string, int>> totals_;
};

}  // namespace

FilterChain answer_filters(const AnswerFilterSettings& settings, TextForm form) {
  FilterChain chain;
  chain.push_back(std::make_unique<ScanFilter>(settings, form));
  return chain;
}

}  // namespace sovereign::gateway
