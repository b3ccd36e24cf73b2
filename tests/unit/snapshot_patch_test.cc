// A snapshot patched with a change to route entries that define clusters (with_changed_clusters)
// routes every host to the cluster a snapshot built whole from the same config would, with the
// same cluster settings and ids: clusters added, changed, renamed and removed, the slot of a
// removed one taken by the next added, the routes of the other entries left as they were compiled.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "routing/config_loader.h"
#include "routing/route_entries.h"
#include "routing/snapshot.h"
#include "routing/topology.h"

namespace waygate::routing {
namespace {

constexpr const char* kBase = R"(listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["main.test"]
    paths: [{ prefix: /, cluster: base }]
clusters:
  - { name: base, endpoints: [127.0.0.1:1] }
  - { name: other, endpoints: [127.0.0.1:2] }
)";

// An entry routing `host` to `cluster`, defining `own` clusters (name -> lb policy).
std::string entry(const std::string& host, const std::string& cluster,
                  const std::map<std::string, std::string>& own) {
  std::string text = "routes:\n  - hosts: [\"" + host + "\"]\n";
  text += "    paths: [{ prefix: /, cluster: " + cluster + " }]\n";
  if (own.empty()) return text;
  text += "clusters:\n";
  int port = 100;
  for (const auto& [name, lb] : own)
    text += "  - { name: " + name + ", lb: " + lb +
            ", endpoints: [127.0.0.1:" + std::to_string(++port) + "] }\n";
  return text;
}

class SnapshotPatch : public ::testing::Test {
 protected:
  SnapshotPatch() : entries_(RouteEntries::Backend::kEtcd, "/routes/", "/etc") {
    ConfigResult loaded = load_config_text(kBase, "waygate.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    base_ = std::move(loaded.config);
    entries_.set_base(base_, "waygate.yaml");
    auto config = std::make_shared<const Config>(base_);
    topology_.apply_config(*config, literal_endpoints(*config));
    patched_ = build_snapshot(config, topology_, slots_);
  }

  // Applies the changes to the entries (nullopt: deleted) as the reloader does: the clusters the
  // changed entries define now, and those they no longer define, go to the topology, then the
  // snapshot is patched. Then checks it against one built whole.
  void change(const std::map<std::string, std::optional<std::string>>& changes) {
    std::vector<RouteEntryChange> changed;
    std::vector<const ClusterConfig*> clusters;
    std::set<std::string> before_names;
    std::set<std::string> now_names;
    for (const auto& [name, text] : changes) {
      auto found = entries_.entries().find(name);
      SharedRoutes before;
      if (found != entries_.entries().end()) {
        before = found->second.routes;
        for (const ClusterConfig& cluster : found->second.clusters)
          before_names.insert(cluster.name);
      }
      ASSERT_EQ(entries_.update(name, text), RouteEntries::Change::kApplied) << name;
      found = entries_.entries().find(name);
      changed.push_back(
          {before, found == entries_.entries().end() ? nullptr : found->second.routes});
    }
    for (const auto& [name, text] : changes) {
      auto found = entries_.entries().find(name);
      if (found == entries_.entries().end()) continue;
      for (const ClusterConfig& cluster : found->second.clusters) {
        clusters.push_back(&cluster);
        now_names.insert(cluster.name);
      }
    }
    std::vector<std::string> removed;
    for (const std::string& name : before_names) {
      if (!now_names.contains(name)) removed.push_back(name);
    }
    EndpointsByCluster endpoints;
    for (const ClusterConfig* cluster : clusters)
      endpoints[cluster->name] = literal_endpoints(*cluster);
    topology_.apply_clusters(clusters, removed, endpoints);
    patched_ = with_changed_clusters(*patched_, clusters, removed, topology_, changed, slots_);
    expect_same_as_whole();
  }

  // The cluster a host's requests go to, by name, with its settings.
  static std::optional<ClusterInfo> routed(const Snapshot& snapshot, const std::string& host) {
    const RouteAction* action = snapshot.routes.match(host, "/");
    if (!action || action->clusters.empty()) return std::nullopt;
    return snapshot.clusters.at(action->clusters.front().cluster_index);
  }

  void expect_same_as_whole() {
    auto config = std::make_shared<const Config>(entries_.merged(base_));
    std::shared_ptr<const Snapshot> whole =
        build_snapshot(config, topology_, slots_, entries_.entry_routes());
    std::map<std::string, uint32_t> whole_ids;
    for (const ClusterInfo& cluster : whole->clusters)
      whole_ids[cluster.name] = cluster.id;
    std::map<std::string, uint32_t> patched_ids;
    for (const ClusterInfo& cluster : patched_->clusters) {
      if (!cluster.removed()) patched_ids[cluster.name] = cluster.id;
    }
    EXPECT_EQ(patched_ids, whole_ids);
    for (const char* host : {"main.test", "a.test", "b.test", "c.test", "d.test"}) {
      std::optional<ClusterInfo> want = routed(*whole, host);
      std::optional<ClusterInfo> got = routed(*patched_, host);
      ASSERT_EQ(got.has_value(), want.has_value()) << host;
      if (!want) continue;
      EXPECT_EQ(got->name, want->name) << host;
      EXPECT_EQ(got->id, want->id) << host;
      EXPECT_EQ(got->lb, want->lb) << host;
    }
  }

  Config base_;
  RouteEntries entries_;
  Topology topology_;
  RouteNameSlots slots_;
  std::shared_ptr<const Snapshot> patched_;
};

TEST_F(SnapshotPatch, AddedClustersAreRoutedTo) {
  change({{"a", entry("a.test", "ca", {{"ca", "round_robin"}})},
          {"b", entry("b.test", "cb", {{"cb", "random"}})}});
  ASSERT_EQ(routed(*patched_, "b.test")->name, "cb");
}

TEST_F(SnapshotPatch, RemovingAnEntryLeavesTheOthersRoutedToTheirClusters) {
  change({{"a", entry("a.test", "ca", {{"ca", "round_robin"}})}});
  change({{"b", entry("b.test", "cb", {{"cb", "random"}})}});
  change({{"c", entry("c.test", "cc", {{"cc", "least_request"}})}});
  change({{"a", std::nullopt}});
  EXPECT_FALSE(routed(*patched_, "a.test"));
  EXPECT_EQ(routed(*patched_, "c.test")->name, "cc");
}

TEST_F(SnapshotPatch, AClusterAddedAfterARemovalTakesItsSlot) {
  change({{"a", entry("a.test", "ca", {{"ca", "round_robin"}})}});
  change({{"b", entry("b.test", "cb", {{"cb", "random"}})}});
  size_t slots = patched_->clusters.size();
  change({{"a", std::nullopt}});
  change({{"d", entry("d.test", "cd", {{"cd", "least_request"}})}});
  EXPECT_EQ(patched_->clusters.size(), slots);
  EXPECT_EQ(routed(*patched_, "d.test")->name, "cd");
}

TEST_F(SnapshotPatch, ChangedAndRenamedClustersAreRoutedAsConfigured) {
  change({{"a", entry("a.test", "ca", {{"ca", "round_robin"}})},
          {"b", entry("b.test", "cb", {{"cb", "random"}})}});
  change({{"a", entry("a.test", "ca", {{"ca", "least_request"}})}});
  EXPECT_EQ(routed(*patched_, "a.test")->lb, LbPolicy::kLeastRequest);
  change({{"a", entry("a.test", "renamed", {{"renamed", "random"}})}});
  EXPECT_EQ(routed(*patched_, "a.test")->name, "renamed");
}

TEST_F(SnapshotPatch, AnEntryDroppingItsClustersRoutesToTheBase) {
  change({{"a", entry("a.test", "ca", {{"ca", "round_robin"}})},
          {"c", entry("c.test", "cc", {{"cc", "random"}})}});
  change({{"a", entry("a.test", "other", {})}});
  EXPECT_EQ(routed(*patched_, "a.test")->name, "other");
}

TEST_F(SnapshotPatch, AClusterMovingBetweenTwoChangedEntriesStays) {
  change({{"a", entry("a.test", "shared", {{"shared", "round_robin"}})}});
  change({{"a", entry("a.test", "base", {})},
          {"b", entry("b.test", "shared", {{"shared", "random"}})}});
  EXPECT_EQ(routed(*patched_, "b.test")->name, "shared");
}

}  // namespace
}  // namespace waygate::routing
