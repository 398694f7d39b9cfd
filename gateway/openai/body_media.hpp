#pragma once
// How a request body is written, as its headers declare: the gateway reads JSON text in UTF-8, as
// sent. A body under a content coding (gzip, br) would be parsed as its compressed bytes, and one in
// another charset as bytes it does not hold; both are refused with 415 naming the header, rather
// than with a JSON syntax error that blames the body.
#include <optional>
#include <span>
#include <string_view>

#include "gateway/openai/api_error.hpp"

namespace sovereign::gateway {

// `content_encodings`: the value of every Content-Encoding header (each a list of codings, of which
// only identity is taken); `content_type`: the Content-Type header (any media type; a charset
// parameter, if given, must be UTF-8). nullopt: the body may be read.
[[nodiscard]] std::optional<ApiError> refused_body_media(std::span<const std::string_view> content_encodings,
                                                         std::string_view content_type);

}  // namespace sovereign::gateway
