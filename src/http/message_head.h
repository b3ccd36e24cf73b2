// A parsed request or response head. Names and values are kept as offsets into one byte string the
// parser appends to, so a head costs one growing buffer (reused across requests), not a string
// each.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/reused_buffer.h"
#include "http/header_names.h"

namespace waygate::http {

struct HeaderField {
  uint32_t name_offset;
  uint32_t name_length;
  uint32_t value_offset;
  uint32_t value_length;
  HeaderId id;  // classified once the name is complete
};

class MessageHead {
 public:
  void clear();
  // clear(), its buffers kept for the next head up to these sizes (empty_for_reuse). Inline: a
  // pooled exchange or stream empties four heads per request.
  void clear_keeping(size_t max_bytes, size_t max_fields) {
    empty_for_reuse(bytes, max_bytes);
    empty_for_reuse(fields, max_fields);
    clear();
  }

  // Request target (requests) or reason phrase (responses).
  std::string_view target() const { return view(target_offset, target_length); }
  std::string_view name(const HeaderField& field) const {
    return view(field.name_offset, field.name_length);
  }
  std::string_view value(const HeaderField& field) const {
    return view(field.value_offset, field.value_length);
  }
  // The first value of a header (case-insensitive name), if present.
  std::optional<std::string_view> find(std::string_view header_name) const;
  std::optional<std::string_view> find(HeaderId id) const;
  size_t count(HeaderId id) const;
  bool is_http10() const { return version_major == 1 && version_minor == 0; }

  std::string bytes;
  std::vector<HeaderField> fields;
  uint32_t target_offset = 0;
  uint32_t target_length = 0;

  uint8_t method = 0;   // llhttp_method_t, requests only
  uint16_t status = 0;  // responses only
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  bool has_content_length = false;
  bool chunked = false;
  bool keep_alive = true;
  bool upgrade = false;
  bool transfer_encoding = false;  // a Transfer-Encoding header was present (chunked or not)
  uint64_t content_length = 0;

 private:
  std::string_view view(uint32_t offset, uint32_t length) const {
    return std::string_view(bytes).substr(offset, length);
  }
};

}  // namespace waygate::http
