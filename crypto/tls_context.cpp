#include "crypto/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <fstream>
#include <iterator>
#include <optional>

#include "crypto/digest.hpp"

namespace sovereign::crypto {
namespace {

// TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
constexpr const char* tls13_suites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  std::string reason = code ? ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "unknown error"
                            : "unknown error";
  ERR_clear_error();
  return reason;
}

std::string failure(const std::string& what, const std::filesystem::path& file) {
  return what + " '" + file.string() + "': " + openssl_reason();
}

TlsContextResult new_context(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return TlsError{{}, "cannot create TLS context: " + openssl_reason()};
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx.get(), tls12_ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx.get(), tls13_suites) != 1)
    return TlsError{{}, "cannot set TLS cipher suites: " + openssl_reason()};
  return ctx;
}

// Loads a PEM private key. An encrypted one is refused at once: without a callback OpenSSL would
// ask for its passphrase on the terminal and wait.
std::optional<std::string> use_private_key(SSL_CTX* ctx, const std::filesystem::path& file, const std::string& what) {
  bool asked = false;
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void* asked) {
    if (asked != nullptr) *static_cast<bool*>(asked) = true;
    return 0;  // no passphrase
  });
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
  const bool loaded = SSL_CTX_use_PrivateKey_file(ctx, file.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (loaded) return std::nullopt;
  if (!asked) return failure("cannot load " + what, file);
  ERR_clear_error();
  return what + " '" + file.string() +
         "' is encrypted with a passphrase, which the gateway cannot ask for: write it unencrypted "
         "(openssl pkey -in KEY -out PLAIN.key) and make it readable by the gateway's user only";
}

std::string utc_text(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return "an unreadable date";
  char text[32];
  return std::string(text, std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm));
}

// A certificate outside its validity period fails every client that checks it: refused up front.
std::optional<std::string> check_validity(SSL_CTX* ctx, const std::filesystem::path& file, const std::string& what) {
  const X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return std::nullopt;
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    return what + " '" + file.string() + "' expired on " + utc_text(X509_get0_notAfter(cert));
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    return what + " '" + file.string() + "' is not valid before " + utc_text(X509_get0_notBefore(cert));
  return std::nullopt;
}

// A CA file none of whose certificates is valid now verifies no peer: every handshake would fail
// with "certificate has expired", long after `config check` passed. Refused up front, as an expired
// certificate of the gateway's own is.
std::optional<std::string> check_ca_validity(SSL_CTX* ctx, const std::filesystem::path& file, const std::string& what) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
  const X509* latest = nullptr;  // of those outside their period, the one that expires last
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    const X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (cert == nullptr) continue;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) >= 0 && X509_cmp_current_time(X509_get0_notBefore(cert)) <= 0)
      return std::nullopt;
    if (latest == nullptr || ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(latest)) > 0) latest = cert;
  }
  if (latest == nullptr) return std::nullopt;
  if (X509_cmp_current_time(X509_get0_notAfter(latest)) < 0)
    return what + " '" + file.string() + "' holds no certificate valid now: it expired on " +
           utc_text(X509_get0_notAfter(latest));
  return what + " '" + file.string() + "' holds no certificate valid now: it is not valid before " +
         utc_text(X509_get0_notBefore(latest));
}

// A server that verifies client certificates must name what a session was verified against, or
// OpenSSL refuses to resume any session (an "internal error" alert: every second request of a
// client that caches sessions, nginx and Node's https agent among them, failed). The name is a
// digest of the client CA file and whether a certificate is required, so a session verified
// against another CA, a reload's new one included, is never resumed: its client makes a full
// handshake. A session keeps the client certificate it was verified with (tenant mapping reads it).
std::optional<std::string> set_session_context(SSL_CTX* ctx, const ServerTlsSettings& settings) {
  std::ifstream in(settings.client_ca, std::ios::binary);
  if (!in.is_open()) return "cannot read client CA '" + settings.client_ca.string() + "'";
  std::string identity(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) return "cannot read client CA '" + settings.client_ca.string() + "'";
  identity += settings.require_client_certificate ? "\nrequired" : "\noptional";
  const Sha256 digest = sha256(identity);
  static_assert(sha256_bytes <= SSL_MAX_SID_CTX_LENGTH);
  if (SSL_CTX_set_session_id_context(ctx, digest.data(), digest.size()) != 1)
    return failure("cannot set the session context for client CA", settings.client_ca);
  return std::nullopt;
}

}  // namespace

TlsContextResult make_server_context(const ServerTlsSettings& settings) {
  auto made = new_context(TLS_server_method());
  if (auto* error = std::get_if<TlsError>(&made)) return *error;
  SslCtxPtr ctx = std::move(std::get<SslCtxPtr>(made));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), settings.certificate.c_str()) != 1)
    return TlsError{"certificate", failure("cannot load certificate", settings.certificate)};
  if (auto expired = check_validity(ctx.get(), settings.certificate, "certificate"))
    return TlsError{"certificate", *expired};
  if (auto error = use_private_key(ctx.get(), settings.private_key, "private key"))
    return TlsError{"private_key", *error};
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return TlsError{"private_key", failure("private key does not match the certificate", settings.private_key)};
  if (!settings.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), settings.client_ca.c_str(), nullptr) != 1)
      return TlsError{"client_ca", failure("cannot load client CA", settings.client_ca)};
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str());
    if (names == nullptr)
      return TlsError{"client_ca", failure("no CA names in client CA file", settings.client_ca)};
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    int mode = SSL_VERIFY_PEER;
    if (settings.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    if (auto error = set_session_context(ctx.get(), settings)) return TlsError{"client_ca", *error};
  }
  return ctx;
}

TlsContextResult make_client_context(const ClientTlsSettings& settings) {
  auto made = new_context(TLS_client_method());
  if (auto* error = std::get_if<TlsError>(&made)) return *error;
  SslCtxPtr ctx = std::move(std::get<SslCtxPtr>(made));
  if (settings.ca.empty()) return TlsError{"ca", "a backend TLS CA file is required (tls.ca)"};
  if (SSL_CTX_load_verify_locations(ctx.get(), settings.ca.c_str(), nullptr) != 1)
    return TlsError{"ca", failure("cannot load backend CA", settings.ca)};
  if (auto expired = check_ca_validity(ctx.get(), settings.ca, "backend CA")) return TlsError{"ca", *expired};
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!settings.client_certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), settings.client_certificate.c_str()) != 1)
      return TlsError{"client_certificate", failure("cannot load client certificate", settings.client_certificate)};
    if (auto expired = check_validity(ctx.get(), settings.client_certificate, "client certificate"))
      return TlsError{"client_certificate", *expired};
    if (auto error = use_private_key(ctx.get(), settings.client_key, "client key"))
      return TlsError{"client_key", *error};
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return TlsError{"client_key", failure("client key does not match the client certificate", settings.client_key)};
  }
  return ctx;
}

bool verify_server_name(SSL* ssl, const std::string& server_name) {
  // RFC 6066 (3) allows no IP address in SNI, and some servers refuse a hello that carries one; an
  // address is still what the certificate is verified against (SSL_set1_host takes addresses too).
  unsigned char address[16];
  const bool literal = inet_pton(AF_INET, server_name.c_str(), address) == 1 ||
                       inet_pton(AF_INET6, server_name.c_str(), address) == 1;
  if (!literal && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) return false;
  return SSL_set1_host(ssl, server_name.c_str()) == 1;
}

std::string certificate_verify_failure(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

std::string peer_common_name(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string name;
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length > 0) name.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return name;
}

}  // namespace sovereign::crypto
