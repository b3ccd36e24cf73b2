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
  has_content_length = chunked = upgrade = false;
  keep_alive = true;
  content_length = 0;
}

std::optional<std::string_view> MessageHead::find(std::string_view header_name) const {
  for (const HeaderField& field : fields) {
    if (equals_ignore_case(name(field), header_name)) return value(field);
  }
  return std::nullopt;
}

}  // namespace waygate::http
