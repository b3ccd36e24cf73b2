// RouteEntries: each file validated alone, refused alone, merged in name order; hosts and clusters
// claimed once across the files and the config file; the same entries from an etcd prefix.
#include "routing/route_entries.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace waygate::routing {
namespace {

namespace fs = std::filesystem;

std::string route_to(const std::string& host, const std::string& cluster) {
  return "routes:\n  - hosts: [" + host +
         "]\n    paths:\n      - { prefix: /, cluster: " + cluster + " }\n";
}

// The hosts routed: the base's, then each entry's in name order (as the route table takes them).
std::vector<std::string> hosts_of(const Config& base, const RouteEntries& dir) {
  std::vector<std::string> hosts;
  for (const RouteConfig& route : base.routes)
    hosts.insert(hosts.end(), route.hosts.begin(), route.hosts.end());
  for (const SharedRoutes& entry : dir.entry_routes()) {
    for (const RouteConfig& route : *entry)
      hosts.insert(hosts.end(), route.hosts.begin(), route.hosts.end());
  }
  return hosts;
}

class RoutesDirTest : public ::testing::Test {
 protected:
  RoutesDirTest() : dir_("/routes.d", "/etc") {
    ClusterConfig shared;
    shared.name = "shared";
    base_.clusters.push_back(shared);
    RouteConfig route;
    route.hosts = {"main.test"};
    base_.routes.push_back(route);
    dir_.set_base(base_, "/etc/waygate.yaml");
  }

