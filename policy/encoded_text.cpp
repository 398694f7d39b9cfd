#include "policy/encoded_text.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace sovereign::policy {

namespace {

// Decodes a run whose length is a multiple of four, with `padding` '=' at its end; -1 if not base64.
int decode_block(std::string_view padded, std::size_t padding, std::string& out) {
    out.resize(padded.size() / 4 * 3);
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                       reinterpret_cast<const unsigned char*>(padded.data()),
                                       static_cast<int>(padded.size()));
    if (length < 0) return -1;
    out.resize(static_cast<std::size_t>(length) - padding);
    return length;
}

// Printable characters, white space and UTF-8, mostly ASCII: random bytes are above 0x7F half of
// the time and control characters often.
bool looks_like_text(std::string_view bytes) {
    std::size_t printable = 0;
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7F) ++printable;
        else if (c != '\t' && c != '\n' && c != '\r' && c < 0x80) return false;
    }
    return printable * 4 >= bytes.size() * 3;
}

}  // namespace

std::optional<std::string> decode_base64_text(std::string_view run) {
    while (!run.empty() && run.back() == '=') run.remove_suffix(1);
    if (run.size() < min_encoded_run || run.size() % 4 == 1) return std::nullopt;
    const bool standard = run.find_first_of("+/") != std::string_view::npos;
    const bool url_safe = run.find_first_of("-_") != std::string_view::npos;
    if (standard && url_safe) return std::nullopt;
    std::string padded(run);
    if (url_safe)
        for (char& c : padded) c = c == '-' ? '+' : c == '_' ? '/' : c;
    std::string decoded;
    // A long run is judged by its first 48 bytes before all of it is decoded: most are keys or data.
    constexpr std::size_t prefix = 64;
    if (padded.size() > 2 * prefix &&
        (decode_block(std::string_view(padded).substr(0, prefix), 0, decoded) < 0 || !looks_like_text(decoded)))
        return std::nullopt;
    const std::size_t padding = (4 - padded.size() % 4) % 4;
    padded.append(padding, '=');
    if (decode_block(padded, padding, decoded) < 0 || !looks_like_text(decoded)) return std::nullopt;
    return decoded;
}

std::optional<std::string> decode_hex_text(std::string_view run) {
    if (run.size() < min_encoded_run || run.size() % 2 != 0) return std::nullopt;
    std::string decoded(run.size() / 2, '\0');
    std::size_t length = 0;
    if (OPENSSL_hexstr2buf_ex(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), &length,
                              std::string(run).c_str(), '\0') != 1)
        return std::nullopt;
    decoded.resize(length);
    if (!looks_like_text(decoded)) return std::nullopt;
    return decoded;
}

std::optional<std::string> decode_encoded_text(std::string_view run) {
    const bool hex = run.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
    return hex ? decode_hex_text(run) : decode_base64_text(run);
}

}  // namespace sovereign::policy
