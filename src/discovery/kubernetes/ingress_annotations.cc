#include "discovery/kubernetes/ingress_annotations.h"

#include <cctype>
#include <charconv>
#include <string_view>

#include "routing/address_range.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kPrefix = "nginx.ingress.kubernetes.io/";

std::optional<uint64_t> read_number(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// nginx's size syntax: a number of bytes, or of k, m or g (1024-based).
std::optional<uint64_t> read_size(std::string_view text) {
  uint64_t unit = 1;
  if (!text.empty()) {
    switch (std::tolower(static_cast<unsigned char>(text.back()))) {
      case 'k':
        unit = uint64_t{1} << 10;
        break;
      case 'm':
        unit = uint64_t{1} << 20;
        break;
      case 'g':
        unit = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (unit != 1) text.remove_suffix(1);
  }
  std::optional<uint64_t> count = read_number(text);
  if (!count || *count > UINT64_MAX / unit) return std::nullopt;
  return *count * unit;
}

std::optional<bool> read_boolean(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

// An nginx variable name part (after $http_ or $cookie_) that is a safe header or cookie name.
bool is_name(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

bool is_plain_path(std::string_view path) {
  if (!path.starts_with('/')) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        return false;
      }
      i += 2;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) &&
               std::string_view("-._~!&'()*+,;=:@/").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

class AnnotationReader {
 public:
  AnnotationReader(IngressAnnotations& out, std::vector<std::string>* notes)
      : out_(out), notes_(notes) {}

  // False with *error for a value waygate cannot apply.
  bool read(std::string_view name, const std::string& value, std::string* error) {
    std::string full = std::string(kPrefix).append(name);
    auto refuse = [&](const std::string& why) {
      *error = "annotation " + full + " " + routing::quoted_value(value) + " " + why;
      return false;
    };
    auto not_applied = [&](const std::string& why) {
      notes_->push_back("annotation " + full + " " + routing::quoted_value(value) +
                        " is not applied: " + why);
      return true;
    };
    if (name == "rewrite-target") {
      if (value.find('$') != std::string::npos) {
        return refuse(
            "uses capture groups, which need regex paths; waygate routes an Ingress's paths as "
            "Prefix or Exact, so only a plain path (such as /) is supported");
      }
      if (!is_plain_path(value)) return refuse("is not an absolute path");
      out_.rewrite_target = value;
    } else if (name == "ssl-redirect" || name == "force-ssl-redirect") {
      std::optional<bool> on = read_boolean(value);
      if (!on) return refuse("is not true or false");
      out_.ssl_redirect = out_.ssl_redirect || *on;
    } else if (name == "proxy-body-size") {
      std::optional<uint64_t> size = read_size(value);
      if (!size) return refuse("is not a size (bytes, or a number with k, m or g)");
      out_.max_body_bytes = *size;
    } else if (name == "proxy-read-timeout") {
      std::optional<uint64_t> seconds = read_number(value);
      if (!seconds || *seconds == 0 || *seconds > 86'400) {
        return not_applied("it is not a number of seconds from 1 to 86400");
      }
      out_.read_timeout_s = *seconds;
    } else if (name == "proxy-connect-timeout") {
      return not_applied("waygate's connect timeout is timeouts.upstream_connect, for every route");
    } else if (name == "proxy-send-timeout") {
      return not_applied("waygate has no send timeout per route (see timeouts.downstream_idle)");
    } else if (name == "upstream-hash-by") {
      return read_hash_by(value, refuse);
    } else if (name == "upstream-hash-by-subset") {
      if (value != "false") return refuse("is not supported (hashing onto subsets)");
    } else if (name == "whitelist-source-range" || name == "allowlist-source-range") {
      return read_ranges(value, refuse);
    } else if (name == "use-regex") {
      if (value != "false") return refuse("is not supported: paths are Prefix or Exact");
    } else if (name == "canary") {
      std::optional<bool> on = read_boolean(value);
      if (!on) return refuse("is not true or false");
      out_.canary = *on;
    } else if (name == "canary-weight" || name == "canary-weight-total") {
      std::optional<uint64_t> number = read_number(value);
      if (!number || *number > 1'000'000 || (name == "canary-weight-total" && *number == 0)) {
        return refuse("is not a weight (0 to 1000000; a total of at least 1)");
      }
      (name == "canary-weight" ? out_.canary_weight : out_.canary_total) =
          static_cast<uint32_t>(*number);
    } else if (name.starts_with("canary-by-")) {
      return refuse("is not supported: a canary is chosen by canary-weight only");
    } else {
      unknown_.emplace_back(full);
    }
    return true;
  }

  void finish() {
    if (unknown_.empty()) return;
    std::string line = "annotation";
    if (unknown_.size() > 1) line += "s";
    for (size_t i = 0; i < unknown_.size(); ++i)
      line.append(i == 0 ? " " : ", ").append(unknown_[i]);
    line += unknown_.size() > 1 ? " are" : " is";
    notes_->push_back(line + " not supported by waygate and ignored");
  }

 private:
  template <typename Refuse>
  bool read_hash_by(const std::string& value, Refuse& refuse) {
    std::string_view variable = value;
    if (variable == "$remote_addr" || variable == "$binary_remote_addr") {
      out_.hash_on = {{"client_address", true}};
      out_.hash_label = "client address";
    } else if (variable.starts_with("$http_") && is_name(variable.substr(6))) {
      // nginx's $http_x_user is the header X-User.
      std::string header(variable.substr(6));
      for (char& c : header)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out_.hash_on = {{"header", header}};
      out_.hash_label = "header " + header;
    } else if (variable.starts_with("$cookie_") && is_name(variable.substr(8))) {
      std::string cookie(variable.substr(8));
      out_.hash_on = {{"cookie", cookie}};
      out_.hash_label = "cookie " + cookie;
    } else {
      return refuse(
          "is not supported: waygate hashes on one of $http_NAME, $cookie_NAME or "
          "$remote_addr");
    }
    return true;
  }

  template <typename Refuse>
  bool read_ranges(const std::string& value, Refuse& refuse) {
    std::vector<std::string> ranges;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
        item.remove_prefix(1);
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
        item.remove_suffix(1);
      if (item.empty()) continue;
      if (!routing::AddressRange::parse(item)) {
        return refuse("has " + routing::quoted_value(item) +
                      ", which is not an address or a CIDR block without host bits");
      }
      ranges.emplace_back(item);
    }
    if (ranges.empty()) return refuse("names no address range");
    out_.allow_from = std::move(ranges);
    return true;
  }

  IngressAnnotations& out_;
  std::vector<std::string>* notes_;
  std::vector<std::string> unknown_;
};

}  // namespace

std::optional<IngressAnnotations> read_annotations(const Json* annotations, std::string* error,
                                                   std::vector<std::string>* notes) {
  IngressAnnotations out;
  if (!annotations || !annotations->is_object()) return out;
  AnnotationReader reader(out, notes);
  for (const auto& [key, value] : annotations->items()) {
    if (!std::string_view(key).starts_with(kPrefix)) continue;
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (!reader.read(std::string_view(key).substr(kPrefix.size()), text, error)) {
      return std::nullopt;
    }
  }
  reader.finish();
  return out;
}

}  // namespace waygate::discovery::kubernetes
