#pragma once
// The header fields of a client's request that the exchange reads, found in one pass over its
// fields. Looked up by name one at a time, each was a search of Beast's field set (a tree ordered by
// case-insensitive name; two searches for the count of a name): six or seven per request.
#include <cstddef>
#include <string_view>
#include <vector>

#include "gateway/http/messages.hpp"

namespace sovereign::gateway {

// A field the request may carry once: how many times it came, and the first one's value (what
// Beast's fields[name] gives).
struct SingleField {
  std::size_t count = 0;
  std::string_view value;
};

struct RequestFields {
  SingleField authorization;
  std::vector<std::string_view> content_encodings;  // every Content-Encoding field's value, in order
  SingleField content_type;
  SingleField data_class;                           // X-Data-Class
  SingleField conversation_id;                      // X-Conversation-Id
};

// Views into `fields`, valid while they are.
RequestFields read_request_fields(const Fields& fields);

}  // namespace sovereign::gateway
