// Tokenization vault and streaming restore: stable type-tagged tokens, tenant and scope isolation,
// expiry, collisions, and tokens split across every possible chunk boundary.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "crypto/token_restorer.hpp"
#include "crypto/token_vault.hpp"
#include "crypto/vault_journal.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;

namespace {

struct VaultFixture {
  std::int64_t now = 1'700'000'000'000;
  SecretKey key = generate_key(KeyKind::vault);
  std::unique_ptr<TokenVault> vault;
  explicit VaultFixture(std::int64_t ttl_seconds = 60, std::size_t max_entries = 1000000, std::size_t per_tenant = 0) {
    VaultOptions options;
    options.ttl_seconds = ttl_seconds;
    options.max_entries = max_entries;
    options.max_entries_per_tenant = per_tenant;
    options.now_ms = [this] { return now; };
    auto created = TokenVault::create(key, options);
    REQUIRE(created.ok());
    vault = std::move(created.value());
  }
  std::string token(std::string_view tenant, std::string_view scope, std::string_view type, std::string_view value) {
    auto t = vault->tokenize(tenant, scope, type, value);
    REQUIRE(t.ok());
    return t.value();
  }
};

std::string restore_in_chunks(const TokenVault& vault, std::string_view text, std::vector<std::size_t> cuts,
                              TokenText form = TokenText::plain) {
  TokenRestorer restorer(vault, "acme", "conv-1", form);
  std::string out;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    out += restorer.feed(text.substr(at, cut - at));
    at = cut;
  }
  out += restorer.feed(text.substr(at));
  out += restorer.finish();
  return out;
}

}  // namespace

