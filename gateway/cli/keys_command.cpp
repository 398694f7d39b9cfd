#include "gateway/cli/keys_command.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "crypto/file_io.hpp"
#include "crypto/key_file.hpp"
#include "crypto/key_store.hpp"
#include "gateway/cli/arguments.hpp"

namespace sovereign::gateway {

namespace {

using namespace sovereign::crypto;

constexpr const char* usage = R"(usage: sovereign keys COMMAND [--dir DIR] [--passphrase-file FILE (init, rotate)]

  init                       create the audit signing key, the vault key and the auditor key pair
                             (existing keys are kept)
  rotate KIND                replace a key; KIND is audit-signing, vault or auditor (an auditor key
                             whose secret was moved off this host is rotated from auditor.pub)
  list                       the keys in DIR with kind, key id, creation time and protection
  export-public KIND         print the public keyring of audit-signing or auditor keys

DIR defaults to var/keys. Secret keys are written 0600. With --passphrase-file (or the
SOVEREIGN_KEY_PASSPHRASE_FILE / SOVEREIGN_KEY_PASSPHRASE environment variables) new secret keys
are encrypted with Argon2id; the gateway then needs the same variable to start. rotate keeps the
protection of the key it replaces: it needs the passphrase of a protected key, and takes none for
an unprotected one.
)";

struct Options {
  std::filesystem::path dir = "var/keys";
  std::optional<SecretBytes> passphrase;
  std::vector<std::string> positional;
};

const CommandUsage keys_usage("sovereign keys", usage);

int usage_error(const std::string& message) { return keys_usage.error(message); }

// The options, or the exit status of a command line answered already (help, or a mistake).
// `writes_keys`: init and rotate, the commands that write secret keys and so read the passphrase;
// list and export-public read no secret and take none.
std::variant<Options, int> parse(std::span<const std::string> args, bool writes_keys) {
  for (const std::string& arg : args) {
    if (arg == "--passphrase" || arg.starts_with("--passphrase="))
      return usage_error("passphrases are never taken on the command line; use --passphrase-file or SOVEREIGN_KEY_PASSPHRASE_FILE");
  }
  auto parsed = keys_usage.parse(args, ArgumentSpec().takes_values({"--dir", "--passphrase-file"}));
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Arguments& arguments = std::get<Arguments>(parsed);
  Options options;
  if (auto dir = arguments.value("--dir")) options.dir = *dir;
  options.positional = arguments.positionals();
  if (!writes_keys) {
    if (arguments.value("--passphrase-file"))
      return usage_error("--passphrase-file is for init and rotate; list and export-public read no secret key");
    return options;
  }
  Result<std::optional<SecretBytes>> passphrase =
      passphrase_from_file_or_environment(arguments.value("--passphrase-file"));
  if (!passphrase) {
    std::cerr << "sovereign keys: " << passphrase.error().message << '\n';
    return 2;
  }
  options.passphrase = std::move(passphrase.value());
  return options;
}

// The line saying that a keyring lacked the public key of a secret kept or replaced, and got it.
void print_keyring_repair(KeyringRepair repair, const std::filesystem::path& keyring, std::string_view key,
                          const std::filesystem::path& secret) {
  if (repair == KeyringRepair::none) return;
  std::cout << "recorded " << key << " in " << keyring.string()
            << (repair == KeyringRepair::created ? " (the file was missing: recreated from "
                                                 : " (it held other keys only: derived from ")
            << secret.string() << ")\n";
}

int init(const Options& options) {
  if (!options.positional.empty()) return usage_error("init takes no arguments");
  const SecretBytes* passphrase = options.passphrase ? &*options.passphrase : nullptr;
  Result<std::vector<KeyInitOutcome>> outcomes = initialize_keys(options.dir, passphrase);
  if (!outcomes) {
    std::cerr << "sovereign keys: " << outcomes.error().message << '\n';
    return 1;
  }
  bool auditor_secret_here = true;
  int status = 0;
  for (const KeyInitOutcome& outcome : outcomes.value()) {
    if (outcome.secret_elsewhere) {
      auditor_secret_here = false;
      std::cout << "kept     " << key_kind_name(outcome.kind) << " key " << outcome.key_id << " (public key in "
                << outcome.path.string() << "; its secret is held elsewhere)\n";
      continue;
    }
    std::cout << (outcome.created ? "created  " : "kept     ") << key_kind_name(outcome.kind) << " key "
              << outcome.key_id << " (" << outcome.path.string()
              << (outcome.created && passphrase ? ", passphrase-protected" : "") << ")\n";
    if (auto keyring = public_keyring_path(options.dir, outcome.kind)) {
      print_keyring_repair(outcome.keyring_repair, *keyring,
                           std::string(key_kind_name(outcome.kind)) + " key " + outcome.key_id, outcome.path);
    }
    // A kept key others can read would stop the gateway (and leaks the secret): said here, not at start.
    if (Status permissions = check_private_permissions(outcome.path); !permissions) {
      std::cout << "UNSAFE   " << permissions.error().message << '\n';
      status = 1;
    }
  }
  // Old auditor secrets kept by rotation open older captures: as private as the others.
  for (const auto& kept : kept_auditor_keys(options.dir)) {
    if (Status permissions = check_private_permissions(kept); !permissions) {
      std::cout << "UNSAFE   " << permissions.error().message << '\n';
      status = 1;
    }
  }
  const auto& dir = options.dir;
  std::cout << "\nThe gateway needs " << secret_key_path(dir, KeyKind::audit_signing).string() << ", "
            << secret_key_path(dir, KeyKind::vault).string() << " and "
            << public_keyring_path(dir, KeyKind::auditor)->string() << ".\n";
  if (auditor_secret_here) {
    std::cout << "Give " << secret_key_path(dir, KeyKind::auditor).string()
              << " to your auditor and remove it from this host: whoever holds it can open sealed captures.\n";
  }
  std::cout << "Auditors verify the log with " << public_keyring_path(dir, KeyKind::audit_signing)->string() << ".\n";
  return status;
}

int rotate(const Options& options) {
  if (options.positional.size() != 1) return usage_error("rotate needs KIND (audit-signing, vault or auditor)");
  std::optional<KeyKind> kind = parse_key_kind(options.positional[0]);
  if (!kind) return usage_error("unknown key kind '" + options.positional[0] + "'");
  Result<KeyRotation> rotation =
      rotate_key(options.dir, *kind, options.passphrase ? &*options.passphrase : nullptr);
  if (!rotation) {
    std::cerr << "sovereign keys: " << rotation.error().message << '\n';
    return 1;
  }
  if (auto keyring = public_keyring_path(options.dir, *kind)) {
    print_keyring_repair(rotation->old_key_recorded, *keyring,
                         "old " + std::string(key_kind_name(*kind)) + " key " + rotation->old_key_id,
                         secret_key_path(options.dir, *kind));
  }
  if (rotation->kept_old_key) {
    std::cout << "kept old auditor key " << rotation->old_key_id << " as " << rotation->kept_old_key->string() << '\n';
  }
  std::cout << "rotated  " << key_kind_name(*kind) << " key " << rotation->old_key_id << " -> " << rotation->new_key_id
            << (rotation->passphrase_protected ? " (passphrase-protected)" : "") << '\n';
  if (*kind == KeyKind::audit_signing && rotation->old_key_recorded == KeyringRepair::none) {
    std::cout << "Older checkpoints stay verifiable: " << public_keyring_path(options.dir, *kind)->string()
              << " keeps every public key. Restart the gateway to sign with the new key.\n";
  } else if (*kind == KeyKind::audit_signing) {
    // The keyring lacked the old key, so it may lack earlier ones too: only the keyring that held
    // them can give them back.
    std::cout << "Checkpoints signed by key " << rotation->old_key_id << " or the new key verify with "
              << public_keyring_path(options.dir, *kind)->string() << "; any signed by keys before "
              << rotation->old_key_id << " need the keyring that held them. Restart the gateway to sign with "
              << "the new key.\n";
  } else if (*kind == KeyKind::vault) {
    std::cout << "Tokens issued under the old key can no longer be restored once the gateway restarts.\n";
  } else {
    std::cout << "Give " << secret_key_path(options.dir, *kind).string()
              << " to your auditor and remove it from this host: whoever holds it can open sealed captures.\n";
  }
  return 0;
}

int list(const Options& options) {
  if (!options.positional.empty()) return usage_error("list takes no arguments");
  std::error_code ec;
  std::filesystem::directory_iterator it(options.dir, ec);
  if (ec) {
    std::cerr << "sovereign keys: " << options.dir.string() << ": " << ec.message() << '\n';
    return 1;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : it) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".key" || ext == ".pub") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  int status = 0;
  for (const auto& file : files) {
    if (file.extension() == ".pub") {
      Result<std::vector<PublicKey>> keys = read_public_keys(file);
      if (!keys) {
        std::cout << file.filename().string() << "  ERROR " << keys.error().message << '\n';
        status = 1;
        continue;
      }
      for (const PublicKey& key : keys.value()) {
        std::cout << file.filename().string() << "  public  " << key_kind_name(key.kind) << "  " << key.key_id << "  "
                  << key.created << '\n';
      }
      continue;
    }
    Result<KeyMetadata> metadata = read_key_metadata(file);
    if (!metadata) {
      std::cout << file.filename().string() << "  ERROR " << metadata.error().message << '\n';
      status = 1;
      continue;
    }
    Status permissions = check_private_permissions(file);
    std::cout << file.filename().string() << "  secret  " << key_kind_name(metadata->kind) << "  " << metadata->key_id
              << "  " << metadata->created << "  " << (metadata->passphrase_protected ? "argon2id" : "no passphrase")
              << (permissions ? "" : "  UNSAFE: " + permissions.error().message) << '\n';
    if (!permissions) status = 1;
  }
  if (files.empty()) std::cout << "no keys in " << options.dir.string() << " (run 'sovereign keys init')\n";
  return status;
}

