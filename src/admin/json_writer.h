// Builds the admin API's JSON documents into one string. Strings are escaped so the output is
// valid UTF-8 JSON whatever bytes a config, a file or a DNS answer put in them: quotes, backslashes
// and control characters are escaped, and bytes that are not UTF-8 become U+FFFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_string.h"

namespace waygate::admin {

using waygate::append_json_string;  // core/json_string.h

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The next member's name, inside an object; the value written next belongs to it.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag);
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint32_t number) { return value(uint64_t{number}); }
  JsonWriter& value(int number) { return value(int64_t{number}); }
  // NaN and the infinities, which JSON cannot hold, are written as null.
  JsonWriter& value(double number);
  JsonWriter& null();

  // key(name).value(v) in one call.
  template <typename T>
  JsonWriter& member(std::string_view name, const T& v) {
    return key(name).value(v);
  }
  // An array of the items, each written with value().
  template <typename Range>
  JsonWriter& array_of(const Range& items) {
    begin_array();
    for (const auto& item : items)
      value(item);
    return end_array();
  }

  // The document; the writer is empty afterwards.
  std::string take();

 private:
  // Writes the comma before a value that follows another in the same object or array.
  void separate();

  std::string out_;
  std::vector<bool> has_items_;  // per open object or array
  bool after_key_ = false;
};

}  // namespace waygate::admin
