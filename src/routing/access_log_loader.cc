#include "routing/access_log_loader.h"

namespace waygate::routing {
namespace {

bool read_path(Reader& r, const yaml::Node& node, const std::string& what, std::string& out) {
  auto path = r.string(node, what);
  if (!path) return false;
  if (path->empty()) {
    r.error(node, what + " must be stdout, stderr, off or a file's path");
    return false;
  }
  out = *path;
  return true;
}

}  // namespace

void read_access_log(Reader& r, const yaml::Node& node, const std::string& what,
                     AccessLogConfig& out) {
  out = AccessLogConfig{};
  if (node.IsScalar()) {
    read_path(r, node, what, out.path);
    return;
  }
  if (!r.check_map(node, what, {"path", "format", "template"})) return;
  if (!node["path"]) {
    r.error(node, what + " needs a path (stdout, stderr, off or a file)");
  } else {
    read_path(r, node["path"], what + " path", out.path);
  }
  if (const yaml::Node& format = node["format"]) {
    auto text = r.string(format, what + " format");
    if (text && *text == "json") {
      out.format = AccessLogConfig::Format::kJson;
    } else if (text && *text != "text") {
      r.error(format, what + " format " + quoted_value(*text) + " is not one of text, json");
    }
  }
  if (const yaml::Node& template_node = node["template"]) {
    auto text = r.string(template_node, what + " template");
    if (!text) return;
    if (out.format == AccessLogConfig::Format::kJson) {
      r.error(template_node, what + " template applies to format text, not json");
      return;
    }
    AccessLogTemplate parsed = parse_access_log_template(*text);
    if (!parsed.error.empty()) {
      r.error(template_node, what + " template, at character " +
                                 std::to_string(parsed.error_offset + 1) + ": " + parsed.error);
      return;
    }
    if (parsed.pieces.empty()) {
      r.error(template_node, what + " template must not be empty");
      return;
    }
    out.template_text = *text;
    out.pieces = std::move(parsed.pieces);
  }
}

}  // namespace waygate::routing
