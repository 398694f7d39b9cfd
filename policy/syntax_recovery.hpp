#pragma once
// Reading a policy file on past its YAML syntax errors, for lint: the part each error is in (one item
// of a top-level list, or a whole top-level section) is left out and the rest read again, so that
// independent problems further on are reported in the same run.

#include <string>
#include <string_view>

#include "policy/policy.hpp"

namespace sovereign::policy {

// load_policy_text, and after a YAML syntax error the text again without the part the error is in
// (its lines emptied, so that every position holds), until it parses. The result holds every syntax
// error met, the first as the loader reports it, then the problems of what remains that do not follow
// from what was left out; its `partial` and `read` cover what remains. Where the part an error is in
// cannot be told (it parses on its own), only the errors met so far are reported, as the loader would.
LoadResult load_past_syntax_errors(std::string_view yaml, const std::string& file_label);

}  // namespace sovereign::policy
