#pragma once
// One connection to a backend replica, plain or TLS, that only ever dials addresses the egress
// guard pinned. Owned by a worker's pool between requests and by a forwarder during one.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>


#include "gateway/net/streams.hpp"
#include "gateway/upstream/backend_state.hpp"

namespace sovereign::gateway {

class UpstreamConnection : public std::enable_shared_from_this<UpstreamConnection> {
 public:
  using PlainStream = TcpStream;
  using TlsStream = gateway::TlsStream;

  UpstreamConnection(boost::asio::io_context& io, ReplicaState& replica, std::shared_ptr<boost::asio::ssl::context> tls);

  // Connects to the first pinned endpoint that answers (TLS handshake with name verification for
  // https replicas). `refused` is set when the guard refuses an address (never dialled).
  void connect(std::chrono::steady_clock::duration timeout,
               std::function<void(boost::system::error_code, bool refused)> done);

  // What went wrong, for an error message: ec's message, and where a TLS handshake failed on the
  // backend's certificate, why it was refused (the certificate is for another name, or not signed
  // by the pinned CA), which "certificate verify failed" alone does not say.
  std::string failure_message(const boost::system::error_code& ec);

  ReplicaState& replica() { return replica_; }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  std::string& write_buffer() { return write_buffer_; }  // a request head being written; reused
  TcpStream& tcp();
  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void close();

  // What the connection holds beyond the answers read from it, found without waiting: bytes in its
  // read buffer, in the TLS layer or in the kernel (`bytes`), or the backend's close or reset
  // (`closed`). Only a connection with `nothing` may carry another request: a byte already there
  // would be read as the start of that request's answer.
  enum class Leftover { nothing, bytes, closed };
  Leftover leftover();
  // Bytes already read past the last answer (no system call): the part of leftover() that costs nothing.
  bool holds_read_bytes() const { return buffer_.size() > 0; }

  static constexpr std::size_t read_buffer_bytes = 16 * 1024;
  bool reused = false;  // came from the pool: a request that cannot be written on it is retried on a new one
  std::chrono::steady_clock::time_point idle_since;

  // Runs f(stream) with the concrete stream type, for Beast's templated read/write.
  template <typename F>
  decltype(auto) with_stream(F&& f) {
    return std::visit([&](auto& stream) -> decltype(auto) { return f(stream); }, stream_);
  }

 private:
  void connect_endpoint(std::size_t index, std::function<void(boost::system::error_code, bool)> done);
  void handshake(std::function<void(boost::system::error_code, bool)> done);

  ReplicaState& replica_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::variant<PlainStream, TlsStream> stream_;
  boost::beast::flat_buffer buffer_;
  std::string write_buffer_;
  std::chrono::steady_clock::duration connect_timeout_{};
};

}  // namespace sovereign::gateway
