// The example policies' own detectors take whole values: a value written in a longer form than the
// example's usual one is transformed to its end, never cut short with its last characters left in
// what leaves ("[REDACTED:diagnosis_code]9").
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy/engine.hpp"
#include "policy/policy.hpp"

using namespace sovereign::policy;

namespace {

std::shared_ptr<const Policy> example(const std::string& name) {
    return load_policy_file(std::string(SOURCE_ROOT) + "/examples/" + name + "/policy.yaml").policy;
}

Request chat(std::string tenant, std::string text) {
    return Request{std::move(tenant), "llama", "chat.completions", "", {{"messages[0].content", std::move(text)}}};
}

// The text of each span of `detector` the decision transforms, in order.
std::vector<std::string> transformed(const Request& request, const Decision& decision, const std::string& detector) {
    std::vector<std::string> out;
    for (const auto& s : decision.spans)
        if (s.detector == detector) out.push_back(request.segments[s.segment].text.substr(s.begin, s.end - s.begin));
    return out;
}

}  // namespace

TEST_SUITE("examples") {
    TEST_CASE("the hospital's diagnosis codes are taken whole, ICD-10-CM's longer ones included") {
        const auto hospital = example("hospital");
        REQUIRE(hospital);
        const auto request = chat("research", "Diagnosis J45.909 (asthma); earlier dx S72.001A and T36.0X1A, "
                                              "ICD U07.1 and C4A.0.");
        const auto decision = evaluate(request, *hospital);
        CHECK(decision.action == Action::allow);
        CHECK(transformed(request, decision, "diagnosis_code") ==
              std::vector<std::string>{"J45.909", "S72.001A", "T36.0X1A", "U07.1", "C4A.0"});
        CHECK(apply_redactions(request.segments[0].text, decision.spans, 0) ==
              "Diagnosis [REDACTED:diagnosis_code] (asthma); earlier dx [REDACTED:diagnosis_code] and "
              "[REDACTED:diagnosis_code], ICD [REDACTED:diagnosis_code] and [REDACTED:diagnosis_code].");
    }

    TEST_CASE("a record or customer number longer than the usual one is tokenized whole") {
        const auto hospital = example("hospital");
        REQUIRE(hospital);
        const auto record = chat("research", "Patient MRN-00123456 (from the regional hospital) and MRN 0012345.");
        const auto records = evaluate(record, *hospital);
        CHECK(records.action == Action::allow);
        CHECK(transformed(record, records, "patient_mrn") == std::vector<std::string>{"MRN-00123456", "MRN 0012345"});

        const auto bank = example("bank");
        REQUIRE(bank);
        const auto customer = chat("summariser", "Summarise the complaint of CUST-001234567 and of CUST-12345678.");
        const auto customers = evaluate(customer, *bank);
        CHECK(customers.action == Action::allow);
        CHECK(transformed(customer, customers, "customer_number") ==
              std::vector<std::string>{"CUST-001234567", "CUST-12345678"});
    }
}
