#pragma once
// What the built-in inference engine (backend type: local) is asked to do for one OpenAI request:
// the prompt or conversation and the sampling parameters, validated by name. Parameters and
// content the engine cannot honour are refused with a 400 naming them, never silently ignored, so
// a client never takes an answer made without them for one made with them.
#include <variant>

#include "accel/compute/engine.hpp"
#include "gateway/openai/api_error.hpp"
#include "gateway/openai/request_body.hpp"

namespace sovereign::gateway {

// Builds the engine request from a decoded OpenAI body; an ApiError names the offending field.
std::variant<accel::GenerationRequest, ApiError> generation_request(const DecodedRequest& request);

}  // namespace sovereign::gateway
