#include "gateway/pipeline/answer_filters.hpp"

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

class ScanFilter : public TextFilter {
 public:
  ScanFilter(const AnswerFilterSettings& settings, TextForm form)
      : scanner_(settings.policy, settings.tenant,
                 form == TextForm::json ? policy::AnswerText::json_text : policy::AnswerText::prose),
        tokens_(token_text(form)),
        vault_(settings.vault),
        tenant_(settings.tenant),
        scope_(settings.scope),
        totals_(settings.totals) {}
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
  bool failed() const override { return scanner_.failed(); }

 private:
  // Text between tokens is scanned; a token the restore will replace ends what the scanner held back
  // (no value runs through it) and goes out as written. Anything only shaped like a token (invented
  // by the model, altered, another tenant's or conversation's, expired) is scanned as the text it
  // is: its name takes any digits, so ⟦A_4111111111111111⟧ would otherwise carry a card number out.
  crypto::TokenFinder::Output around_tokens(std::string& out) {
    return {[this, &out](std::string_view plain) { out += scanner_.feed(plain); },
            [this, &out](std::string_view written, std::string_view token) {
              if (vault_ == nullptr || !vault_->holds(tenant_, scope_, token)) {
                out += scanner_.feed(written);
                return;
              }
              out += scanner_.finish();
              out.append(written);
            }};
  }

  void report() {
    if (reported_ || !totals_) return;
    reported_ = true;
    for (const auto& [name, count] : scanner_.counts()) (*totals_)[name] += count;
  }

  policy::ResponseScanner scanner_;
  crypto::TokenFinder tokens_;
  const crypto::TokenVault* vault_;  // none configured: no token is restored, none stepped over
  std::string tenant_;
  std::string scope_;
  bool reported_ = false;
  std::shared_ptr<std::map<std::string, int>> totals_;
};

class RestoreFilter : public TextFilter {
 public:
  RestoreFilter(const AnswerFilterSettings& settings, TextForm form)
      : restorer_(*settings.vault, settings.tenant, settings.scope, token_text(form)) {}
  std::string feed(std::string_view text) override { return restorer_.feed(text); }
  std::string finish() override { return restorer_.finish(); }

 private:
  crypto::TokenRestorer restorer_;
};

}  // namespace

FilterChain answer_filters(const AnswerFilterSettings& settings, TextForm form) {
  FilterChain chain;
  // Scan what the model wrote (tokens, not values), then restore the tokens.
  chain.push_back(std::make_unique<ScanFilter>(settings, form));
  if (settings.vault != nullptr) chain.push_back(std::make_unique<RestoreFilter>(settings, form));
  return chain;
}

}  // namespace sovereign::gateway
