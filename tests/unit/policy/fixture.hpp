#pragma once
// A small policy used across the policy tests, written the way a compliance officer would.

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/response_scanner.hpp"

namespace sovereign::policy::testing {

inline constexpr std::string_view fixture_policy = R"(name: test policy
classes: [public, internal, confidential, restricted]
default_clearance: internal
zones:
  - name: site
  - name: hall-b
    max_class: confidential
  - name: cloud
    max_class: internal
detectors:
  - name: project_codename
    class: confidential
    keywords: [Bluebird, Nightjar]
  - name: patient_id
    class: restricted
    pattern: 'PAT-[0-9]{6}'
    context: [patient]
responses:
  redact: [credit_card]
tenants:
  - name: radiology
    clearance: restricted
    zones: [site, hall-b]
  - name: marketing
    clearance: internal
  - name: research
    clearance: confidential
    exempt_from: [secrets-never-leave]
rules:
  - name: secrets-never-leave
    when: {detected: [aws_access_key, private_key]}
    then: {action: deny, message: "Credentials must not be sent to a model."}
  - name: clinical-staff
    when: {tenants: [radiology]}
    then: {action: allow}
  - name: low-class-anywhere
    when: {tenants: [marketing, research], class_at_most: internal}
    then: {action: allow, zones: [cloud, site]}
  - name: research-confidential-on-site
    when: {tenants: [research], class_at_least: confidential}
    then: {action: allow, zones: [site, hall-b]}
  - name: cards-tokenized
    when: {detected: [credit_card]}
    then: {tokenize: [credit_card]}
  - name: emails-redacted
    when: {detected: [email]}
    then: {redact: [email]}
  - name: capture-restricted
    mode: warn
    when: {class_at_least: restricted}
    then: {capture_payload: true}
)";

inline std::shared_ptr<const Policy> load_fixture() {
    auto loaded = load_policy_text(fixture_policy, "fixture.yaml");
    return loaded.policy;
}

// A policy that allows everything and removes the named detectors' findings from answers.
inline std::shared_ptr<const Policy> redacting_answers(const std::string& detectors) {
    auto loaded = load_policy_text("classes: [public, confidential, restricted]\nzones: [{name: site}]\n"
                                   "responses: {redact: [" + detectors + "]}\n"
                                   "rules: [{name: all, then: {action: allow}}]\n",
                                   "answers.yaml");
    return loaded.policy;
}

// Up to max_pieces random fragments with random joiners between them: texts for property tests.
inline std::string random_text(std::mt19937& random, const std::vector<std::string>& fragments,
                               const std::vector<std::string>& joiners, int max_pieces) {
    std::string text;
    const int pieces = 1 + static_cast<int>(random() % static_cast<unsigned>(max_pieces));
    for (int i = 0; i < pieces; ++i) {
        if (i > 0) text += joiners[random() % joiners.size()];
        text += fragments[random() % fragments.size()];
    }
    return text;
}

// Whether text is a run of whole UTF-8 characters: no sequence cut short at either end.
inline bool whole_characters(std::string_view text) {
    for (std::size_t at = 0; at < text.size();) {
        const auto lead = static_cast<unsigned char>(text[at]);
        const std::size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
        if (length == 0 || at + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[at + k]) & 0xC0) != 0x80) return false;
        at += length;
    }
    return true;
}

// An answer's text streamed in three chunks, cut at `first` and `second`, through a scanner of
// `policy` for tenant "anyone": what the client gets.
inline std::string scan_in_three_chunks(const std::shared_ptr<const Policy>& policy, std::string_view text,
                                        std::size_t first, std::size_t second) {
  ResponseScanner scanner(policy, "anyone");
  std::string out = scanner.feed(text.substr(0, first));
  out += scanner.feed(text.substr(first, second - first));
  out += scanner.feed(text.substr(second));
  return out + scanner.finish();
}

}  // namespace sovereign::policy::testing
