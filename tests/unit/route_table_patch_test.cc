// A route table patched with the changes of some route entries routes every request as a table
// built whole from the same routes would: entries added, changed and removed, hosts moving between
// entries, exact names beside wildcards of the entries and of the config file, the catch-all
// changing hands, named routes and rate-limit buckets.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "routing/config_loader.h"
#include "routing/route_entries.h"
#include "routing/route_table.h"

namespace waygate::routing {
namespace {

constexpr const char* kBase = R"(listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["main.test", "*.example.com"]
    paths: [{ prefix: /, cluster: base }]
clusters:
  - { name: base, endpoints: [127.0.0.1:1] }
  - { name: other, endpoints: [127.0.0.1:2] }
)";

// One route per host list, to `cluster`, with a `name:` when `name` is given.
std::string entry(const std::vector<std::string>& hosts, const std::string& cluster,
                  const std::string& name = "") {
  std::string text = "routes:\n";
  for (const std::string& host : hosts) {
    text += "  - hosts: [\"" + host + "\"]\n    paths:\n";
    text += "      - { exact: /limited, cluster: " + cluster +
            ", rate_limit: { requests_per_second: 5 } }\n";
    text += "      - { prefix: /, cluster: " + cluster;
    if (!name.empty()) text += ", name: " + name;
    text += " }\n";
  }
  return text;
}

class RouteTablePatch : public ::testing::Test {
 protected:
  RouteTablePatch() : entries_(RouteEntries::Backend::kEtcd, "/routes/", "/etc") {
    ConfigResult loaded = load_config_text(kBase, "waygate.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    config_ = std::make_shared<const Config>(std::move(loaded.config));
    for (uint32_t i = 0; i < config_->clusters.size(); ++i)
      cluster_index_.emplace(config_->clusters[i].name, i);
    entries_.set_base(*config_, "waygate.yaml");
    patched_ = std::make_unique<RouteTable>(config_, cluster_index_, &slots_);
  }

  // Applies the changes to the entries (nullopt: the entry is deleted), patches the table with
  // them, and checks the patched table against one built whole from the entries as they are now.
  void change(const std::map<std::string, std::optional<std::string>>& changes) {
    std::vector<RouteEntryChange> changed;
    for (const auto& [name, text] : changes) {
      auto found = entries_.entries().find(name);
      SharedRoutes before = found == entries_.entries().end() ? nullptr : found->second.routes;
      ASSERT_EQ(entries_.update(name, text), RouteEntries::Change::kApplied) << name;
      found = entries_.entries().find(name);
      changed.push_back(
          {before, found == entries_.entries().end() ? nullptr : found->second.routes});
    }
    patched_ = std::make_unique<RouteTable>(*patched_, changed, cluster_index_, slots_);
    for (const SharedRoutes& routes : entries_.entry_routes()) {
      for (const RouteConfig& route : *routes)
        hosts_seen_.insert(route.hosts.begin(), route.hosts.end());
    }
    expect_same_as_whole();
  }

  void expect_same_as_whole() {
    RouteTable whole(config_, cluster_index_, &slots_, entries_.entry_routes());
    std::set<std::string> probes = {"main.test", "unknown.test", "a.example.com",
                                    "x.y.example.com"};
    for (std::string host : hosts_seen_) {
      if (host == "*") continue;
      if (host.starts_with("*.")) {
        probes.insert(std::string("a").append(host, 1));
        probes.insert(std::string("b.c").append(host, 1));
      } else {
        probes.insert(host);
        probes.insert(std::string(host).append(":8080"));
      }
    }
    for (const std::string& host : probes) {
      for (const char* target : {"/", "/limited"}) {
        const RouteAction* expected = whole.match(host, target);
        const RouteAction* got = patched_->match(host, target);
        ASSERT_EQ(got == nullptr, expected == nullptr) << host << target;
        if (!expected) continue;
        // The same routes are compiled: the path they point at is one object.
        EXPECT_EQ(got->settings, expected->settings) << host << target;
        EXPECT_EQ(got->log_name, expected->log_name) << host << target;
        EXPECT_EQ(got->cluster_for(0), expected->cluster_for(0)) << host << target;
        EXPECT_EQ(got->metrics_slot, expected->metrics_slot) << host << target;
        EXPECT_EQ(got->rate_limit_slot, expected->rate_limit_slot) << host << target;
      }
    }
    EXPECT_EQ(patched_->named_routes(), whole.named_routes());
    EXPECT_EQ(patched_->route_count(), whole.route_count());
  }

  // Where `host` goes in the patched table: the cluster, or "none".
  std::string cluster_of(const std::string& host) {
    const RouteAction* action = patched_->match(host, "/");
    return action ? config_->clusters[action->cluster_for(0)].name : "none";
  }

  std::shared_ptr<const Config> config_;
  std::unordered_map<std::string, uint32_t> cluster_index_;
  RouteEntries entries_;
  // One record of slots, as in a process: a path keeps its slots whichever table names it.
  RouteNameSlots slots_;
  std::unique_ptr<RouteTable> patched_;
  std::set<std::string> hosts_seen_;
};

TEST_F(RouteTablePatch, AnAddedEntryRoutesItsHostsBesideTheConfigs) {
  change({{"a", entry({"a.test", "*.a.example.com"}, "other")}});
  EXPECT_EQ(cluster_of("a.test"), "other");
  EXPECT_EQ(cluster_of("x.a.example.com"), "other");  // the longer wildcard wins
  EXPECT_EQ(cluster_of("x.example.com"), "base");
  EXPECT_EQ(cluster_of("main.test"), "base");
}

TEST_F(RouteTablePatch, AChangedEntryDropsTheHostsItNoLongerRoutes) {
  change({{"a", entry({"a.test", "old.test", "*.old.example.com"}, "other")},
          {"b", entry({"b.test"}, "base")}});
  change({{"a", entry({"a.test", "new.test", "*.new.example.com"}, "base")}});
  EXPECT_EQ(cluster_of("old.test"), "none");
  EXPECT_EQ(cluster_of("x.old.example.com"), "base");  // the config's *.example.com again
  EXPECT_EQ(cluster_of("new.test"), "base");
  EXPECT_EQ(cluster_of("a.test"), "base");
  EXPECT_EQ(cluster_of("b.test"), "base");
}

TEST_F(RouteTablePatch, ARemovedEntryRoutesNothingAndTheOthersStay) {
  change({{"a", entry({"a.test"}, "other")}, {"b", entry({"b.test"}, "other")}});
  change({{"a", std::nullopt}});
  EXPECT_EQ(cluster_of("a.test"), "none");
  EXPECT_EQ(cluster_of("b.test"), "other");
}

TEST_F(RouteTablePatch, AHostMovesFromOneEntryToAnotherInOneChange) {
  change({{"a", entry({"a.test", "moving.test"}, "base")}});
  // Names are taken in order: a lets the host go before b claims it.
  change({{"a", entry({"a.test"}, "base")}, {"b", entry({"moving.test"}, "other")}});
  EXPECT_EQ(cluster_of("moving.test"), "other");
}

TEST_F(RouteTablePatch, TheCatchAllChangesHands) {
  change({{"a", entry({"*"}, "other")}});
  EXPECT_EQ(cluster_of("unknown.test"), "other");
  change({{"a", std::nullopt}, {"b", entry({"*"}, "base")}});
  EXPECT_EQ(cluster_of("unknown.test"), "base");
  change({{"b", entry({"b.test"}, "base")}});
  EXPECT_EQ(cluster_of("unknown.test"), "none");
}

TEST_F(RouteTablePatch, NamedRoutesAreCountedWhileAPathBearsTheName) {
  change({{"a", entry({"a.test"}, "base", "shop")}, {"b", entry({"b.test"}, "base", "shop")}});
  change({{"a", entry({"a.test"}, "base", "blog")}});
  ASSERT_EQ(patched_->named_routes().size(), 2u);
  change({{"b", std::nullopt}});
  ASSERT_EQ(patched_->named_routes().size(), 1u);
  EXPECT_EQ(patched_->named_routes().front().second, "blog");
}

TEST_F(RouteTablePatch, ManyEntriesChangingOneAtATimeRouteAsATableBuiltWhole) {
  // Enough hosts that the index has many shards and grows past twice its size, so that patches
  // both rebuild a few shards and, now and then, the whole index.
  auto text = [](const char* format, int a, int b = 0) {
    char name[64];
    std::snprintf(name, sizeof(name), format, a, b);
    return std::string(name);
  };
  for (int round = 0; round < 3; ++round) {
    for (int e = 0; e < 20; ++e) {
      std::vector<std::string> hosts;
      for (int h = 0; h < 10 * (round + 1); ++h)
        hosts.push_back(text("h%d.e%d.test", h, e));
      hosts.push_back(text("*.w%d-%d.example.com", e, round));
      change({{text("e%d", e), entry(hosts, e % 2 ? "base" : "other")}});
    }
  }
  for (int e = 0; e < 20; e += 3)
    change({{text("e%d", e), std::nullopt}});
}

}  // namespace
}  // namespace waygate::routing