TEST_SUITE("vault") {
  TEST_CASE("tokens are type-tagged, stable, and restore to the value") {
    VaultFixture f;
    const std::string t = f.token("acme", "conv-1", "EMAIL", "alice@example.com");
    CHECK(t.substr(0, 3) == "\xE2\x9F\xA6");
    CHECK(t.substr(3, 6) == "EMAIL_");
    CHECK(t.size() == 3 + 6 + 6 + 3);
    CHECK(t.substr(t.size() - 3) == "\xE2\x9F\xA7");
    CHECK(f.token("acme", "conv-1", "EMAIL", "alice@example.com") == t);
    CHECK(f.token("acme", "conv-1", "EMAIL", "bob@example.com") != t);
    CHECK(f.vault->restore("acme", "conv-1", t) == std::optional<std::string>("alice@example.com"));
    CHECK(f.vault->size() == 2);
  }

  TEST_CASE("another tenant or scope can neither restore a token nor share it") {
    VaultFixture f;
    const std::string t = f.token("acme", "conv-1", "EMAIL", "alice@example.com");
    CHECK(f.vault->restore("acme", "conv-1", t).has_value());
    CHECK_FALSE(f.vault->restore("globex", "conv-1", t).has_value());
    CHECK_FALSE(f.vault->restore("acme", "conv-2", t).has_value());
    CHECK_FALSE(f.vault->restore("acme", "conv-1", "\xE2\x9F\xA6" "EMAIL_123456\xE2\x9F\xA7").has_value());
    CHECK(f.token("globex", "conv-1", "EMAIL", "alice@example.com") != t);
    CHECK(f.token("acme", "conv-2", "EMAIL", "alice@example.com") != t);
  }

  TEST_CASE("mappings expire after the ttl and are purged") {
    VaultFixture f(10);
    const std::string t = f.token("acme", "", "PHONE", "+41 44 555 12 12");
    f.now += 9'000;
    CHECK(f.vault->restore("acme", "", t).has_value());
    f.now += 2'000;
    CHECK_FALSE(f.vault->restore("acme", "", t).has_value());
    f.vault->purge_expired();
    CHECK(f.vault->size() == 0);
  }

  TEST_CASE("a full vault refuses new values with a clear error") {
    VaultFixture f(10, 2, 3);  // a tenant share above the whole: the vault fills first
    f.token("acme", "", "NAME", "a");
    f.token("acme", "", "NAME", "b");
    auto refused = f.vault->tokenize("acme", "", "NAME", "c");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("token vault full (2 live mappings)") != std::string::npos);
    f.now += 11'000;  // both expire; room again
    CHECK(f.vault->tokenize("acme", "", "NAME", "c").ok());
  }

  TEST_CASE("one tenant cannot take more than its share; the others keep tokenizing") {
    VaultFixture f(10, 8);  // a share of a quarter: 2 each
    f.token("greedy", "c1", "CARD", "4111111111111111");
    f.token("greedy", "c2", "CARD", "4111111111111111");  // another scope: another mapping
    f.token("greedy", "c1", "CARD", "4111111111111111");  // the same mapping again: no new entry
    auto refused = f.vault->tokenize("greedy", "c3", "CARD", "4111111111111111");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("tenant 'greedy' holds its limit of 2 live token mappings") != std::string::npos);
    CHECK(f.vault->tokenize("modest", "c1", "CARD", "5500000000000004").ok());
    f.now += 11'000;  // the greedy tenant's mappings expire, and with them its count
    CHECK(f.vault->tokenize("greedy", "c3", "CARD", "4111111111111111").ok());
  }

  TEST_CASE("invalid types, values and tenants are refused") {
    VaultFixture f;
    CHECK_FALSE(f.vault->tokenize("acme", "", "email", "x").ok());
    CHECK_FALSE(f.vault->tokenize("acme", "", "", "x").ok());
    CHECK_FALSE(f.vault->tokenize("acme", "", "E-MAIL", "x").ok());
    CHECK_FALSE(f.vault->tokenize("acme", "", std::string(33, 'A'), "x").ok());
    CHECK_FALSE(f.vault->tokenize("acme", "", "EMAIL", "").ok());
    CHECK_FALSE(f.vault->tokenize("acme", "", "EMAIL", std::string(4097, 'x')).ok());
    CHECK_FALSE(f.vault->tokenize("", "", "EMAIL", "x").ok());
    auto wrong_key = TokenVault::create(generate_key(KeyKind::auditor), {});
    REQUIRE_FALSE(wrong_key.ok());
    CHECK(wrong_key.error().message == "the token vault needs a vault key, got a auditor key");
  }

  TEST_CASE("colliding short token names are lengthened, never shared") {
    VaultFixture f;
    std::set<std::string> tokens;
    std::size_t lengthened = 0;
    // 20,000 values in one scope: about a dozen 24-bit prefix collisions are expected.
    for (int i = 0; i < 20000; ++i) {
      const std::string t = f.token("acme", "s", "ID", "value-" + std::to_string(i));
      tokens.insert(t);
      if (t.size() > 3 + 3 + 6 + 3) ++lengthened;
    }
    CHECK(tokens.size() == 20000);
    CHECK(lengthened > 0);
    for (int i = 0; i < 20000; i += 97) {
      const std::string t = f.token("acme", "s", "ID", "value-" + std::to_string(i));
      CHECK(f.vault->restore("acme", "s", t) == std::optional<std::string>("value-" + std::to_string(i)));
    }
  }

  TEST_CASE("the same key yields the same tokens in a new vault; another key does not") {
    VaultFixture f;
    const std::string t = f.token("acme", "c", "EMAIL", "alice@example.com");
    auto again = TokenVault::create(f.key, {});
    REQUIRE(again.ok());
    CHECK(again.value()->tokenize("acme", "c", "EMAIL", "alice@example.com").value() == t);
    auto other = TokenVault::create(generate_key(KeyKind::vault), {});
    REQUIRE(other.ok());
    CHECK(other.value()->tokenize("acme", "c", "EMAIL", "alice@example.com").value() != t);
  }
}

