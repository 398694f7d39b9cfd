#include "policy/unscanned_parts.hpp"

#include <algorithm>
#include <array>

#include "policy/join.hpp"

namespace sovereign::policy {

namespace {

constexpr std::array<std::string_view, 5> part_types{"image_url", "input_audio", "file", "video_url", "audio_url"};

}  // namespace

bool text_part_type(std::string_view type) {
    return type == "text" || type == "input_text" || type == "output_text" || type == "refusal";
}

std::span<const std::string_view> unscanned_part_types() { return part_types; }

bool inline_data_url(std::string_view url) {
    constexpr std::string_view scheme = "data:";
    if (url.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if ((url[i] | 0x20) != scheme[i]) return false;  // 'D' | 0x20 is 'd'; ':' | 0x20 is ':'
    return true;
}

std::optional<UnscannedRefusal> refuse_unscanned(std::span<const UnscannedPart> parts, const Policy& policy,
                                                 std::string_view tenant) {
    const TenantDef* def = policy.find_tenant(tenant);
    const std::vector<std::string> none;
    const auto& allowed = def != nullptr ? def->allow_unscanned : none;
    for (const auto& part : parts) {
        if (std::find(allowed.begin(), allowed.end(), part.type) == allowed.end()) {
            const std::string kind = part.type.empty() ? std::string("a content part without a type")
                                                       : "a content part of type '" + part.type + "'";
            // A tenant that lets some types through is told which: the part may be sent as one of them.
            const std::string lets_through =
                allowed.empty() ? std::string()
                                : " (tenant " + std::string(tenant) + " lets through unscanned only parts of type " +
                                      join(allowed) + ")";
            return UnscannedRefusal{
                part.json_path,
                "This gateway's policy checks every prompt, and '" + part.json_path + "' is " + kind +
                    ", whose data (an image, audio, a file or what a URL or file id points to) no detector can read" +
                    lets_through + "; send the prompt as text."};
        }
        if (!part.remote_url_path.empty())
            return UnscannedRefusal{
                part.remote_url_path,
                "'" + part.remote_url_path + "' is a URL the backend would fetch from outside the boundary, where the "
                "gateway's egress guard does not reach; tenant " + std::string(tenant) + " may send " + part.type +
                    " parts unscanned only with their data inline: send it as a data: URL "
                    "(data:image/png;base64,...)."};
    }
    return std::nullopt;
}

}  // namespace sovereign::policy