  Config base_;
  RouteEntries dir_;
};

TEST(RoutesFileName, OnlyVisibleYamlFilesThatAreNoBackups) {
  EXPECT_TRUE(is_routes_file_name("shop.yaml"));
  EXPECT_TRUE(is_routes_file_name("shop.yml"));
  EXPECT_FALSE(is_routes_file_name(".shop.yaml"));  // hidden: an editor's swap or temporary file
  EXPECT_FALSE(is_routes_file_name("..data"));
  EXPECT_FALSE(is_routes_file_name("shop.yaml~"));
  EXPECT_FALSE(is_routes_file_name("shop.yaml.bak"));
  EXPECT_FALSE(is_routes_file_name("shop.txt"));
  EXPECT_FALSE(is_routes_file_name(".yaml"));
  EXPECT_FALSE(is_routes_file_name("a/b.yaml"));
}

TEST_F(RoutesDirTest, FilesAreMergedAfterTheBaseInNameOrder) {
  EXPECT_EQ(dir_.update("b.yaml", route_to("b.test", "shared")), RouteEntries::Change::kApplied);
  EXPECT_EQ(dir_.update("a.yaml", route_to("a.test", "own") +
                                      "clusters:\n  - { name: own, endpoints: [127.0.0.1:1] }\n"),
            RouteEntries::Change::kApplied);
  Config merged = dir_.merged(base_);
  EXPECT_EQ(hosts_of(base_, dir_), (std::vector<std::string>{"main.test", "a.test", "b.test"}));
  ASSERT_EQ(merged.clusters.size(), 2u);
  EXPECT_EQ(merged.clusters[1].name, "own");
}

TEST_F(RoutesDirTest, TheSameBytesAgainAreNoChange) {
  EXPECT_EQ(dir_.update("a.yaml", route_to("a.test", "shared")), RouteEntries::Change::kApplied);
  EXPECT_EQ(dir_.update("a.yaml", route_to("a.test", "shared")), RouteEntries::Change::kNone);
}

TEST_F(RoutesDirTest, ABrokenFileKeepsItsLastGoodVersion) {
  dir_.update("a.yaml", route_to("a.test", "shared"));
  EXPECT_EQ(dir_.update("a.yaml", route_to("a.test", "nowhere")), RouteEntries::Change::kRefused);
  const RouteEntries::Entry& file = dir_.entries().at("a.yaml");
  ASSERT_EQ(file.errors.size(), 1u);
  EXPECT_EQ(file.errors[0], "/routes.d/a.yaml:4:31: unknown cluster 'nowhere'");
  EXPECT_TRUE(file.accepted);
  EXPECT_EQ(hosts_of(base_, dir_), (std::vector<std::string>{"main.test", "a.test"}));
}

TEST_F(RoutesDirTest, AFileNeverGoodRoutesNothing) {
  EXPECT_EQ(dir_.update("a.yaml", "routes: [1"), RouteEntries::Change::kRefused);
  EXPECT_FALSE(dir_.entries().at("a.yaml").accepted);
  EXPECT_EQ(hosts_of(base_, dir_), (std::vector<std::string>{"main.test"}));
}

TEST_F(RoutesDirTest, AHostAnotherFileRoutesIsRefusedNamingBoth) {
  dir_.update("a.yaml", route_to("a.test", "shared"));
  EXPECT_EQ(dir_.update("z.yaml", route_to("A.test", "shared")), RouteEntries::Change::kRefused);
  EXPECT_EQ(dir_.entries().at("z.yaml").errors,
            (std::vector<std::string>{"/routes.d/z.yaml:2:13: host 'A.test' is already routed by "
                                      "/routes.d/a.yaml; /routes.d/z.yaml may not route it too"}));
  // The config file's hosts are taken as well.
  EXPECT_EQ(dir_.update("z.yaml", route_to("main.test", "shared")), RouteEntries::Change::kRefused);
  EXPECT_NE(dir_.entries().at("z.yaml").errors.at(0).find("already routed by /etc/waygate.yaml"),
            std::string::npos);
  // A file may keep its own hosts when it changes.
  EXPECT_EQ(dir_.update("a.yaml", route_to("a.test", "shared") + "# changed\n"),
            RouteEntries::Change::kApplied);
}

TEST_F(RoutesDirTest, AClusterAnotherFileDefinesIsRefused) {
  std::string own = "clusters:\n  - { name: own, endpoints: [127.0.0.1:1] }\n";
  dir_.update("a.yaml", own);
  EXPECT_EQ(dir_.update("b.yaml", own), RouteEntries::Change::kRefused);
  EXPECT_NE(dir_.entries().at("b.yaml").errors.at(0).find("already defined by /routes.d/a.yaml"),
            std::string::npos);
  // A file's routes may not name another file's clusters: each file stands alone.
  EXPECT_EQ(dir_.update("c.yaml", route_to("c.test", "own")), RouteEntries::Change::kRefused);
}

TEST_F(RoutesDirTest, DeletingAFileFreesItsNames) {
  dir_.update("a.yaml", route_to("a.test", "shared"));
  EXPECT_EQ(dir_.update("a.yaml", std::nullopt), RouteEntries::Change::kApplied);
  EXPECT_TRUE(dir_.entries().empty());
  EXPECT_EQ(dir_.update("b.yaml", route_to("a.test", "shared")), RouteEntries::Change::kApplied);
  EXPECT_EQ(dir_.update("gone.yaml", std::nullopt), RouteEntries::Change::kNone);
}

TEST_F(RoutesDirTest, RestorePutsBackTheVersionBeforeAnUpdate) {
  dir_.update("a.yaml", route_to("a.test", "shared"));
  std::optional<RouteEntries::Entry> before = dir_.entries().at("a.yaml");
  dir_.update("a.yaml", route_to("other.test", "shared"));
  dir_.restore("a.yaml", before);
  EXPECT_EQ(hosts_of(base_, dir_), (std::vector<std::string>{"main.test", "a.test"}));
  EXPECT_EQ(dir_.update("b.yaml", route_to("other.test", "shared")),
            RouteEntries::Change::kApplied);
}

TEST_F(RoutesDirTest, ValidateChangesNothing) {
  EXPECT_FALSE(dir_.validate("a.yaml", "routes: 7\n").empty());
  EXPECT_TRUE(dir_.validate("a.yaml", route_to("a.test", "shared")).empty());
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_F(RoutesDirTest, ABaseThatDropsAClusterAFileNamesConflicts) {
  dir_.update("a.yaml", route_to("a.test", "shared"));
  Config next;
  EXPECT_EQ(dir_.conflicts_with(next, "/etc/waygate.yaml"),
            (std::vector<std::string>{"/etc/waygate.yaml:1:1: cluster 'shared' is named by the "
                                      "routes of /routes.d/a.yaml, which serve; keep it"}));
  EXPECT_TRUE(dir_.conflicts_with(base_, "/etc/waygate.yaml").empty());
}

TEST(RoutesDirScan, RescanReadsNewChangedAndGoneFiles) {
  std::string pattern = (fs::temp_directory_path() / "routes_dir_XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  fs::path root = pattern;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(root / name, std::ios::binary | std::ios::trunc) << text;
  };
  RouteEntries dir(root.string(), root.string());
  Config base;
  ClusterConfig cluster;
  cluster.name = "c";
  base.clusters.push_back(cluster);
  dir.set_base(base, "waygate.yaml");
  write("a.yaml", route_to("a.test", "c"));
  write("b.yml", route_to("b.test", "c"));
  write(".a.yaml.swp", "junk");
  write("notes.txt", "junk");
  std::string error;
  EXPECT_EQ(dir.rescan(&error), (std::vector<std::string>{"a.yaml", "b.yml"}));
  EXPECT_EQ(error, "");
  EXPECT_TRUE(dir.rescan(&error).empty());  // nothing changed: nothing parsed
  write("b.yml", route_to("b2.test", "c"));
  fs::remove(root / "a.yaml");
  EXPECT_EQ(dir.rescan(&error), (std::vector<std::string>{"a.yaml", "b.yml"}));
  EXPECT_EQ(hosts_of(base, dir), (std::vector<std::string>{"b2.test"}));
  fs::remove_all(root);
  dir.rescan(&error);
  EXPECT_NE(error.find("No such file or directory"), std::string::npos);
}

TEST(RoutesEtcdEntries, KeysUnderThePrefixAreEntriesNamedByTheirKeys) {
  RouteEntries entries(RouteEntries::Backend::kEtcd, "/waygate/routes/", "/etc");
  Config base;
  entries.set_base(base, "/etc/waygate.yaml");
  std::string own =
      route_to("a.test", "own") + "clusters:\n  - { name: own, endpoints: [127.0.0.1:1] }\n";
  EXPECT_EQ(entries.update("a", own, 7), RouteEntries::Change::kApplied);
  EXPECT_EQ(entries.entries().at("a").accepted_revision, 7u);
  // The same bytes written again: no change, but the version serving is the later write's.
  EXPECT_EQ(entries.update("a", own, 9), RouteEntries::Change::kNone);
  EXPECT_EQ(entries.entries().at("a").accepted_revision, 9u);
  EXPECT_EQ(entries.update("b", route_to("a.test", "own"), 10), RouteEntries::Change::kRefused);
  EXPECT_EQ(entries.entries().at("b").errors.at(0),
            "etcd:/waygate/routes/b:2:13: host 'a.test' is already routed by "
            "etcd:/waygate/routes/a; etcd:/waygate/routes/b may not route it too");
  EXPECT_EQ(entries.update("c", "paths: []\n", 11), RouteEntries::Change::kRefused);
  EXPECT_NE(entries.entries().at("c").errors.at(0).find("a routes_source.etcd.prefix entry"),
            std::string::npos);
  // Nothing to read from a directory: the watcher brings every change.
  std::string error;
  EXPECT_TRUE(entries.rescan(&error).empty());
  EXPECT_EQ(error, "");
  EXPECT_EQ(entries.list(&error), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(hosts_of(base, entries), (std::vector<std::string>{"a.test"}));
}

}  // namespace
}  // namespace waygate::routing
