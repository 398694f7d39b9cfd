// The filters of an answer's texts: the policy's scan steps over vault tokens, then tokens are
// restored; wherever the stream is cut, the text reads as the whole answer does.
#include <doctest/doctest.h>

#include <string>

#include "crypto/key_file.hpp"
#include "crypto/token_vault.hpp"
#include "gateway/pipeline/answer_filters.hpp"
#include "policy/policy.hpp"

using namespace sovereign;
using namespace sovereign::gateway;

namespace {

constexpr std::string_view account_policy = R"(classes: [public, confidential]
zones: [{name: site}]
detectors:
  - {name: account_number, class: confidential, pattern: '[0-9]{6,10}'}
responses: {redact: [account_number]}
rules: [{name: all, then: {action: allow}}]
)";

std::string through(FilterChain chain, const std::vector<std::string_view>& pieces) {
  std::string out;
  for (auto piece : pieces) {
    std::string text(piece);
    for (auto& filter : chain) text = filter->feed(text);
    out += text;
  }
  std::string carry;
  for (auto& filter : chain) carry = filter->feed(carry) + filter->finish();
  return out + carry;
}

std::string whole(FilterChain chain, std::string_view text) {
  std::string out(text);
  for (auto& filter : chain) out = filter->complete(out);
  return out;
}

}  // namespace

TEST_SUITE("answer filters") {
  TEST_CASE("a token whose name reads as a value is stepped over by the scan and restored, wherever it is cut") {
    auto loaded = policy::load_policy_text(account_policy, "answers.yaml");
    REQUIRE(loaded.policy);
    auto vault = crypto::TokenVault::create(crypto::generate_key(crypto::KeyKind::vault), {});
    REQUIRE(vault.ok());
    auto issued = vault.value()->tokenize("acme", "conv", "EMAIL", "jane@example.com");
    REQUIRE(issued.ok());
    const std::string token = issued.value();
    // A name of six decimal digits, as one token in about sixteen has: never issued, still a token.
    const std::string digits_only = "\xE2\x9F\xA6" "EMAIL_688774\xE2\x9F\xA7";
    AnswerFilterSettings settings{loaded.policy, vault.value().get(), "acme", "conv", nullptr};
    for (const TextForm form : {TextForm::prose, TextForm::json}) {
      const std::string text = "To " + token + " or " + digits_only + ", account 12345678, ref 99" + token + "77.";
      const std::string expected =
          "To jane@example.com or " + digits_only + ", account [REDACTED:account_number], ref 99jane@example.com77.";
      CHECK(whole(answer_filters(settings, form), text) == expected);
      for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        CAPTURE(cut);
        const std::string_view v(text);
        CHECK(through(answer_filters(settings, form), {v.substr(0, cut), v.substr(cut)}) == expected);
      }
    }
  }

  TEST_CASE("in arguments, a token written with escaped brackets is stepped over by the scan too") {
    auto loaded = policy::load_policy_text(account_policy, "answers.yaml");
    REQUIRE(loaded.policy);
    AnswerFilterSettings settings{loaded.policy, nullptr, "acme", "conv", nullptr};
    const std::string text = R"({"to":"\u27e6EMAIL_688774\u27E7","account":"12345678"})";
    CHECK(whole(answer_filters(settings, TextForm::json), text) ==
          R"({"to":"\u27e6EMAIL_688774\u27E7","account":"[REDACTED:account_number]"})");
    CHECK(through(answer_filters(settings, TextForm::json), {std::string_view(text).substr(0, 20), std::string_view(text).substr(20)}) ==
          R"({"to":"\u27e6EMAIL_688774\u27E7","account":"[REDACTED:account_number]"})");
  }
}
