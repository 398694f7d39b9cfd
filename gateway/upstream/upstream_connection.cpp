#include "gateway/upstream/upstream_connection.hpp"

#include <array>
#include <type_traits>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include "crypto/tls_context.hpp"

namespace sovereign::gateway {
namespace {

std::variant<UpstreamConnection::PlainStream, UpstreamConnection::TlsStream> make_stream(
    boost::asio::io_context& io, const std::shared_ptr<boost::asio::ssl::context>& tls, bool https) {
  if (https) return std::variant<UpstreamConnection::PlainStream, UpstreamConnection::TlsStream>(
                 std::in_place_type<UpstreamConnection::TlsStream>, io, *tls);
  return std::variant<UpstreamConnection::PlainStream, UpstreamConnection::TlsStream>(
      std::in_place_type<UpstreamConnection::PlainStream>, io);
}

}  // namespace

UpstreamConnection::UpstreamConnection(boost::asio::io_context& io, ReplicaState& replica,
                                       std::shared_ptr<boost::asio::ssl::context> tls)
    : replica_(replica), tls_context_(std::move(tls)), stream_(make_stream(io, tls_context_, replica.config().https)) {
  buffer_.reserve(read_buffer_bytes);
}

TcpStream& UpstreamConnection::tcp() {
  if (auto* plain = std::get_if<PlainStream>(&stream_)) return *plain;
  return std::get<TlsStream>(stream_).next_layer();
}

void UpstreamConnection::close() {
  boost::system::error_code ignored;
  tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  tcp().close();
}

UpstreamConnection::Leftover UpstreamConnection::leftover() {
  if (buffer_.size() > 0) return Leftover::bytes;
  auto& socket = tcp().socket();
  if (!socket.is_open()) return Leftover::closed;
  boost::system::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);  // a read finding nothing returns at once
  if (ec) return Leftover::closed;
  std::array<char, 256> probe;
  const std::size_t read = with_stream([&](auto& stream) -> std::size_t {
    if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, PlainStream>) {
      return stream.socket().receive(boost::asio::buffer(probe), TcpSocket::message_peek, ec);
    } else {
      // Read through the TLS layer: it returns what it had already received or decrypted (which
      // the socket no longer shows), and consumes records that carry no data, such as a session
      // ticket, which leave the connection usable.
      return stream.read_some(boost::asio::buffer(probe), ec);
    }
  });
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) return Leftover::nothing;
  if (!ec && read > 0) return Leftover::bytes;
  return Leftover::closed;  // end of stream, reset, close_notify, or a TLS stream cut short
}

std::string UpstreamConnection::failure_message(const boost::system::error_code& ec) {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr || ec.category() != boost::asio::error::get_ssl_category()) return ec.message();
  const std::string why = crypto::certificate_verify_failure(tls->native_handle());
  return why.empty() ? ec.message() : ec.message() + ": " + why;
}

void UpstreamConnection::connect(std::chrono::steady_clock::duration timeout,
                                 std::function<void(boost::system::error_code, bool)> done) {
  connect_timeout_ = timeout;
  // Only pinned addresses are ever dialled; a name not resolved yet has none.
  if (const auto pinning = replica_.pinning(); pinning != Pinning::Status::pinned) {
    const bool refused = pinning == Pinning::Status::refused;
    done(refused ? boost::system::error_code(boost::asio::error::access_denied)
                 : boost::system::error_code(boost::asio::error::host_not_found),
         refused);
    return;
  }
  connect_endpoint(0, std::move(done));
}

void UpstreamConnection::connect_endpoint(std::size_t index, std::function<void(boost::system::error_code, bool)> done) {
  tcp().expires_after(connect_timeout_);
  tcp().async_connect(replica_.endpoints()[index], [self = shared_from_this(), index, done = std::move(done)](
                                                     boost::system::error_code ec) mutable {
    if (ec && index + 1 < self->replica_.endpoints().size()) {
      self->tcp().close();
      self->connect_endpoint(index + 1, std::move(done));
      return;
    }
    if (ec) return done(ec, false);
    self->tcp().socket().set_option(boost::asio::ip::tcp::no_delay(true));
    if (std::holds_alternative<PlainStream>(self->stream_)) return done({}, false);
    self->handshake(std::move(done));
  });
}

void UpstreamConnection::handshake(std::function<void(boost::system::error_code, bool)> done) {
  auto& stream = std::get<TlsStream>(stream_);
  const auto& name = replica_.tls_name();
  if (!crypto::verify_server_name(stream.native_handle(), name)) {
    done(boost::asio::error::invalid_argument, false);
    return;
  }
  stream.async_handshake(boost::asio::ssl::stream_base::client,
                         [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec) {
                           done(ec, false);
                         });
}

}  // namespace sovereign::gateway
