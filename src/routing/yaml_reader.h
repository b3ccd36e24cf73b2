// Reading config YAML: typed values with every error recorded at its FILE:LINE:COL, so one pass
// reports all problems at once. Used by the config and route loaders.
#pragma once

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/units.h"
#include "routing/yaml/parser.h"

namespace waygate::routing {

// A config value for an error message, in single quotes: control bytes and bytes above 0x7E are
// shown as \xNN and a long value is cut short, so a value from an untrusted source cannot forge
// lines in a log or a terminal.
inline std::string quoted_value(std::string_view text) {
  constexpr size_t kMaxShown = 100;
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte > 0x7e) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

// Walks the YAML tree, converting values and recording every error with its position.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  void error(const yaml::Mark& mark, const std::string& message) {
    errors_.push_back(Error{std::max(mark.line, 0), std::max(mark.column, 0), message});
  }
  void error(const yaml::Node& at, const std::string& message) { error(at.Mark(), message); }

  // A map whose keys are all known; unknown keys are errors.
  bool check_map(const yaml::Node& node, const std::string& what,
                 std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      error(node, what + " must be a mapping");
      return false;
    }
    // Keys are few (the allowed ones, or a mistake): a quadratic look for repeats costs nothing.
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string_view key = it->first.Scalar();
      bool known = false;
      for (std::string_view name : allowed)
        known = known || key == name;
      if (!known) {
        error(it->first, "unknown key " + quoted_value(key) + " in " + what);
        continue;
      }
      // YAML wants keys unique; yaml-cpp kept both and lookups found the first, so the second
      // was silently ignored.
      for (auto earlier = node.begin(); earlier != it; ++earlier) {
        if (earlier->first.IsScalar() && earlier->first.Scalar() == key) {
          error(it->first, "duplicate key " + quoted_value(key) + " in " + what);
          break;
        }
      }
    }
    return true;
  }

  std::optional<std::string> string(const yaml::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      error(node, what + " must be a string");
      return std::nullopt;
    }
    return std::string(node.Scalar());
  }

  std::optional<uint64_t> duration(const yaml::Node& node, const std::string& what) {
    auto text = string(node, what);
    if (!text) return std::nullopt;
    auto ms = parse_duration_ms(*text);
    if (!ms)
      error(node, what + ": " + quoted_value(*text) + " is not a duration (like 500ms, 2s, 1m)");
    return ms;
  }

  std::optional<uint64_t> size(const yaml::Node& node, const std::string& what) {
    auto text = string(node, what);
    if (!text) return std::nullopt;
    auto bytes = parse_size_bytes(*text);
    if (!bytes)
      error(node, what + ": " + quoted_value(*text) + " is not a size (like 512, 64KiB, 10MiB)");
    return bytes;
  }

  std::optional<uint64_t> count(const yaml::Node& node, const std::string& what) {
    auto text = string(node, what);
    if (!text) return std::nullopt;
    const std::string& digits = *text;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      error(node, what + ": " + quoted_value(*text) + " is not a whole number");
      return std::nullopt;
    }
    return value;
  }

  size_t error_count() const { return errors_.size(); }
  // What stands for the document in messages (its file's path, "etcd:KEY").
  const std::string& source() const { return source_; }

  // The errors in file order (they are found in the order the config is read).
  std::vector<std::string> sorted_errors() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::vector<std::string> lines;
    for (const Error& e : errors_) {
      std::ostringstream line;
      line << source_ << ':' << (e.line + 1) << ':' << (e.column + 1) << ": " << e.message;
      lines.push_back(line.str());
    }
    return lines;
  }

  // A whole number in [min, max]; outside it is an error.
  std::optional<uint64_t> count_between(const yaml::Node& node, const std::string& what,
                                        uint64_t min, uint64_t max) {
    auto value = count(node, what);
    if (value && (*value < min || *value > max)) {
      error(node, what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return value;
  }

  // A whole number of at least min.
  std::optional<uint64_t> count_at_least(const yaml::Node& node, const std::string& what,
                                         uint64_t min) {
    auto value = count(node, what);
    if (value && *value < min) {
      error(node, what + " must be at least " + std::to_string(min));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const yaml::Node& node, const std::string& what) {
    if (node.IsScalar() && node.Scalar() == "true") return true;
    if (node.IsScalar() && node.Scalar() == "false") return false;
    error(node, what + " must be true or false");
    return std::nullopt;
  }

  // The list to iterate over its items; when `node` is not a list, an error and a node without
  // items. The node itself, not a copy of its items: a config of 100,000 routes reads a list in
  // each, and copies would be allocations among the config's own.
  yaml::Node sequence(const yaml::Node& node, const std::string& what) {
    if (!node.IsSequence()) {
      error(node, what + " must be a list");
      return yaml::Node();
    }
    return node;
  }

 private:
  struct Error {
    int line;
    int column;
    std::string message;
  };
  std::string source_;
  std::vector<Error> errors_;
};

}  // namespace waygate::routing
