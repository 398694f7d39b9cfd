#pragma once
// The socket, stream and timer types of every gateway connection, bound to io_context's own
// executor. Beast's and Asio's defaults use the type-erased any_io_executor, which each
// asynchronous operation copies and destroys again: measurable at tens of thousands of requests
// per second per core, and of no use here since every connection lives on one io_context.
#include <chrono>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace sovereign::gateway {

using IoExecutor = boost::asio::io_context::executor_type;
using TcpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, IoExecutor>;
using TcpStream = boost::beast::basic_stream<boost::asio::ip::tcp, IoExecutor>;
using TlsStream = boost::beast::ssl_stream<TcpStream>;
using SteadyTimer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                      boost::asio::wait_traits<std::chrono::steady_clock>, IoExecutor>;

}  // namespace sovereign::gateway
