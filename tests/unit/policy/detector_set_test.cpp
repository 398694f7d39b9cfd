#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "fixture.hpp"

using namespace sovereign::policy;

// The scan runs digit-dense detectors only in windows around places where digits cluster, each pattern
// wrapped in the characters its boundary allows. These cases pin that down where it can go wrong: at
// the ends of the text, inside long runs of characters a value may contain, for values that end in
// letters, and for windows close together.
namespace {
using Found = std::vector<std::pair<std::string, std::string>>;  // detector, value

Found scan(const std::string& text) {
    static const auto policy = testing::load_fixture();
    REQUIRE(policy);
    const DetectorSet& set = policy->detectors();
    std::vector<Detection> detections;
    ScanFailure failure;
    REQUIRE(set.scan(text, 0, detections, failure));
    Found found;
    for (const auto& d : detections)
        found.emplace_back(set.detectors()[d.detector].name, text.substr(d.begin, d.end - d.begin));
    return found;
}
}  // namespace

TEST_SUITE("scan") {
    TEST_CASE("values that are the whole text, or start or end it, are found") {
        CHECK(scan("4111 1111 1111 1111") == Found{{"credit_card", "4111 1111 1111 1111"}});
        CHECK(scan("DE89370400440532013000") == Found{{"iban", "DE89370400440532013000"}});
        CHECK(scan("NHS 943 476 5919") == Found{{"uk_nhs", "943 476 5919"}});
        CHECK(scan("4111-1111-1111-1111 declined") == Found{{"credit_card", "4111-1111-1111-1111"}});
    }

    TEST_CASE("values whose digits are followed by letters of the value are found") {
        CHECK(scan("DNI 12345678Z.") == Found{{"es_dni", "12345678Z"}});
        CHECK(scan("NI number AB 12 34 56 C on file") == Found{{"uk_nino", "AB 12 34 56 C"}});
        CHECK(scan("codice fiscale RSSMRA85T10A562S") == Found{{"it_codice_fiscale", "RSSMRA85T10A562S"}});
        CHECK(scan("IBAN GB82 WEST 1234 5698 7654 32 please") == Found{{"iban", "GB82 WEST 1234 5698 7654 32"}});
    }

    TEST_CASE("a value inside a long run of characters a value may contain is found once, in place") {
        const std::string before(300, 'X');
        const std::string after(300, 'Y');
        const std::string text = before + " DE89 3704 0044 0532 0130 00 " + after;
        CHECK(scan(text) == Found{{"iban", "DE89 3704 0044 0532 0130 00"}});
        const std::string spaced = std::string(200, ' ') + "4111 1111 1111 1111" + std::string(200, ' ');
        CHECK(scan(spaced) == Found{{"credit_card", "4111 1111 1111 1111"}});
    }

    TEST_CASE("a number longer than any value is not reported as its prefixes") {
        CHECK(scan("ref 4111 1111 1111 1111 1111 1111 1111") == Found{});
        CHECK(scan("ref 41111111111111111111111111") == Found{});
    }

    TEST_CASE("values close together and far apart are each found with their own span") {
        const std::string text = "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00; " +
                                 std::string(2000, 'a') + " call +44 20 7946 0958. " + std::string(100, 'a') +
                                 " NHS 943 476 5919";
        CHECK(scan(text) == Found{{"credit_card", "4111 1111 1111 1111"},
                                  {"iban", "DE89 3704 0044 0532 0130 00"},
                                  {"phone", "+44 20 7946 0958"},
                                  {"uk_nhs", "943 476 5919"}});
    }
}
