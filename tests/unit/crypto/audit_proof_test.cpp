// Inclusion and consistency proofs built from a real log, checked offline, and rejected when any
// part of the document is altered; the incremental reader behind `audit tail -f`.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <future>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_reader.hpp"
#include "crypto/audit_writer.hpp"
#include "crypto/hex.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;
namespace json = boost::json;

namespace {

std::string record(int i) { return R"({"kind":"decision","request_id":"r)" + std::to_string(i) + R"("})"; }

void append_all(AuditWriter& writer, int first, int count) {
  std::vector<std::promise<bool>> done(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    writer.append(record(first + i), [&done, i](const AppendResult& r) { done[static_cast<std::size_t>(i)].set_value(r.ok); });
  }
  for (auto& d : done) REQUIRE(d.get_future().get());
}

struct LogFixture {
  TempDir dir;
  SecretKey key = generate_key(KeyKind::audit_signing);
  TrustedKeys trusted;
  LogFixture(int records = 50) {
    trusted.add(public_key_of(key));
    AuditOptions options;
    options.directory = dir.path();
    options.checkpoint_every_records = 10;
    options.checkpoint_every_ms = 60000;
    options.segment_max_bytes = 65536;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    append_all(*writer.value(), 0, records);
    writer.value()->close();
  }
};

std::string mutate(const std::string& document, const std::function<void(json::object&)>& change) {
  json::value value = json::parse(document);
  change(value.as_object());
  return json::serialize(value);
}

std::string flip_hex(std::string hex) {
  hex[0] = hex[0] == '0' ? '1' : '0';
  return hex;
}

}  // namespace

TEST_SUITE("audit-proof") {
  TEST_CASE("every record has an inclusion proof that checks offline") {
    LogFixture f;
    for (std::uint64_t i = 0; i < 50; ++i) {
      auto proof = prove_inclusion(f.dir.path(), i);
      REQUIRE(proof.ok());
      CHECK(proof->record == record(static_cast<int>(i)));
      auto checked = check_proof_document(inclusion_proof_to_json(proof.value()), f.trusted);
      INFO((checked.ok() ? checked.value() : checked.error().message));
      REQUIRE(checked.ok());
      CHECK(checked->find("valid: record " + std::to_string(i) + " is in the log") == 0);
    }
    auto missing = prove_inclusion(f.dir.path(), 50);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message == "record 50 does not exist; the log has 50 records");
  }

  TEST_CASE("an altered inclusion proof document is rejected") {
    LogFixture f;
    auto proof = prove_inclusion(f.dir.path(), 13);
    REQUIRE(proof.ok());
    const std::string good = inclusion_proof_to_json(proof.value());
    auto fails = [&](const std::string& document, std::string_view why) {
      auto checked = check_proof_document(document, f.trusted);
      REQUIRE_FALSE(checked.ok());
      CHECK(checked.error().message.find(why) != std::string::npos);
    };
    fails(mutate(good, [](json::object& o) { o["record_base64"] = to_base64(as_bytes(record(14))); }), "root mismatch");
    fails(mutate(good, [](json::object& o) { o["leaf_index"] = 12; }), "record 12 is not proven");
    fails(mutate(good, [](json::object& o) {
            auto& path = o["path"].as_array();
            path[0] = flip_hex(std::string(path[0].as_string()));
          }),
          "root mismatch");
    fails(mutate(good, [](json::object& o) { o["path"].as_array().pop_back(); }), "not proven");
    fails(mutate(good, [](json::object& o) {
            auto& c = o["checkpoint"].as_object();
            c["root"] = flip_hex(std::string(c["root"].as_string()));
          }),
          "signature by key");
    fails(mutate(good, [](json::object& o) { o["checkpoint"].as_object()["tree_size"] = 1000; }), "signature by key");
    fails(mutate(good, [](json::object& o) { o["checkpoint"].as_object().erase("signature"); }),
          "$.checkpoint.signature: missing");
    fails(mutate(good, [](json::object& o) { o["type"] = "other"; }), "$.type: unknown proof type 'other'");
    fails("{not json", "not JSON");
    TrustedKeys stranger;
    stranger.add(public_key_of(generate_key(KeyKind::audit_signing)));
    auto foreign = check_proof_document(good, stranger);
    REQUIRE_FALSE(foreign.ok());
    CHECK(foreign.error().message.find("not among the trusted keys") != std::string::npos);
  }

  TEST_CASE("consistency proofs between signed checkpoints check offline and resist alteration") {
    LogFixture f;
    for (std::uint64_t old_size : {10, 20, 30, 40, 50}) {
      auto proof = prove_consistency(f.dir.path(), old_size, 0);
      REQUIRE(proof.ok());
      CHECK(proof->new_checkpoint.tree_size == 50);
      auto checked = check_proof_document(consistency_proof_to_json(proof.value()), f.trusted);
      INFO((checked.ok() ? checked.value() : checked.error().message));
      CHECK(checked.ok());
    }
    auto proof = prove_consistency(f.dir.path(), 20, 40);
    REQUIRE(proof.ok());
    const std::string good = consistency_proof_to_json(proof.value());
    auto bad = check_proof_document(mutate(good, [](json::object& o) {
                                      auto& path = o["path"].as_array();
                                      path[1] = flip_hex(std::string(path[1].as_string()));
                                    }),
                                    f.trusted);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("not consistent") == 0);
    auto none = prove_consistency(f.dir.path(), 15, 0);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message == "no checkpoint with tree size 15");
  }

  TEST_CASE("the reader picks up only what was appended since its last poll, across segments") {
    TempDir dir;
    SecretKey key = generate_key(KeyKind::audit_signing);
    AuditOptions options;
    options.directory = dir.path();
    options.checkpoint_every_records = 100;
    options.segment_max_bytes = 65536;
    auto writer = AuditWriter::open(options, key);
    REQUIRE(writer.ok());
    LogReader reader(dir.path());
    std::vector<std::uint64_t> seen;
    auto poll = [&] {
      REQUIRE(reader.read_new([&](const LogRecord& r) {
                CHECK(std::string(r.bytes) == record(static_cast<int>(r.leaf_index)));
                seen.push_back(r.leaf_index);
              },
                              [](const LogCheckpoint&) {})
                  .ok());
    };
    poll();
    CHECK(seen.empty());
    append_all(*writer.value(), 0, 5);
    poll();
    CHECK(seen.size() == 5);
    append_all(*writer.value(), 5, 2000);  // crosses into further segments
    poll();
    writer.value()->close();
    poll();
    REQUIRE(seen.size() == 2005);
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i);
  }
}
