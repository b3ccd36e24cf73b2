// PUT, DELETE and GET /routes/NAME when the route entries live under an etcd prefix
// (routes_source.etcd.prefix): the entry is the key PREFIX+NAME, its version (ETag) the key's
// mod_revision, and If-Match is an etcd transaction's compare on it, so a concurrent writer gets
// 412. A write is validated first, made in etcd, then applied at once like the watch would. The
// answer waits for etcd (AdminResponse::later()); the control thread does not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "admin/admin_server.h"
#include "admin/routes_dir_page.h"
#include "proxy/reloader.h"

namespace waygate::admin {

// An etcd entry's version as an ETag: its mod_revision, quoted.
std::string revision_tag(uint64_t revision);

// `request` is a GET, HEAD, PUT or DELETE; the reloader's entries are the etcd prefix's.
AdminResponse answer_routes_entry_in_etcd(const AdminRequest& request, std::string_view name,
                                          proxy::Reloader& reloader, const RecordOutcomes& record);

}  // namespace waygate::admin
