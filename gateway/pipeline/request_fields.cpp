#include "gateway/pipeline/request_fields.hpp"

#include <boost/beast/core/string.hpp>

namespace sovereign::gateway {
namespace http = boost::beast::http;

RequestFields read_request_fields(const Fields& fields) {
  RequestFields found;
  const auto note = [](SingleField& field, std::string_view value) {
    if (field.count++ == 0) field.value = value;
  };
  // Beast keeps the fields in the order they came; a name it knows has its enum whatever the case
  // it was written in, and the gateway's own names are compared as Beast compares names.
  for (const auto& f : fields) {
    switch (f.name()) {
      case http::field::authorization: note(found.authorization, f.value()); break;
      case http::field::content_encoding: found.content_encodings.push_back(f.value()); break;
      case http::field::content_type: note(found.content_type, f.value()); break;
      case http::field::unknown:
        if (boost::beast::iequals(f.name_string(), "X-Data-Class")) note(found.data_class, f.value());
        else if (boost::beast::iequals(f.name_string(), "X-Conversation-Id")) note(found.conversation_id, f.value());
        break;
      default: break;
    }
  }
  return found;
}

}  // namespace sovereign::gateway
