#pragma once
// Content parts no detector can read (images, audio, files): which of them a tenant lets through
// unscanned (allow_unscanned in policy.yaml), and why a request holding any other is refused.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// Part types whose payload is text (OpenAI's "text" and "refusal", the Responses API's "input_text" and
// "output_text", which some servers take in chat too): scanned like any text, never unscanned.
bool text_part_type(std::string_view type);

// The part types allow_unscanned may name: those OpenAI-compatible servers take in chat messages
// besides text (OpenAI's image_url, input_audio and file; vLLM's video_url and audio_url).
std::span<const std::string_view> unscanned_part_types();

// Whether a URL carries its data inline (data:..., any case), rather than naming where a backend would
// fetch it from.
bool inline_data_url(std::string_view url);

// Why a request cannot go out with its unscanned parts: where, and what the application is told.
struct UnscannedRefusal {
    std::string path;
    std::string message;
};

// The first part of `parts` that must not go out: one of a type the tenant does not let through
// unscanned, or one that names its data by a URL other than data: (the backend would fetch it from
// outside the boundary, where the gateway's egress guard does not reach). nullopt: every part may go,
// as data of the tenant's unscanned_class.
std::optional<UnscannedRefusal> refuse_unscanned(std::span<const UnscannedPart> parts, const Policy& policy,
                                                 std::string_view tenant);

}  // namespace sovereign::policy
