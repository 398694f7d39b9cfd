// Key files: known-answer derivations, 0600 files, permission refusal, passphrases, and clear
// errors for every malformed file.
#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>

#include "crypto/checkpoint.hpp"
#include "crypto/file_io.hpp"
#include "crypto/hex.hpp"
#include "crypto/key_file.hpp"
#include "test_support.hpp"

using namespace sovereign::crypto;
using namespace sovereign::crypto::testing;

namespace {

SecretKey known_key(KeyKind kind, std::string_view secret_hex) {
  SecretBytes secret(32);
  REQUIRE(from_hex_into(secret_hex, secret.span()));
  auto key = key_from_secret(kind, std::move(secret));
  REQUIRE(key.ok());
  return std::move(key.value());
}

SecretBytes passphrase(std::string_view text) {
  SecretBytes out(text.size());
  std::copy(text.begin(), text.end(), out.data());
  return out;
}

std::string error_of(const std::filesystem::path& path, const SecretBytes* pass = nullptr) {
  auto result = read_secret_key_file(path, pass, std::nullopt);
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_SUITE("keys") {
  TEST_CASE("signing keys derive the RFC 8032 public key and sign verifiable checkpoints") {
    SecretKey key = known_key(KeyKind::audit_signing,
                                    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    CHECK(to_hex(key.public_key) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    auto signer = CheckpointSigner::from_key(key);
    REQUIRE(signer.ok());
    Checkpoint checkpoint;
    checkpoint.tree_size = 3;
    checkpoint.time_ms = 1700000000000;
    signer->sign(checkpoint);
    TrustedKeys trusted;
    trusted.add(public_key_of(key));
    CHECK(trusted.verify(checkpoint).ok());
    // The same signature is what libsodium's verifier accepts over the documented message.
    const std::string message = checkpoint.signed_message();
    CHECK(crypto_sign_verify_detached(checkpoint.signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                      message.size(), key.public_key.data()) == 0);
    checkpoint.tree_size = 4;
    CHECK_FALSE(trusted.verify(checkpoint).ok());
  }

  TEST_CASE("auditor keys derive the RFC 7748 X25519 public key") {
    SecretKey key = known_key(KeyKind::auditor,
                                    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    CHECK(to_hex(key.public_key) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  }

  TEST_CASE("key files round-trip with mode 0600 and refuse to overwrite") {
    TempDir dir;
    for (KeyKind kind : {KeyKind::audit_signing, KeyKind::vault, KeyKind::auditor}) {
      SecretKey key = generate_key(kind);
      const auto path = dir.path() / (std::string(key_kind_name(kind)) + ".key");
      REQUIRE(write_secret_key_file(path, key, nullptr, false).ok());
      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
      auto loaded = read_secret_key_file(path, nullptr, kind);
      REQUIRE(loaded.ok());
      CHECK(loaded->metadata.key_id == key.metadata.key_id);
      CHECK(loaded->public_key == key.public_key);
      CHECK(std::equal(loaded->secret.data(), loaded->secret.data() + 32, key.secret.data()));
      Status again = write_secret_key_file(path, generate_key(kind), nullptr, false);
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().message == path.string() + ": already exists; refusing to overwrite it");
    }
  }

  TEST_CASE("an unprotected key file holds the secret as 64 hex digits on its last line") {
    // The secret's hex is written in place (no temporary copies); the file must still read back.
    TempDir dir;
    const auto path = dir.path() / "signing.key";
    SecretKey key =
        known_key(KeyKind::audit_signing, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    REQUIRE(write_secret_key_file(path, key, nullptr, false).ok());
    const std::string text = read_bytes(path);
    const std::string last_line = "secret: 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n";
    REQUIRE(text.size() > last_line.size());
    CHECK(text.substr(text.size() - last_line.size()) == last_line);
    CHECK(text.find('\0') == std::string::npos);
    auto loaded = read_secret_key_file(path, nullptr, KeyKind::audit_signing);
    REQUIRE(loaded.ok());
    CHECK(to_hex(loaded->public_key) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  }

  TEST_CASE("a group- or world-readable key file is refused with the fix") {
    TempDir dir;
    const auto path = dir.path() / "signing.key";
    REQUIRE(write_secret_key_file(path, generate_key(KeyKind::audit_signing), nullptr, false).ok());
    ::chmod(path.c_str(), 0640);
    CHECK(error_of(path) == path.string() + ": permissions 0640 let group or others read a secret; run: chmod 600 " +
                                path.string());
    ::chmod(path.c_str(), 0604);
    CHECK(error_of(path).find("permissions 0604") != std::string::npos);
  }

  TEST_CASE("passphrase-protected keys need the right passphrase") {
    TempDir dir;
    const auto path = dir.path() / "vault.key";
    SecretKey key = generate_key(KeyKind::vault);
    SecretBytes right = passphrase("correct horse battery staple");
    SecretBytes wrong = passphrase("correct horse battery stapler");
    REQUIRE(write_secret_key_file(path, key, &right, false).ok());
    CHECK(read_small_file(path, 4096)->find(to_hex(key.secret.span())) == std::string::npos);
    auto metadata = read_key_metadata(path);
    REQUIRE(metadata.ok());
    CHECK(metadata->passphrase_protected);
    auto loaded = read_secret_key_file(path, &right, KeyKind::vault);
    REQUIRE(loaded.ok());
    CHECK(std::equal(loaded->secret.data(), loaded->secret.data() + 32, key.secret.data()));
    CHECK(error_of(path, &wrong) == path.string() + ": wrong passphrase, or the key file was modified");
    CHECK(error_of(path).find("is passphrase-protected; pass --passphrase-file FILE (serve, keys, audit open) or set "
                              "SOVEREIGN_KEY_PASSPHRASE_FILE") != std::string::npos);
  }

  TEST_CASE("the passphrase comes from SOVEREIGN_KEY_PASSPHRASE_FILE or SOVEREIGN_KEY_PASSPHRASE") {
    TempDir dir;
    write_private(dir.path() / "pass", "from file\n");
    ::setenv("SOVEREIGN_KEY_PASSPHRASE_FILE", (dir.path() / "pass").c_str(), 1);
    auto from_file = passphrase_from_environment();
    REQUIRE(from_file.ok());
    REQUIRE(from_file->has_value());
    CHECK(std::string(reinterpret_cast<const char*>(from_file->value().data()), from_file->value().size()) == "from file");
    ::unsetenv("SOVEREIGN_KEY_PASSPHRASE_FILE");
    ::setenv("SOVEREIGN_KEY_PASSPHRASE", "from env", 1);
    auto from_env = passphrase_from_environment();
    REQUIRE(from_env.ok());
    CHECK(from_env->value().size() == 8);
    ::unsetenv("SOVEREIGN_KEY_PASSPHRASE");
    auto none = passphrase_from_environment();
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    write_private(dir.path() / "empty", "\n");
    auto empty = read_passphrase_file(dir.path() / "empty");
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().message.find("the passphrase file is empty") != std::string::npos);
  }

  TEST_CASE("a passphrase file is checked like a key file: private, small, one line") {
    TempDir dir;
    const auto path = dir.path() / "pass";
    auto text_of = [&](const std::string& bytes) {
      write_private(path, bytes);
      auto read = read_passphrase_file(path);
      REQUIRE(read.ok());
      return std::string(reinterpret_cast<const char*>(read->data()), read->size());
    };
    auto error_for = [&](const std::string& bytes) {
      write_private(path, bytes);
      auto read = read_passphrase_file(path);
      REQUIRE_FALSE(read.ok());
      return read.error().message;
    };
    CHECK(text_of("no newline") == "no newline");
    CHECK(text_of("one newline\n") == "one newline");
    CHECK(text_of("windows line\r\n") == "windows line");
    CHECK(text_of("  spaces kept  \n") == "  spaces kept  ");
    CHECK(error_for("lone cr\r").find("holds more than one line") != std::string::npos);
    CHECK(error_for("\r\n") == path.string() + ": the passphrase file is empty");
    CHECK(error_for("two\nlines\n") == path.string() + ": the passphrase file holds more than one line; write the " +
                                           "passphrase on one line (one trailing newline is allowed)");
    CHECK(error_for("blank line after\n\n").find("holds more than one line") != std::string::npos);
    CHECK(error_for(std::string(5000, 'x')).find("5000 bytes, larger than the 4096 bytes") != std::string::npos);

    write_private(path, "secret\n");
    ::chmod(path.c_str(), 0644);
    auto readable = read_passphrase_file(path);
    REQUIRE_FALSE(readable.ok());
    CHECK(readable.error().message ==
          path.string() + ": permissions 0644 let group or others read a secret; run: chmod 600 " + path.string());
    auto missing = read_passphrase_file(dir.path() / "missing");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find((dir.path() / "missing").string() + ": cannot stat") != std::string::npos);

    // Each source is named, so the operator knows which setting to fix.
    auto from_option = passphrase_from_file_or_environment(path.string());
    REQUIRE_FALSE(from_option.ok());
    CHECK(from_option.error().message.starts_with("--passphrase-file: " + path.string() + ": permissions 0644"));
    ::setenv("SOVEREIGN_KEY_PASSPHRASE_FILE", path.c_str(), 1);
    auto from_environment = passphrase_from_environment();
    ::unsetenv("SOVEREIGN_KEY_PASSPHRASE_FILE");
    REQUIRE_FALSE(from_environment.ok());
    CHECK(from_environment.error().message.starts_with("SOVEREIGN_KEY_PASSPHRASE_FILE: " + path.string()));
  }

  TEST_CASE("malformed key files get errors naming the file and line") {
    TempDir dir;
    const auto path = dir.path() / "bad.key";
    const std::string name = path.string();
    SecretKey key = generate_key(KeyKind::audit_signing);
    REQUIRE(write_secret_key_file(path, key, nullptr, true).ok());
    const std::string good = read_bytes(path);

    // Bytes that are not printable are quoted as \xNN: a garbage file cannot drive the terminal.
    write_private(path, "\x01\x02garbage bytes that are not a key\n");
    CHECK(error_of(path) == name + ":1: expected 'field: value', found '\\x01\\x02garbage bytes that are not a key'");
    write_private(path, "\x1b[2J\x1b]0;owned\x07 and a backslash \\ \xff\n");
    const std::string escaped = error_of(path);
    CHECK(escaped == name + ":1: expected 'field: value', found '\\x1b[2J\\x1b]0;owned\\x07 and a backslash \\x5c \\xff'");
    CHECK(escaped.find('\x1b') == std::string::npos);
    write_private(path, "format\x1b[31m: x\n");
    CHECK(error_of(path) == name + ":1: unknown field 'format\\x1b[31m'");

    write_private(path, "hello: world\n");
    CHECK(error_of(path) == name + ":1: unknown field 'hello'");

    write_private(path, "kind: vault\n");
    CHECK(error_of(path) == name + ": not a Sovereign secret key file (no 'format: sovereign-secret-key-v1' line)");

    std::string truncated = good.substr(0, good.size() - 20);
    write_private(path, truncated);
    CHECK(error_of(path) == name + ":7: expected 64 hex digits");

    std::string other_kind = good;
    other_kind.replace(other_kind.find("kind: audit-signing"), 19, "kind: gateway");
    write_private(path, other_kind);
    CHECK(error_of(path) == name + ":3: unknown key kind 'gateway' (audit-signing, vault or auditor)");

    std::string swapped_kind = good;
    swapped_kind.replace(swapped_kind.find("kind: audit-signing"), 19, "kind: auditor");
    write_private(path, swapped_kind);
    CHECK(error_of(path).find(":4: key-id " + key.metadata.key_id + " does not match the key") != std::string::npos);

    write_private(path, good + "kind: vault\n");
    CHECK(error_of(path) == name + ":8: field 'kind' appears twice");

    write_private(path, good);
    auto wrong_kind = read_secret_key_file(path, nullptr, KeyKind::vault);
    REQUIRE_FALSE(wrong_kind.ok());
    CHECK(wrong_kind.error().message == name + ":3: this is the audit-signing secret key; this command needs the vault secret key (vault.key)");

    write_private(path, std::string(5000, 'x'));
    CHECK(error_of(path).find("larger than the 4096 bytes") != std::string::npos);

    CHECK(error_of(dir.path() / "missing.key").find("cannot stat: No such file or directory") != std::string::npos);
  }

  TEST_CASE("check_secret_key_file refuses without a passphrase what opening the key would refuse") {
    TempDir dir;
    const auto path = dir.path() / "checked.key";
    const std::string name = path.string();
    auto problem = [&](const std::string& text) {
      write_private(path, text);
      Status checked = check_secret_key_file(path, KeyKind::audit_signing);
      REQUIRE_FALSE(checked.ok());
      return checked.error().message;
    };
    // A line of the file replaced by another.
    auto with_line = [](std::string text, const std::string& field, const std::string& line) {
      const std::size_t at = text.find("\n" + field + ": ") + 1;
      return text.replace(at, text.find('\n', at) - at, line);
    };
    SecretKey key = generate_key(KeyKind::audit_signing);
    REQUIRE(write_secret_key_file(path, key, nullptr, true).ok());
    const std::string plain = read_bytes(path);
    CHECK(check_secret_key_file(path, KeyKind::audit_signing).ok());
    // An unprotected key is read whole: what metadata alone let through is refused.
    CHECK(problem(with_line(plain, "secret", "secret: " + std::string(62, 'a'))) == name + ":7: expected 64 hex digits");
    CHECK(problem(with_line(plain, "secret", "# no secret")) == name + ": missing field 'secret'");
    CHECK(problem(with_line(plain, "key-id", "key-id: 0000000000000000")) ==
          name + ":4: key-id 0000000000000000 does not match the key (" + key.metadata.key_id +
              "); the file was modified");
    write_private(path, plain);
    Status vault = check_secret_key_file(path, KeyKind::vault);
    REQUIRE_FALSE(vault.ok());
    CHECK(vault.error().message == name + ":3: this is the audit-signing secret key; this command needs the vault secret key (vault.key)");

    // A protected key: every field is checked for its shape, and no passphrase is asked for.
    SecretBytes pass = passphrase("correct horse");
    REQUIRE(write_secret_key_file(path, key, &pass, true).ok());
    const std::string sealed = read_bytes(path);
    CHECK(check_secret_key_file(path, KeyKind::audit_signing).ok());
    CHECK(problem(with_line(sealed, "kdf-opslimit", "kdf-opslimit: 99")) == name + ":7: must be between 1 and 16");
    CHECK(problem(with_line(sealed, "kdf-memlimit", "kdf-memlimit: lots")) ==
          name + ":8: expected a decimal number, found 'lots'");
    CHECK(problem(with_line(sealed, "kdf-salt", "kdf-salt: abcd")) == name + ":9: expected 32 hex digits");
    CHECK(problem(with_line(sealed, "nonce", "nonce: " + std::string(46, '0'))) == name + ":10: expected 48 hex digits");
    CHECK(problem(with_line(sealed, "secret", "secret: " + std::string(64, '0'))) ==
          name + ":11: expected 96 hex digits (encrypted secret)");
    CHECK(problem(with_line(sealed, "nonce", "# no nonce")) == name + ": missing field 'nonce'");
  }

  TEST_CASE("public keyrings parse with line-numbered errors and check key ids") {
    SecretKey a = generate_key(KeyKind::audit_signing);
    SecretKey b = generate_key(KeyKind::auditor);
    const std::string text = "# comment\n" + format_public_key(public_key_of(a)) + "\n\n" +
                             format_public_key(public_key_of(b)) + "\n";
    auto keys = parse_public_keys(text, "ring.pub");
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 2);
    CHECK(keys.value()[0].key == a.public_key);
    CHECK(keys.value()[1].kind == KeyKind::auditor);

    std::string tampered = format_public_key(public_key_of(a));
    tampered[tampered.size() - 30] = tampered[tampered.size() - 30] == '0' ? '1' : '0';
    auto bad = parse_public_keys("# x\n" + tampered + "\n", "ring.pub");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("ring.pub:2:") == 0);

    auto junk = parse_public_keys("ssh-ed25519 AAAA\n", "ring.pub");
    REQUIRE_FALSE(junk.ok());
    CHECK(junk.error().message ==
          "ring.pub:1: expected 'sovereign-public-key-v1 KIND KEY-ID PUBLIC-KEY-HEX CREATED'");
    auto empty = parse_public_keys("# nothing\n", "ring.pub");
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().message == "ring.pub: contains no public key");
  }

  TEST_CASE("a keyring line's CREATED must be a UTC time, named with FILE:LINE like the other fields") {
    const std::string good = format_public_key(public_key_of(generate_key(KeyKind::audit_signing)));
    const std::string stem = good.substr(0, good.rfind(' ') + 1);
    CHECK(parse_public_keys("# x\n" + good + "\n", "ring.pub").ok());
    for (const char* created : {"notadate", "2026-13-01T00:00:00.000Z", "2026-02-29T00:00:00.000Z",
                                "2026-11-22T24:00:00.000Z", "2026-11-22t02:30:00.000Z", "2026-11-22T02:30:00Z"}) {
      auto bad = parse_public_keys("# x\n" + stem + created + "\n", "ring.pub");
      REQUIRE_FALSE(bad.ok());
      CHECK(bad.error().message ==
            "ring.pub:2: CREATED '" + std::string(created) + "' is not a UTC time like 2026-11-22T02:30:00.000Z");
    }
    CHECK(parse_public_keys(stem + "2028-02-29T23:59:59.999Z\n", "ring.pub").ok());
  }

  TEST_CASE("a secret key file's created field must be a UTC time") {
    TempDir dir;
    const auto path = dir.path() / "created.key";
    REQUIRE(write_secret_key_file(path, generate_key(KeyKind::vault), nullptr, true).ok());
    std::string text = read_bytes(path);
    const std::size_t at = text.find("created: ") + 9;
    write_private(path, text.replace(at, text.find('\n', at) - at, "yesterday"));
    CHECK(error_of(path) == path.string() + ":5: created 'yesterday' is not a UTC time like 2026-11-22T02:30:00.000Z");
  }
}