int export_public(const Options& options) {
  if (options.positional.size() != 1) return usage_error("export-public needs KIND (audit-signing or auditor)");
  std::optional<KeyKind> kind = parse_key_kind(options.positional[0]);
  if (!kind || *kind == KeyKind::vault) return usage_error("export-public KIND is audit-signing or auditor");
  Result<std::vector<PublicKey>> keys = read_public_keys(*public_keyring_path(options.dir, *kind));
  if (!keys) {
    std::cerr << "sovereign keys: " << keys.error().message << '\n';
    return 1;
  }
  for (const PublicKey& key : keys.value()) std::cout << format_public_key(key) << '\n';
  return 0;
}

}  // namespace

int run_keys_command(std::span<const std::string> args) {
  if (const auto answered = keys_usage.answer_without_subcommand(args)) return *answered;
  const std::string& command = args[0];
  if (command != "init" && command != "rotate" && command != "list" && command != "export-public") {
    return usage_error("unknown command '" + command + "'");
  }
  auto parsed = parse(args.subspan(1), command == "init" || command == "rotate");
  if (auto* answered = std::get_if<int>(&parsed)) return *answered;
  const Options* options = &std::get<Options>(parsed);
  if (command == "init") return init(*options);
  if (command == "rotate") return rotate(*options);
  if (command == "list") return list(*options);
  return export_public(*options);
}

}  // namespace sovereign::gateway
