// JsonLine writes what Boost.JSON would serialise for the same object, escaping included, and the
// audit records built with it read back field by field.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "gateway/openai/api_error.hpp"

#include "gateway/log/json_line.hpp"
#include "gateway/pipeline/audit_records.hpp"

using namespace sovereign::gateway;
namespace json = boost::json;

TEST_SUITE("log") {
  TEST_CASE("JsonLine writes the bytes boost::json::serialize writes for the same object") {
    const std::vector<std::string> texts = {
        "",
        "plain",
        "quote \" and backslash \\",
        std::string("control \x01\x1f tab\t newline\n nul") + std::string(1, '\0') + "end",
        "UTF-8 passes through: Gr\xc3\xbc\xc3\x9f" "e \xe2\x9f\xa6" "EMAIL_7f3a9c\xe2\x9f\xa7",
        std::string(2000, '"'),  // longer than one read of the serializer's buffer once escaped
    };
    for (const auto& text : texts) {
      CAPTURE(text);
      std::string written = JsonLine().add("text", text).add("n", 7).finish();
      CHECK(written == json::serialize(json::object{{"text", text}, {"n", 7}}));
    }
    std::map<std::string, int> counts{{"email", 2}, {"we\"ird", -1}};
    std::vector<std::string> zones{"site-a", "hall \\ 2"};
    std::string written = JsonLine()
                              .add("kind", "x")
                              .add("yes", true)
                              .add("no", false)
                              .add("big", std::numeric_limits<std::uint64_t>::max())
                              .add("negative", std::numeric_limits<std::int64_t>::min())
                              .add("status", 200u)
                              .add_strings("zones", zones)
                              .add_strings("none", std::vector<std::string>{})
                              .add_counts("counts", counts)
                              .add_counts("empty", {})
                              .finish();
    json::object expected{{"kind", "x"},
                          {"yes", true},
                          {"no", false},
                          {"big", std::numeric_limits<std::uint64_t>::max()},
                          {"negative", std::numeric_limits<std::int64_t>::min()},
                          {"status", 200u},
                          {"zones", json::array{"site-a", "hall \\ 2"}},
                          {"none", json::array{}},
                          {"counts", json::object{{"email", 2}, {"we\"ird", -1}}},
                          {"empty", json::object{}}};
    CHECK(written == json::serialize(expected));
  }

  TEST_CASE("audit records carry every fact, optional ones only when present") {
    std::map<std::string, int> detected{{"credit_card", 1}};
    std::vector<std::string> zones{"site"};
    DecisionFacts decision;
    decision.request_id = "req_1";
    decision.tenant = "ward\"7";
    decision.model = "m";
    decision.endpoint = "chat.completions";
    decision.decision = "deny";
    decision.rules = {"cards-stay", "default"};
    decision.policy_version = "sha256:ab";
    decision.data_class = "restricted";
    decision.detectors = &detected;
    decision.allowed_zones = zones;
    decision.capture_payload = true;
    decision.payload_sha256 = "00ff";
    auto record = json::parse(decision_record(decision, "2026-11-22T10:00:00.000Z")).as_object();
    CHECK(record.at("kind") == "decision");
    CHECK(record.at("time") == "2026-11-22T10:00:00.000Z");
    CHECK(record.at("tenant") == "ward\"7");
    CHECK(record.at("rules") == json::array{"cards-stay", "default"});
    CHECK(record.at("detectors") == json::object{{"credit_card", 1}});
    CHECK(record.at("zones") == json::array{"site"});
    CHECK(record.at("capture") == true);
    CHECK(record.at("payload_sha256") == "00ff");
    CHECK(record.size() == 14);
    // Parts let through unscanned are counted beside the detectors, by type.
    std::map<std::string, int> unscanned{{"image_url", 2}};
    decision.unscanned = &unscanned;
    auto with_image = json::parse(decision_record(decision, "t")).as_object();
    CHECK(with_image.at("detectors") == json::object{{"credit_card", 1}, {"unscanned:image_url", 2}});
    decision.detectors = nullptr;
    CHECK(json::parse(decision_record(decision, "t")).as_object().at("detectors") ==
          json::object{{"unscanned:image_url", 2}});

    OutcomeFacts outcome;
    outcome.request_id = "req_1";
    outcome.status = 502;
    outcome.bytes_in = 10;
    outcome.bytes_out = 20;
    outcome.latency_us = 30;
    auto plain = json::parse(outcome_record(outcome, "t")).as_object();
    CHECK(plain.at("status") == 502);
    CHECK(plain.at("output_detectors") == json::object{});
    CHECK_FALSE(plain.contains("error"));
    CHECK_FALSE(plain.contains("captures"));
    CHECK_FALSE(plain.contains("captures_failed"));
    CHECK(plain.size() == 13);
    std::vector<std::string> captures{"1700000000000-req_1-request-0a1b2c3d.sealed"};
    std::vector<std::string> failed{"response"};
    outcome.error = "capture_unavailable";
    outcome.captures = captures;
    outcome.captures_failed = failed;
    auto full = json::parse(outcome_record(outcome, "t")).as_object();
    CHECK(full.at("error") == "capture_unavailable");
    CHECK(full.at("captures") == json::array{"1700000000000-req_1-request-0a1b2c3d.sealed"});
    CHECK(full.at("captures_failed") == json::array{"response"});
  }

  TEST_CASE("ill-formed UTF-8 from a client becomes U+FFFD, so every line is valid JSON") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(is_well_formed_utf8("M\xC3\xBCnchen \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK(well_formed_utf8("a\xFF" "b") == "a" + fffd + "b");
    CHECK(well_formed_utf8("\xC0\xAF") == fffd + fffd);          // overlong '/'
    CHECK(well_formed_utf8("\xED\xA0\x80") == fffd + fffd + fffd);  // a surrogate
    CHECK(well_formed_utf8("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
    CHECK(well_formed_utf8("x\xE2\x82") == "x" + fffd + fffd);   // cut short
    JsonLine line;
    line.add("path", std::string_view("/v1/\xFF\xFE/models"));
    const auto parsed = json::parse(line.finish()).as_object();
    CHECK(parsed.at("path") == json::string("/v1/" + fffd + fffd + "/models"));
    const auto error = sovereign::gateway::api_errors::not_found("/x\xC3");
    CHECK(json::parse(error.to_json()).at("error").at("message") == json::string("Unknown request URL: /x" + fffd + "."));
  }
}