TEST_SUITE("restorer") {
  TEST_CASE("tokens split at every byte boundary restore exactly as whole text does") {
    VaultFixture f;
    const std::string email = f.token("acme", "conv-1", "EMAIL", "alice@example.com");
    const std::string card = f.token("acme", "conv-1", "CREDIT_CARD", "4111 1111 1111 1111");
    const std::string text = "Write to " + email + " about card " + card + ".\xE2\x9F\xA6not a token\xE2\x9F\xA7 " + email;
    const std::string expected =
        "Write to alice@example.com about card 4111 1111 1111 1111.\xE2\x9F\xA6not a token\xE2\x9F\xA7 alice@example.com";
    CHECK(restore_in_chunks(*f.vault, text, {}) == expected);
    for (std::size_t cut = 1; cut < text.size(); ++cut) {
      CAPTURE(cut);
      CHECK(restore_in_chunks(*f.vault, text, {cut}) == expected);
    }
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i < text.size(); ++i) every_byte.push_back(i);
    CHECK(restore_in_chunks(*f.vault, text, every_byte) == expected);
  }

  TEST_CASE("only a possible token prefix is held back") {
    VaultFixture f;
    const std::string t = f.token("acme", "conv-1", "EMAIL", "alice@example.com");
    TokenRestorer restorer(*f.vault, "acme", "conv-1");
    CHECK(restorer.feed("Hello ") == "Hello ");
    CHECK(restorer.feed(t.substr(0, 7)) == "");
    CHECK(restorer.feed(t.substr(7)) == "alice@example.com");
    CHECK(restorer.feed("\xE2\x9F") == "");
    CHECK(restorer.feed("x") == "\xE2\x9Fx");
    CHECK(restorer.feed(" \xE2\x9F\xA6" "EMAIL_12") == " ");
    CHECK(restorer.finish() == "\xE2\x9F\xA6" "EMAIL_12");
    CHECK(restorer.restored_count() == 1);
  }

  TEST_CASE("in JSON text, escaped brackets are tokens too and values go back escaped for their string") {
    // A tool call's arguments: JSON inside a JSON string, often written by encoders that escape
    // everything outside ASCII, and a value with a quote or backslash must not break it.
    VaultFixture f;
    const std::string account = f.token("acme", "conv-1", "ACCOUNT", "CORP\\jdoe \"ops\"");
    const std::string body = account.substr(3, account.size() - 6);  // ACCOUNT_xxxxxx
    const std::string text = R"({"user":"\u27e6)" + body + R"(\u27E7","raw":")" + account +
                             R"(","path":"C:\\u27e6)" + body + R"(\u27e7","note":"\"\u27e6"})";
    const std::string expected = R"({"user":"CORP\\jdoe \"ops\"","raw":"CORP\\jdoe \"ops\"","path":"C:\\u27e6)" + body +
                                 R"(\u27e7","note":"\"\u27e6"})";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      CAPTURE(cut);
      CHECK(restore_in_chunks(*f.vault, text, {cut}, TokenText::json) == expected);
    }
    // Plain text is not JSON: an escape there is text, a value goes back as it is.
    CHECK(restore_in_chunks(*f.vault, "\\u27e6" + body + "\\u27e7 " + account, {}) ==
          "\\u27e6" + body + "\\u27e7 CORP\\jdoe \"ops\"");
  }

  TEST_CASE("in JSON text, control characters of a value go back as JSON.stringify writes them") {
    // Values are kept as the client meant them (a value read from tool-call arguments has its
    // escapes resolved first): escaped once, they read back as the client wrote them.
    VaultFixture f;
    const std::string note = f.token("acme", "conv-1", "NOTE", "a\"b\\c\nd\te\rf\x01");
    const std::string text = R"({"note":")" + note + R"("})";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      CAPTURE(cut);
      CHECK(restore_in_chunks(*f.vault, text, {cut}, TokenText::json) == R"({"note":"a\"b\\c\nd\te\rf\u0001"})");
    }
    CHECK(restore_in_chunks(*f.vault, note, {}) == "a\"b\\c\nd\te\rf\x01");
  }

  TEST_CASE("another tenant's or an unknown token is emitted unchanged") {
    VaultFixture f;
    const std::string theirs = f.token("globex", "conv-1", "EMAIL", "eve@globex.example");
    const std::string unknown = "\xE2\x9F\xA6" "EMAIL_abcdef\xE2\x9F\xA7";
    const std::string text = "a " + theirs + " b " + unknown;
    CHECK(restore_in_chunks(*f.vault, text, {5}) == text);
  }
}

