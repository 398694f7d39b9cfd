// Every parser that reads user-supplied bytes (key files, keyrings, proofs, captures, segments)
// returns an error for random and truncated input; none crashes, hangs or accepts it.
#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <random>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_verifier.hpp"
#include "crypto/key_file.hpp"
#include "crypto/sealed_capture.hpp"
#include "crypto/vault_journal.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

std::string random_bytes(std::mt19937& rng, std::size_t max_size, std::string_view alphabet = {}) {
  std::uniform_int_distribution<std::size_t> size(0, max_size);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(size(rng), '\0');
  for (char& c : out) {
    c = alphabet.empty() ? static_cast<char>(byte(rng)) : alphabet[static_cast<std::size_t>(byte(rng)) % alphabet.size()];
  }
  return out;
}

}  // namespace

TEST_SUITE("garbage") {
  TEST_CASE("random bytes are rejected by every parser") {
    std::mt19937 rng(20261122);
    TrustedKeys keys;
    keys.add(public_key_of(generate_key(KeyKind::audit_signing)));
    SecretKey auditor = generate_key(KeyKind::auditor);
    TempDir dir;
    const auto key_path = dir.path() / "k.key";
    const auto segment = dir.path() / "segment-000001.log";
    for (int i = 0; i < 300; ++i) {
      const std::string binary = random_bytes(rng, 600);
      const std::string text = random_bytes(rng, 600, "format: sovereign-secret-key-v1\nkind audit-signing 0123456789abcdef{}[]\",");
      CHECK_FALSE(parse_public_keys(binary, "ring").ok());
      CHECK_FALSE(parse_public_keys(text, "ring").ok());
      CHECK_FALSE(check_proof_document(binary, keys).ok());
      CHECK_FALSE(check_proof_document(text, keys).ok());
      CHECK_FALSE(open_capture(auditor, binary, "c").ok());
      CHECK_FALSE(open_capture(auditor, "SOVCAPT1" + binary, "c").ok());
      write_bytes(key_path, text);
      ::chmod(key_path.c_str(), 0600);
      CHECK_FALSE(read_secret_key_file(key_path, nullptr, std::nullopt).ok());
      write_bytes(segment, "SOVAUDT1" + binary);
      CHECK_FALSE(verify_log(dir.path(), keys).ok());
    }
  }

  TEST_CASE("a vault mappings file of random records is refused naming the byte; any cut is recovered") {
    std::mt19937 rng(20261123);
    TempDir dir;
    const auto path = dir.path() / "mappings.vault";
    const std::string header = "SOVEREIGN-VAULT-MAPPINGS v1\n";
    for (int i = 0; i < 300; ++i) {
      // Random bytes after a valid header, some behind a record marker: refused with the offset, or a
      // tail too short to be a record, cut away. Never accepted as records.
      write_bytes(path, header + (i % 2 == 0 ? "SVM1" : "") + random_bytes(rng, 600));
      ::chmod(path.c_str(), 0600);
      std::vector<JournalRecord> records;
      std::vector<std::string> notes;
      auto opened = VaultJournal::open(dir.path(), [&](JournalRecord& r) { records.push_back(r); }, notes);
      CHECK(records.empty());
      if (!opened.ok()) CHECK(opened.error().message.find(path.string() + ": byte ") == 0);
    }
    // Every cut of a file of two valid records keeps the whole records before the cut.
    JournalRecord record{"key-1", "acme", "conv", "⟦EMAIL_0a1b2c⟧", {}, std::string(40, 'x'), 1};
    std::filesystem::remove(path);
    {
      std::vector<std::string> notes;
      auto journal = VaultJournal::open(dir.path(), [](JournalRecord&) {}, notes);
      REQUIRE(journal.ok());
      REQUIRE(journal.value()->append(record).ok());
      REQUIRE(journal.value()->append(record).ok());
    }
    const std::string good = read_bytes(path);
    const std::size_t one = (good.size() - header.size()) / 2;
    for (std::size_t cut = header.size(); cut <= good.size(); ++cut) {
      write_bytes(path, good.substr(0, cut));
      std::vector<JournalRecord> records;
      std::vector<std::string> notes;
      auto opened = VaultJournal::open(dir.path(), [&](JournalRecord& r) { records.push_back(r); }, notes);
      CAPTURE(cut);
      REQUIRE(opened.ok());
      CHECK(records.size() == (cut - header.size()) / one);
      CHECK(notes.size() == ((cut - header.size()) % one == 0 ? 0u : 1u));
    }
  }

  TEST_CASE("every truncation of a valid key file is rejected with a message") {
    TempDir dir;
    const auto path = dir.path() / "k.key";
    REQUIRE(write_secret_key_file(path, generate_key(KeyKind::vault), nullptr, true).ok());
    const std::string good = read_bytes(path);
    for (std::size_t cut = 0; cut + 1 < good.size(); ++cut) {
      write_bytes(path, good.substr(0, cut));
      ::chmod(path.c_str(), 0600);
      auto result = read_secret_key_file(path, nullptr, std::nullopt);
      CAPTURE(cut);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message.find(path.string()) == 0);
    }
  }
}
