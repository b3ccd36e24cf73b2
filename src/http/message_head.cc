#include "http/message_head.h"

#include "http/header_names.h"

namespace waygate::http {

void MessageHead::clear() {
  bytes.clear();
  fields.clear();
  target_offset = target_length = 0;
  method = 0;
  status = 0;
  version_major = version_minor = 1;
  has_content_length = chunked = upgrade = transfer_encoding = false;
  keep_alive = true;
  content_length = 0;
}

std::optional<std::string_view> MessageHead::find(std::string_view header_name) const {
  for (const HeaderField& field : fields) {
    if (equals_ignore_case(name(field), header_name)) return value(field);
  }
  return std::nullopt;
}

std::optional<std::string_view> MessageHead::find(HeaderId id) const {
  for (const HeaderField& field : fields) {
    if (field.id == id) return value(field);
  }
  return std::nullopt;
}

size_t MessageHead::count(HeaderId id) const {
  size_t n = 0;
  for (const HeaderField& field : fields)
    n += field.id == id ? 1 : 0;
  return n;
}

}  // namespace waygate::http
