#pragma once
// When a policy file saved on disk is applied. The file is polled; it is applied only once what it
// holds (its identity on disk and the digest of its bytes) has stayed the same across one poll, so a
// file written in place piece by piece (scp, sftp, `cat >`) is applied whole, never half-written;
// and it is applied when those bytes differ from the policy in force, compared by content, so a save
// that lands while a reload or start-up reads the policy is applied, not taken for the one in force.
#include <filesystem>
#include <optional>
#include <string>

namespace sovereign::gateway {

class PolicyFileWatch {
 public:
  // A settled file to apply: its text, or nullopt where it could not be read (missing, a directory,
  // not readable: a reload reading it again says why).
  struct Change {
    std::optional<std::string> text;
  };

  // The policy in force was built from bytes whose SHA-256 (hex) is `version` (Policy::version());
  // the file is examined afresh from the next poll.
  void restart(std::string version);

  // Called once per poll interval. A change to apply, once the file has settled and holds other
  // bytes than those in force or last handed out (applied or refused: refused bytes are not offered
  // again until the file changes); nullopt otherwise.
  std::optional<Change> poll(const std::filesystem::path& file);

  // Whether the file, as last settled, holds bytes that were handed out and not put in force (refused,
  // or unreadable): true from the poll after a refusal until the file settles on a version in force.
  bool refused() const;

 private:
  struct Observation {
    std::string identity;  // device, inode, size, modification and change times; empty: no such file
    std::string digest;    // SHA-256 (hex) of the bytes read; empty: not readable
    bool operator==(const Observation&) const = default;
  };

  std::optional<Observation> settled_;  // examined: nothing to do until the file changes again
  std::optional<Observation> pending_;  // seen at the previous poll, not yet seen unchanged
  std::string in_force_;                // digest of the bytes the policy in force was built from
  std::string offered_;                 // digest of the bytes last handed out (refused, if not in force)
};

}  // namespace sovereign::gateway
