#pragma once
// The HTTP message types of the gateway: Beast's, with header fields allocated through the
// per-thread RecyclingAllocator (a request's fields are a dozen small blocks every time).
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/memory/recycling_allocator.hpp"

namespace sovereign::gateway {

using FieldAllocator = RecyclingAllocator<char>;
using Fields = boost::beast::http::basic_fields<FieldAllocator>;
using HttpRequest = boost::beast::http::request<boost::beast::http::string_body, Fields>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body, Fields>;
using ResponseHead = boost::beast::http::response_header<Fields>;

template <class Body>
using RequestParser = boost::beast::http::request_parser<Body, FieldAllocator>;
template <class Body>
using ResponseParser = boost::beast::http::response_parser<Body, FieldAllocator>;

}  // namespace sovereign::gateway
