// Parsing config YAML into a yaml::Document. waygate's own reader handles what configs are written
// with (block and flow collections, plain, quoted and block scalars, comments); a document using
// anything else (anchors, aliases, tags, complex keys, several documents, directives) is read by
// yaml-cpp instead and converted, so every valid YAML file reads as it did before.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "routing/yaml/node.h"

namespace waygate::yaml {

struct ParseError {
  Mark mark;
  std::string message;
};

struct ParseResult {
  Document document;  // empty when error is set
  std::optional<ParseError> error;
  bool used_yaml_cpp = false;  // the document (or its error) came from yaml-cpp
};

// The document in `text`, which must outlive the result (scalars point into it). Never throws.
// When waygate's reader finds a syntax error, yaml-cpp reads the text as well: what yaml-cpp
// accepts is taken from it, so a gap in waygate's reader costs time, not a refused config; what
// both refuse is reported with waygate's message, which names what is wrong and where.
ParseResult parse(std::string_view text);

// waygate's reader alone: the document, a syntax error, or nullopt in both when the text uses
// something it leaves to yaml-cpp (`unsupported` says what).
struct FastReadResult {
  std::optional<Document> document;
  std::optional<ParseError> error;
  std::string unsupported;
};
FastReadResult read_fast(std::string_view text);

// yaml-cpp alone (YAML::Load), converted to a Document with yaml-cpp's marks.
ParseResult read_with_yaml_cpp(std::string_view text);

}  // namespace waygate::yaml