// Mappings kept on disk (crypto/vault_journal.hpp): a restarted gateway restores tokens it issued
// before; damage is reported with its byte offset, a record cut short by a crash is dropped.
namespace {

struct PersistentVault {
  std::int64_t now = 1'700'000'000'000;
  SecretKey key = generate_key(KeyKind::vault);
  testing::TempDir dir;
  std::vector<std::string> notes;
  std::int64_t ttl_seconds = 60;

  Result<std::unique_ptr<TokenVault>> open() {
    VaultOptions options;
    options.ttl_seconds = ttl_seconds;
    options.now_ms = [this] { return now; };
    options.directory = dir.path() / "vault";
    options.on_note = [this](const std::string& note) { notes.push_back(note); };
    return TokenVault::create(key, options);
  }
  std::unique_ptr<TokenVault> open_ok() {
    auto opened = open();
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    return std::move(opened.value());
  }
  std::filesystem::path file() const { return dir.path() / "vault" / "mappings.vault"; }
};

std::string tokenize_ok(TokenVault& vault, std::string_view tenant, std::string_view scope, std::string_view value) {
  auto token = vault.tokenize(tenant, scope, "IBAN", value);
  REQUIRE(token.ok());
  return token.value();
}

}  // namespace

TEST_SUITE("vault persistence") {
  TEST_CASE("tokens issued before a restart are restored after it, to their tenant and scope only") {
    PersistentVault p;
    std::string a, b;
    {
      auto vault = p.open_ok();
      a = tokenize_ok(*vault, "acme", "conv-1", "DE89 3704 0044 0532 0130 00");
      b = tokenize_ok(*vault, "globex", "", "GB82 WEST 1234 5698 7654 32");
    }
    auto vault = p.open_ok();
    CHECK(vault->size() == 2);
    CHECK(vault->restore("acme", "conv-1", a) == std::optional<std::string>("DE89 3704 0044 0532 0130 00"));
    CHECK(vault->restore("globex", "", b) == std::optional<std::string>("GB82 WEST 1234 5698 7654 32"));
    CHECK_FALSE(vault->restore("globex", "conv-1", a).has_value());
    CHECK_FALSE(vault->restore("acme", "conv-2", a).has_value());
    // The same value gets the same token again, and no second record is needed for it.
    const auto before = std::filesystem::file_size(p.file());
    CHECK(tokenize_ok(*vault, "acme", "conv-1", "DE89 3704 0044 0532 0130 00") == a);
    CHECK(std::filesystem::file_size(p.file()) == before);
    // The values are on disk only encrypted.
    CHECK(testing::read_bytes(p.file()).find("DE89") == std::string::npos);
    CHECK(p.notes.empty());
  }

  TEST_CASE("expiry survives a restart, and use moves it on, on disk too") {
    PersistentVault p;
    p.ttl_seconds = 100;
    std::string t;
    {
      auto vault = p.open_ok();
      t = tokenize_ok(*vault, "acme", "", "NL91 ABNA 0417 1643 00");
      p.now += 60'000;  // past half the time to live: using it again writes the new expiry
      CHECK(tokenize_ok(*vault, "acme", "", "NL91 ABNA 0417 1643 00") == t);
    }
    p.now += 90'000;  // 150 s after creation, 90 s after the last use
    {
      auto vault = p.open_ok();
      CHECK(vault->restore("acme", "", t).has_value());
    }
    p.now += 20'000;
    auto vault = p.open_ok();
    CHECK_FALSE(vault->restore("acme", "", t).has_value());
    CHECK(vault->size() == 0);
  }

  TEST_CASE("a record cut short by a crash is dropped with a note; the records before it stay") {
    PersistentVault p;
    std::string kept;
    {
      auto vault = p.open_ok();
      kept = tokenize_ok(*vault, "acme", "", "DE89 3704 0044 0532 0130 00");
      tokenize_ok(*vault, "acme", "", "FR14 2004 1010 0505 0001 3M02 606");
    }
    const std::string bytes = testing::read_bytes(p.file());
    for (std::size_t cut : {std::size_t{3}, std::size_t{20}, std::size_t{60}}) {
      testing::write_bytes(p.file(), bytes.substr(0, bytes.size() - cut));
      // Read as `sovereign vault check` does, it is left as it is: one record, then the cut one.
      std::size_t seen = 0;
      auto report = VaultJournal::check(p.file(), [&](JournalRecord&) { ++seen; });
      REQUIRE(report.ok());
      CHECK(report.value().records == 1);
      CHECK(seen == 1);
      CHECK(report.value().file_bytes == bytes.size() - cut);
      CHECK(report.value().good_bytes < report.value().file_bytes);
      p.notes.clear();
      auto vault = p.open_ok();
      CHECK(vault->size() == 1);
      CHECK(vault->restore("acme", "", kept).has_value());
      REQUIRE(p.notes.size() == 1);
      CHECK(p.notes[0].find("dropped an incomplete mapping record at byte") != std::string::npos);
    }
  }

  TEST_CASE("an end that reads as zeros after a power loss is cut away with a note; damage ending in zeros is not") {
    // A file's new size can reach the disk before the data written into it: its end then reads as
    // zeros, from where that data began (a record's first byte) or from a disk block's boundary (a
    // multiple of 512 bytes) inside it. Three records: the last one holds byte 512.
    PersistentVault p;
    std::string kept;
    {
      auto vault = p.open_ok();
      kept = tokenize_ok(*vault, "acme", "", "DE89 3704 0044 0532 0130 00");
      tokenize_ok(*vault, "acme", "", "FR14 2004 1010 0505 0001 3M02 606");
      tokenize_ok(*vault, "acme", "", "GB82 WEST 1234 5698 7654 32");
    }
    const std::string bytes = testing::read_bytes(p.file());
    const std::size_t third = bytes.rfind("SVM1");  // where the last record begins
    REQUIRE(third < 512);
    REQUIRE(bytes.size() > 512);
    auto torn_at = [&](const std::string& torn, std::size_t good, std::uint64_t records) {
      testing::write_bytes(p.file(), torn);
      auto report = VaultJournal::check(p.file(), [](JournalRecord&) {});
      REQUIRE(report.ok());
      CHECK(report.value().records == records);
      CHECK(report.value().good_bytes == good);
      CHECK(report.value().file_bytes == torn.size());
      p.notes.clear();
      {
        auto vault = p.open_ok();
        CHECK(vault->size() == records);
        CHECK(vault->restore("acme", "", kept).has_value());
        REQUIRE(p.notes.size() == 1);
        CHECK(p.notes[0].find("dropped an incomplete mapping record at byte " + std::to_string(good)) != std::string::npos);
      }
      CHECK(testing::read_bytes(p.file()) == bytes.substr(0, good));
    };
    for (std::size_t added : {std::size_t{0}, std::size_t{4096}}) {
      CAPTURE(added);
      const std::string zeros(bytes.size() + added, '\0');
      torn_at(bytes.substr(0, third) + zeros.substr(third), third, 2);  // from the last record's first byte
      torn_at(bytes.substr(0, 512) + zeros.substr(512), third, 2);      // from a block boundary inside it
      if (added > 0) torn_at(bytes + zeros.substr(bytes.size()), bytes.size(), 3);  // after the last record
    }
    // Zeros from inside the last record, not at a block boundary: damage, with its byte. So is damage
    // elsewhere with zeros after the last record.
    std::size_t from = 513;
    while (bytes[from - 1] == '\0') ++from;
    REQUIRE(bytes.find_first_not_of('\0', from) != std::string::npos);  // the zeros change the record
    testing::write_bytes(p.file(), bytes.substr(0, from) + std::string(bytes.size() - from, '\0'));
    auto inside = p.open();
    REQUIRE_FALSE(inside.ok());
    CHECK(inside.error().message.find("byte " + std::to_string(third) + ": mapping record damaged (checksum mismatch)") !=
          std::string::npos);
    std::string damaged = bytes + std::string(64, '\0');
    damaged[40] ^= 0x01;  // inside the first record
    testing::write_bytes(p.file(), damaged);
    auto refused = p.open();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("byte 28: mapping record damaged (checksum mismatch)") != std::string::npos);
  }

  TEST_CASE("a mappings file others can read is refused by check as by open, with the chmod that fixes it") {
    PersistentVault p;
    { auto vault = p.open_ok(); tokenize_ok(*vault, "acme", "", "DE89 3704 0044 0532 0130 00"); }
    std::filesystem::permissions(p.file(), std::filesystem::perms::group_read | std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);
    auto opened = p.open();
    REQUIRE_FALSE(opened.ok());
    auto report = VaultJournal::check(p.file(), [](JournalRecord&) {});
    REQUIRE_FALSE(report.ok());
    CHECK(report.error().message == opened.error().message);
    CHECK(report.error().message.find("permissions 0644 let group or others read a secret; run: chmod 600 " +
                                      p.file().string()) != std::string::npos);
  }

  TEST_CASE("damage is refused with the file and byte; a garbage file is not taken for a vault") {
    PersistentVault p;
    { auto vault = p.open_ok(); tokenize_ok(*vault, "acme", "", "DE89 3704 0044 0532 0130 00"); }
    std::string bytes = testing::read_bytes(p.file());
    bytes[bytes.size() - 30] ^= 0x01;
    testing::write_bytes(p.file(), bytes);
    auto damaged = p.open();
    REQUIRE_FALSE(damaged.ok());
    CHECK(damaged.error().message.find("mappings.vault: byte 28: mapping record damaged (checksum mismatch)") !=
          std::string::npos);
    CHECK(damaged.error().message.find("Move it away") != std::string::npos);

    testing::write_bytes(p.file(), "not a vault at all\n");
    auto garbage = p.open();
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().message.find("byte 0: not a token vault mappings file") != std::string::npos);
  }

  TEST_CASE("mappings of a rotated key are dropped with a note; one process per directory; private files") {
    PersistentVault p;
    { auto vault = p.open_ok(); tokenize_ok(*vault, "acme", "", "DE89 3704 0044 0532 0130 00"); }
    p.key = generate_key(KeyKind::vault);
    {
      auto vault = p.open_ok();
      CHECK(vault->size() == 0);
      REQUIRE(p.notes.size() == 1);
      CHECK(p.notes[0].find("1 mapping records were made with another vault key") != std::string::npos);
      auto second = p.open();
      REQUIRE_FALSE(second.ok());
      CHECK(second.error().message.find("another gateway process uses this vault directory") != std::string::npos);
    }
    CHECK((std::filesystem::status(p.file()).permissions() & std::filesystem::perms::group_all) ==
          std::filesystem::perms::none);
    std::filesystem::permissions(p.file(), std::filesystem::perms::group_read, std::filesystem::perm_options::add);
    auto readable = p.open();
    REQUIRE_FALSE(readable.ok());
    CHECK(readable.error().message.find("mappings.vault") != std::string::npos);
  }

  TEST_CASE("a start with another key keeps the file as it was: put back, with the right key, its tokens are restored") {
    PersistentVault p;
    std::string token;
    { auto vault = p.open_ok(); token = tokenize_ok(*vault, "acme", "conv", "DE89 3704 0044 0532 0130 00"); }
    const std::string before = testing::read_bytes(p.file());
    SecretKey right = std::move(p.key);
    p.key = generate_key(KeyKind::vault);  // a wrong path in gateway.yaml, another site's key, an old backup
    const std::filesystem::path kept = p.file().string() + ".before-key-" + p.key.metadata.key_id;
    {
      auto vault = p.open_ok();
      CHECK(vault->size() == 0);
      REQUIRE(p.notes.size() == 1);
      CHECK(p.notes[0].find("1 mapping records were made with another vault key (rotated since) and can no longer be "
                            "restored; dropped (1 not expired); the file as it was is kept as " + kept.string() +
                            ": if this is not the key") != std::string::npos);
      tokenize_ok(*vault, "acme", "conv", "FR14 2004 1010 0505 0001 3M02 606");
    }
    CHECK(testing::read_bytes(kept) == before);
    CHECK((std::filesystem::status(kept).permissions() & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
    // Its next start finds nothing of another key: no note. The right key, with the file put back,
    // restores the tokens as if nothing had happened.
    p.notes.clear();
    { auto vault = p.open_ok(); }
    CHECK(p.notes.empty());
    std::filesystem::rename(kept, p.file());
    p.key = std::move(right);
    p.notes.clear();
    {
      auto vault = p.open_ok();
      CHECK(vault->restore("acme", "conv", token) == std::optional<std::string>("DE89 3704 0044 0532 0130 00"));
      CHECK(p.notes.empty());
    }
    // Mappings of another key that have all expired are dropped without a copy: nothing is lost.
    p.key = generate_key(KeyKind::vault);
    p.now += 120'000;
    p.notes.clear();
    { auto vault = p.open_ok(); }
    REQUIRE(p.notes.size() == 1);
    CHECK(p.notes[0].find("kept as") == std::string::npos);
    CHECK_FALSE(std::filesystem::exists(p.file().string() + ".before-key-" + p.key.metadata.key_id));
  }

  TEST_CASE("a request's own mappings are restored while it runs, never written, and forgotten after it") {
    PersistentVault p;
    auto vault = p.open_ok();
    const auto before = std::filesystem::file_size(p.file());
    auto token = vault->tokenize_for_request("acme", "req-1", "EMAIL", "jane@example.org");
    REQUIRE(token.ok());
    CHECK(vault->restore("acme", "req-1", token.value()) == std::optional<std::string>("jane@example.org"));
    CHECK(std::filesystem::file_size(p.file()) == before);  // nothing on disk
    const std::string kept = tokenize_ok(*vault, "acme", "conv-1", "DE89 3704 0044 0532 0130 00");
    CHECK(vault->size() == 2);
    vault->forget("acme", "req-1");
    CHECK_FALSE(vault->restore("acme", "req-1", token.value()).has_value());
    CHECK(vault->size() == 1);
    vault->forget("acme", "conv-1");  // a conversation's mappings are not the request's to drop
    CHECK(vault->restore("acme", "conv-1", kept).has_value());
    vault.reset();
    CHECK(p.open_ok()->size() == 1);
  }

  TEST_CASE("threads tokenizing and restoring at once all end up on disk") {
    PersistentVault p;
    std::vector<std::vector<std::string>> tokens(4);
    {
      auto vault = p.open_ok();
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
          for (int i = 0; i < 1500; ++i) {
            auto token = vault->tokenize("acme", "conv-" + std::to_string(t), "IBAN", "value " + std::to_string(i));
            if (!token) continue;
            tokens[t].push_back(token.value());
            (void)vault->restore("acme", "conv-" + std::to_string(t), token.value());
          }
        });
      for (auto& thread : threads) thread.join();
    }
    auto vault = p.open_ok();
    CHECK(vault->size() == 6000);
    for (int t = 0; t < 4; ++t) {
      REQUIRE(tokens[t].size() == 1500);
      CHECK(vault->restore("acme", "conv-" + std::to_string(t), tokens[t][1499]) ==
            std::optional<std::string>("value 1499"));
    }
  }

  TEST_CASE("expired mappings are compacted away: the file does not grow without bound") {
    PersistentVault p;
    p.ttl_seconds = 1;
    auto vault = p.open_ok();
    for (int i = 0; i < 20000; ++i) {
      tokenize_ok(*vault, "acme", "", "value " + std::to_string(i));
      if (i % 1000 == 999) p.now += 2'000;  // the thousand before expire
    }
    // Expired mappings are purged every 4096 new ones: at most that many and the live thousand remain.
    CHECK(vault->size() <= 4096 + 1000);
    // At most twice the live records plus the 4096 between purges, at about 150 bytes each.
    CHECK(std::filesystem::file_size(p.file()) < 150 * (2 * (4096 + 1000) + 4096));
    vault.reset();
    CHECK(p.open_ok()->size() <= 1000);  // only live mappings are read back
  }
}
