#pragma once
// PuTTY's private key files (.ppk), which PuTTY, WinSCP and FileZilla users paste as they would a PEM
// key: "PuTTY-User-Key-File-3: ssh-ed25519", then Encryption, Comment, the public key's lines after
// "Public-Lines: N", the private key's after "Private-Lines: N", and "Private-MAC: ..." (versions 2
// and 3; version 1 wrote "Private-Hash:"). Found by the private_key detector next to the PEM and OpenPGP
// armor, from the header line: the value runs to the end of the private lines and their MAC.

#include <cstddef>
#include <string_view>

#include "policy/builtin_detectors.hpp"

namespace sovereign::policy::putty_keys {

// Anchor: the header's first words ("PuTTY-User-Key-File-2: "). The key runs to the end of its MAC line,
// or, cut short (a paste or file truncated), to the end of the last of its private lines that is there.
// Empty when no private line follows: cut before them, a file holds only its public key.
TextRange expand(std::string_view text, std::size_t begin, std::size_t end);

// A PuTTY key whose private lines hold a run of base64 as long as most of a line (as for a PEM block
// cut before its END line: policy/validators.hpp private_key_block).
bool valid(std::string_view text);

// For the streamed-answer scanner (Straddle): the earliest header, or the beginning of one at the end
// of the buffer, whose key may go on in the next chunk; buffer.size() when there is none.
std::size_t straddle(std::string_view buffer, std::size_t from, std::size_t reach);

}  // namespace sovereign::policy::putty_keys
