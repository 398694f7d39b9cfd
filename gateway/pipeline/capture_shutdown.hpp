#pragma once
// The capture thread at shutdown. Joining it waits for the write it is in; a write to a hung disk
// never returns, and a gateway that joined it would never stop. So the wait is bounded, and a
// thread still in a write when it ends is left behind.
#include "gateway/pipeline/gateway_services.hpp"

namespace sovereign::gateway {

// Waits, up to audit.capture_write_timeout_ms (the longest a write may take before it counts as
// failing), for the capture thread to finish what was handed to it. True when it has: the thread
// can be joined. False when it is still in a write: that is logged (captures_abandoned, with how
// many writes and probes are outstanding and for how long), and the caller must neither join the
// thread nor destroy `services`, which the write goes on using: it exits the process instead.
// Call it once nothing hands work to the capture thread any more (the workers and admin listener
// have stopped).
[[nodiscard]] bool finish_captures(GatewayServices& services);

}  // namespace sovereign::gateway
