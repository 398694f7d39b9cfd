// When the policy watcher hands a saved file over to be applied: once it has settled (the same at two
// polls), only when its bytes differ from the policy in force and from what was last refused.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "crypto/digest.hpp"
#include "gateway/runtime/policy_file_watch.hpp"

using sovereign::gateway::PolicyFileWatch;

namespace {

class PolicyDir {
 public:
  PolicyDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sovereign-policy-watch-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
  }
  ~PolicyDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::filesystem::path file() const { return root_ / "policy.yaml"; }
  // Saved by rename, as editors save: a new inode each time, so every save is a change on disk.
  void save(const std::string& text) const {
    const auto temporary = root_ / "policy.yaml.tmp";
    std::ofstream(temporary, std::ios::binary) << text;
    std::filesystem::rename(temporary, file());
  }

 private:
  std::filesystem::path root_;
};

std::string version_of(const std::string& text) { return sovereign::crypto::to_hex(sovereign::crypto::sha256(text)); }

// Polls until the watcher hands something over or has settled without doing so (at most a few polls).
std::optional<PolicyFileWatch::Change> settle(PolicyFileWatch& watch, const std::filesystem::path& file) {
  for (int i = 0; i < 3; ++i)
    if (auto change = watch.poll(file)) return change;
  return std::nullopt;
}

}  // namespace

TEST_SUITE("policy-file-watch") {
  TEST_CASE("a save is handed over once it has settled, and only when it differs from the policy in force") {
    PolicyDir dir;
    const std::string in_force = "name: first\n";
    dir.save(in_force);
    PolicyFileWatch watch;
    watch.restart(version_of(in_force));
    CHECK_FALSE(settle(watch, dir.file()));  // the file holds the policy in force

    dir.save("name: second\n");
    CHECK_FALSE(watch.poll(dir.file()));  // seen once: perhaps still being written
    auto change = watch.poll(dir.file());
    REQUIRE(change);
    REQUIRE(change->text);
    CHECK(*change->text == "name: second\n");
  }

  TEST_CASE("saving the policy in force back after a refused edit hands nothing over") {
    PolicyDir dir;
    const std::string in_force = "name: first\n";
    dir.save(in_force);
    PolicyFileWatch watch;
    watch.restart(version_of(in_force));
    dir.save("name: first\nbogus_key: 1\n");
    REQUIRE(settle(watch, dir.file()));  // offered, and refused: restart() is not called
    dir.save("name: first\nbogus_key: 1\n");
    CHECK_FALSE(settle(watch, dir.file()));  // the refused bytes again: not offered again
    dir.save(in_force);
    CHECK_FALSE(settle(watch, dir.file()));  // the bytes in force: nothing to reload
    dir.save("name: third\n");
    CHECK(settle(watch, dir.file()));
  }
}
