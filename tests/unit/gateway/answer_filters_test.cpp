// The filters of an answer's texts: the policy's scan reads each vault token of the conversation as
// the value it restores, which it never removes; text only shaped like a token is scanned like any
// other; wherever the stream is cut, the text reads as the whole answer does.
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

constexpr std::string_view ssn_policy = R"(classes: [public, confidential]
zones: [{name: site}]
responses: {redact: [us_ssn]}
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

// Whether a token's name is six decimal digits, which an account-number pattern reads as a value.
bool named_in_digits(const std::string& token) {
  const std::string_view name = std::string_view(token).substr(token.rfind('_') + 1, 6);
  return name.find_first_not_of("0123456789") == std::string_view::npos;
}

// A token of the vault whose name is six decimal digits, as about one in sixteen is: values are
// tried until one gets such a name.
std::string token_named_in_digits(crypto::TokenVault& vault, std::string& value) {
  for (int i = 0; i < 10000; ++i) {
    value = "user" + std::to_string(i) + "@example.com";
    auto issued = vault.tokenize("acme", "conv", "EMAIL", value);
    REQUIRE(issued.ok());
    if (named_in_digits(issued.value())) return issued.value();
  }
  FAIL("no token named in decimal digits in 10000 values");
  return {};
}

// What a case filters with: `policy_text` loaded, and a vault of its own.
struct PolicyAndVault {
  std::shared_ptr<const policy::Policy> policy;
  std::unique_ptr<crypto::TokenVault> vault;
  explicit PolicyAndVault(std::string_view policy_text) {
    auto loaded = policy::load_policy_text(policy_text, "answers.yaml");
    REQUIRE(loaded.policy);
    policy = loaded.policy;
    auto created = crypto::TokenVault::create(crypto::generate_key(crypto::KeyKind::vault), {});
    REQUIRE(created.ok());
    vault = std::move(created.value());
  }
};

// The text in each of its forms, whole and cut at every byte into two pieces, through the filters.
void check_every_cut(const AnswerFilterSettings& settings, TextForm form, const std::string& text,
                     const std::string& expected) {
  CHECK(whole(answer_filters(settings, form), text) == expected);
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    CAPTURE(cut);
    const std::string_view v(text);
    CHECK(through(answer_filters(settings, form), {v.substr(0, cut), v.substr(cut)}) == expected);
  }
}

}  // namespace

TEST_SUITE("answer filters") {
  TEST_CASE("a token whose name reads as a value is restored, never redacted, wherever it is cut") {
    PolicyAndVault f(account_policy);
    std::string value;
    const std::string token = token_named_in_digits(*f.vault, value);
    AnswerFilterSettings settings{f.policy, f.vault.get(), "acme", "conv", nullptr};
    for (const TextForm form : {TextForm::prose, TextForm::json}) {
      CAPTURE(static_cast<int>(form));
      check_every_cut(settings, form, "To " + token + ", account 12345678, ref 99" + token + "77.",
                      "To " + value + ", account [REDACTED:account_number], ref 99" + value + "77.");
    }
  }

  TEST_CASE("text only shaped like a token is scanned: a model cannot carry a value out inside one") {
    PolicyAndVault f(account_policy);
    std::string value;
    const std::string other_conversation = token_named_in_digits(*f.vault, value);
    // Invented (an account number as the name), another conversation's, and with no vault at all.
    const std::string open = "\xE2\x9F\xA6", close = "\xE2\x9F\xA7";
    const std::string invented = open + "ACCOUNT_12345678" + close;
    const auto redacted_name = [&](const std::string& token) {
      return token.substr(0, token.rfind('_') + 1) + "[REDACTED:account_number]" + token.substr(token.rfind('_') + 7);
    };
    const std::string text = "Pay " + invented + " from " + other_conversation + ".";
    const std::string expected =
        "Pay " + open + "ACCOUNT_[REDACTED:account_number]" + close + " from " + redacted_name(other_conversation) + ".";
    for (const crypto::TokenVault* configured : {static_cast<const crypto::TokenVault*>(f.vault.get()),
                                                 static_cast<const crypto::TokenVault*>(nullptr)}) {
      AnswerFilterSettings settings{f.policy, configured, "acme", "another-conv", nullptr};
      for (const TextForm form : {TextForm::prose, TextForm::json}) {
        CAPTURE(static_cast<int>(form));
        check_every_cut(settings, form, text, expected);
      }
    }
  }

  TEST_CASE("in arguments, a token written with escaped brackets is stepped over by the scan too; an invented one is not") {
    PolicyAndVault f(account_policy);
    std::string value;
    const std::string token = token_named_in_digits(*f.vault, value);
    const std::string body = token.substr(3, token.size() - 6);  // between the brackets' three bytes each
    AnswerFilterSettings settings{f.policy, f.vault.get(), "acme", "conv", nullptr};
    check_every_cut(settings, TextForm::json,
                    R"({"to":"\u27e6)" + body + R"(\u27E7","from":"\u27e6ACCOUNT_12345678\u27e7","account":"12345678"})",
                    R"({"to":")" + value + R"(","from":"\u27e6ACCOUNT_[REDACTED:account_number]\u27e7","account":"[REDACTED:account_number]"})");
  }

  TEST_CASE("the scan reads a restored token as its value: a context word after it counts, wherever the stream is cut") {
    // A bare SSN counts only next to its context word; with the token's value written out, the word
    // is near enough, and the client must not read what the model writing it out could not send.
    PolicyAndVault f(ssn_policy);
    auto token = f.vault->tokenize("acme", "conv", "EMAIL", "jo@example.com");
    REQUIRE(token.ok());
    AnswerFilterSettings settings{f.policy, f.vault.get(), "acme", "conv", nullptr};
    check_every_cut(settings, TextForm::prose, "536221234 is " + token.value() + "'s SSN.",
                    "[REDACTED:us_ssn] is jo@example.com's SSN.");
    check_every_cut(settings, TextForm::json, R"({"who":"536221234 is )" + token.value() + R"('s SSN"})",
                    R"({"who":"[REDACTED:us_ssn] is jo@example.com's SSN"})");
  }
}
