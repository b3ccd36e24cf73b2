#include "admin/routes_dir_page.h"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "admin/json_writer.h"
#include "admin/routes_etcd_page.h"
#include "core/file_bytes.h"
#include "http/header_names.h"
#include "routing/config_watcher.h"

namespace waygate::admin {
namespace {

std::string tag_of_hash(uint64_t hash) {
  char text[24];
  std::snprintf(text, sizeof(text), "\"%016" PRIx64 "\"", hash);
  return text;
}

bool valid_name_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// If-Match holds "*" or a list of entity tags; `current` is the file's tag (nullopt: no file).
bool if_match_holds(std::string_view header, const std::optional<std::string>& current) {
  return current && http::any_list_item(header, [&current](std::string_view tag) {
           return tag == "*" || tag == *current;
         });
}

AdminResponse json_error(uint16_t status, std::string_view error) {
  JsonWriter out;
  out.begin_object().member("error", error).end_object();
  return AdminResponse::json(status, out.take() + "\n");
}

// Written beside the file and renamed over it, so the directory's watcher sees one whole change.
// The temporary name is hidden: the watcher ignores it.
std::string write_into_place(const std::string& directory, const std::string& name,
                             std::string_view bytes) {
  std::string final_path = directory + "/" + name;
  std::string temporary = directory + "/." + name + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.flush();
    if (!file) {
      std::remove(temporary.c_str());
      return "cannot write " + temporary;
    }
  }
  if (std::rename(temporary.c_str(), final_path.c_str()) != 0) {
    std::string error = "cannot rename " + temporary + " to " + final_path + ": " +
                        std::generic_category().message(errno);
    std::remove(temporary.c_str());
    return error;
  }
  return {};
}

}  // namespace

std::string entity_tag(std::string_view bytes) {
  return tag_of_hash(routing::content_hash(bytes));
}

std::string render_routes_dir(const routing::RouteEntries& dir) {
  bool etcd = dir.backend() == routing::RouteEntries::Backend::kEtcd;
  JsonWriter out;
  out.begin_object().member(etcd ? "prefix" : "directory", dir.directory());
  out.key("files").begin_array();
  for (const auto& [name, file] : dir.entries()) {
    size_t hosts = 0;
    for (const routing::RouteConfig& route : file.route_list())
      hosts += route.hosts.size();
    out.begin_object().member("name", name).member("serving", file.accepted);
    out.key("version");
    if (file.accepted && etcd) {
      out.value(revision_tag(file.accepted_revision));  // as the ETag says
    } else if (file.accepted) {
      out.value(tag_of_hash(file.accepted_hash));
    } else {
      out.null();
    }
    out.member("hosts", uint64_t{hosts}).member("clusters", uint64_t{file.clusters.size()});
    out.key("errors").array_of(file.errors);
    out.end_object();
  }
  out.end_array().end_object();
  return out.take() + "\n";
}

std::optional<std::string> routes_file_for(std::string_view name,
                                           const routing::RouteEntries& dir) {
  if (name.empty() || name.front() == '.' || name.size() > 200) return std::nullopt;
  for (char c : name) {
    if (!valid_name_character(c)) return std::nullopt;
  }
  std::string file(name);
  if (!file.ends_with(".yaml") && !file.ends_with(".yml")) {
    bool only_yml = access(dir.path_of(file + ".yml").c_str(), F_OK) == 0 &&
                    access(dir.path_of(file + ".yaml").c_str(), F_OK) != 0;
    file += only_yml ? ".yml" : ".yaml";
  }
  if (!routing::is_routes_file_name(file)) return std::nullopt;
  return file;
}

AdminResponse answer_routes_file(const AdminRequest& request, std::string_view name,
                                 proxy::Reloader& reloader, const RecordOutcomes& record) {
  bool read = request.method == "GET" || request.method == "HEAD";
  if (!read && request.method != "PUT" && request.method != "DELETE") {
    AdminResponse response = AdminResponse::text(405, "405 Method Not Allowed\n");
    response.headers.emplace_back("Allow", "GET, HEAD, PUT, DELETE");
    return response;
  }
  const routing::RouteEntries* dir = reloader.route_entries();
  if (!dir) {
    return json_error(read ? 404 : 409,
                      "the config names no routes_dir: routes are edited in its file");
  }
  if (dir->backend() == routing::RouteEntries::Backend::kEtcd) {
    // The name is the rest of the key: no extension is added.
    if (!routes_file_for(std::string(name) + ".yaml", *dir)) {
      return json_error(400,
                        "an etcd route entry's name is letters, digits, '.', '-' and '_', not "
                        "starting with '.'");
    }
    return answer_routes_entry_in_etcd(request, name, reloader, record);
  }
  std::optional<std::string> file = routes_file_for(name, *dir);
  if (!file) {
    return json_error(400,
                      "a routes_dir file name is letters, digits, '.', '-' and '_', not "
                      "starting with '.' (NAME or NAME.yaml)");
  }
  std::string path = dir->path_of(*file);
  std::optional<std::string> current = read_file_bytes(path);
  std::optional<std::string> current_tag;
  if (current) current_tag = entity_tag(*current);
  if (read) {
    if (!current) return json_error(404, "no file " + path);
    AdminResponse response = AdminResponse::with_type(200, "application/yaml", std::move(*current));
    response.headers.emplace_back("ETag", *current_tag);
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }
  if (request.method == "DELETE" && !current) return json_error(404, "no file " + path);
  if (request.has_if_match && !if_match_holds(request.if_match, current_tag)) {
    return json_error(412, "If-Match " + std::string(request.if_match) + " does not match " + path +
                               " (now " + current_tag.value_or("absent") + ")");
  }
  std::vector<proxy::Reloader::FileOutcome> outcomes;
  JsonWriter out;
  out.begin_object().member("name", *file);
  if (request.method == "PUT") {
    std::string body(request.body);
    std::vector<std::string> errors = dir->validate(*file, body);
    if (!errors.empty()) {
      std::string text;
      for (const std::string& error : errors)
        text.append(error).append("\n");
      return AdminResponse::text(400, text);
    }
    if (std::string error = write_into_place(dir->directory(), *file, body); !error.empty()) {
      return json_error(500, error);
    }
    outcomes = reloader.reload_routes_files({{*file, std::move(body)}}, false, "admin");
    out.member("version", entity_tag(request.body));
  } else {
    if (std::remove(path.c_str()) != 0) {
      return json_error(500,
                        "cannot remove " + path + ": " + std::generic_category().message(errno));
    }
    outcomes = reloader.reload_routes_files({{*file, std::nullopt}}, false, "admin");
    out.member("deleted", true);
  }
  record(outcomes);
  for (const proxy::Reloader::FileOutcome& outcome : outcomes) {
    // Valid, and yet not applied: discovery or the workers could not take it.
    if (outcome.result == proxy::Reloader::Result::kRefused) {
      return AdminResponse::text(400, outcome.message);
    }
  }
  out.member("result", outcomes.empty() ? "unchanged" : "applied").end_object();
  uint16_t status = request.method == "PUT" && !current ? 201 : 200;
  AdminResponse response = AdminResponse::json(status, out.take() + "\n");
  if (request.method == "PUT") response.headers.emplace_back("ETag", entity_tag(request.body));
  return response;
}

}  // namespace waygate::admin
