#pragma once
// OpenSSL TLS contexts for the gateway's listeners and for its connections to backends, built with
// the project's fixed security settings (TLS 1.2 minimum, 1.3 preferred, forward-secret AEAD suites only).
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include <openssl/ssl.h>

namespace sovereign::crypto {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// What a listener serves. With client_ca set, client certificates are requested and verified
// against that CA only; require_client_certificate refuses handshakes without one.
struct ServerTlsSettings {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path client_ca;
  bool require_client_certificate = false;
};

// How the gateway authenticates a backend: only `ca` is trusted (pinning), the certificate must
// name `server_name` (checked per connection with verify_server_name), optional client cert for mTLS.
struct ClientTlsSettings {
  std::filesystem::path ca;
  std::filesystem::path client_certificate;
  std::filesystem::path client_key;
};

// Why a context cannot be built: a message naming the file and OpenSSL's reason, and the member of
// the settings that names that file ("certificate", "client_key"...; empty when no file is at fault),
// so that a caller can point at the setting.
struct TlsError {
  std::string setting;
  std::string message;
};

// Either a ready context or why not.
using TlsContextResult = std::variant<SslCtxPtr, TlsError>;

[[nodiscard]] TlsContextResult make_server_context(const ServerTlsSettings&);
[[nodiscard]] TlsContextResult make_client_context(const ClientTlsSettings&);

// Sets SNI (a host name only: never an IP address) and enables verification of the peer
// certificate against the name or address for one client connection.
[[nodiscard]] bool verify_server_name(SSL* ssl, const std::string& server_name);

// Why the peer's certificate failed verification in the handshake on `ssl`, in OpenSSL's words
// ("hostname mismatch", "unable to get local issuer certificate"); empty when it passed or was not
// checked. A failed handshake reports only "certificate verify failed", which does not tell these apart.
std::string certificate_verify_failure(const SSL* ssl);

// The subject common name of the verified peer certificate, or empty if there is none.
std::string peer_common_name(SSL* ssl);

}  // namespace sovereign::crypto
