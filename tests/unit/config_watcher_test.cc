#include "routing/config_watcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace waygate::routing {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
}

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return std::move(content).str();
}

// A real loop on a fresh directory. Writes happen while the loop is not running, so each test's
// burst of events is already queued when the loop runs: nothing here depends on timing, and the
// 5 s guard only ends a test that would otherwise hang.
class ConfigWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &guard_);
    std::string pattern = (fs::temp_directory_path() / "config_watcher_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ / "waygate.yaml";
  }

  void TearDown() override {
    watcher_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // the close callbacks free the watcher's handles
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    fs::remove_all(dir_);
  }

  // Writes the initial content, starts watching it, and tells the watcher it was loaded.
  void start_watching(std::string_view initial = "initial") {
    write_file(path_, initial);
    start_watcher_on(path_);
    watcher_->note_loaded(initial);
  }

  void start_watcher_on(const fs::path& path) {
    watcher_ = std::make_unique<ConfigWatcher>(&loop_, path.string(), [this] {
      ++calls_;
      seen_ = read_file(path_);
    });
    ASSERT_EQ(watcher_->start(), "");
  }

  // Runs the loop until done() holds; false if the guard expired first.
  template <typename Done>
  bool run_until(Done done) {
    bool expired = false;
    guard_.data = &expired;
    uv_timer_start(
        &guard_, [](uv_timer_t* timer) { *static_cast<bool*>(timer->data) = true; }, 5000, 0);
    while (!done() && !expired)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&guard_);
    return done();
  }

  const ConfigWatcher::Stats& stats() const { return watcher_->stats(); }

  uv_loop_t loop_;
  uv_timer_t guard_;
  fs::path dir_;
  fs::path path_;
  std::unique_ptr<ConfigWatcher> watcher_;
  int calls_ = 0;
  std::string seen_;
};

TEST(ContentHash, IsFnv1a64) {
  EXPECT_EQ(content_hash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(content_hash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_NE(content_hash("routes: []"), content_hash("routes: [ ]"));
}

TEST_F(ConfigWatcherTest, RewritingTheFileReportsOneChange) {
  start_watching();
  write_file(path_, "changed");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "changed");
  EXPECT_EQ(stats().checks, 1u);
}

TEST_F(ConfigWatcherTest, ThreeQuickWritesReportOneChange) {
  start_watching();
  write_file(path_, "one");
  write_file(path_, "two");
  write_file(path_, "three");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "three");
  EXPECT_EQ(stats().checks, 1u);
}

TEST_F(ConfigWatcherTest, FileWrittenInPiecesIsReportedOnceWhole) {
  // An editor or a copy writes a file in several writes; each reaches the file before the next
  // (flushed), and all of them are queued before the loop runs, so the debounce cannot fire
  // between two pieces and the half-written file is never read. (inotify merges the queued
  // identical modify events; BurstOfDifferentEventsReportsOneChange covers distinct ones.)
  start_watching();
  const std::string whole =
      "routes:\n  - hosts: [\"*\"]\n    paths:\n      - prefix: /\n        cluster: up\n";
  {
    std::ofstream file(path_, std::ios::binary | std::ios::trunc);
    for (size_t offset = 0; offset < whole.size(); offset += 16) {
      file << whole.substr(offset, 16);
      file.flush();
    }
  }
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, whole);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(stats().checks, 1u);
}

TEST_F(ConfigWatcherTest, BurstOfDifferentEventsReportsOneChange) {
  // inotify merges identical events still unread; these differ, so each restarts the debounce.
  start_watching();
  write_file(path_, "in place");
  fs::path temporary = dir_ / "waygate.yaml.tmp";
  write_file(temporary, "by rename");
  fs::rename(temporary, path_);
  write_file(path_, "in place again");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "in place again");
  EXPECT_GE(stats().events, 3u);
  EXPECT_EQ(stats().checks, 1u);
}

TEST_F(ConfigWatcherTest, ReplacingTheFileByRenameIsSeen) {
  start_watching();
  fs::path temporary = dir_ / ".waygate.yaml.swp";
  write_file(temporary, "replaced");
  fs::rename(temporary, path_);
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "replaced");
}

TEST_F(ConfigWatcherTest, ConfigMapSymlinkSwapIsSeen) {
  // The layout the kubelet keeps: the file is a link through `..data` to a timestamped directory,
  // and an update points `..data` at a new directory with one rename.
  fs::create_directory(dir_ / "..2024_01");
  write_file(dir_ / "..2024_01" / "waygate.yaml", "version 1");
  fs::create_directory_symlink("..2024_01", dir_ / "..data");
  fs::create_symlink("..data/waygate.yaml", path_);
  start_watcher_on(path_);
  watcher_->note_loaded("version 1");

  fs::create_directory(dir_ / "..2024_02");
  write_file(dir_ / "..2024_02" / "waygate.yaml", "version 2");
  fs::create_directory_symlink("..2024_02", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "version 2");
}

TEST_F(ConfigWatcherTest, IdenticalContentIsNotAChange) {
  start_watching("same");
  write_file(path_, "same");
  ASSERT_TRUE(run_until([&] { return stats().checks == 1; }));
  EXPECT_EQ(calls_, 0);
}

TEST_F(ConfigWatcherTest, ContentNotedAsLoadedIsNotReportedAgain) {
  start_watching();
  // What a SIGHUP reload does: read the new content itself and tell the watcher.
  write_file(path_, "reloaded by SIGHUP");
  watcher_->note_loaded("reloaded by SIGHUP");
  ASSERT_TRUE(run_until([&] { return stats().checks == 1; }));
  EXPECT_EQ(calls_, 0);
}

TEST_F(ConfigWatcherTest, OtherFilesInTheDirectoryAreIgnored) {
  start_watching();
  write_file(dir_ / "endpoints.yaml", "- 127.0.0.1:9001");
  ASSERT_TRUE(run_until([&] { return stats().ignored >= 1; }));
  EXPECT_EQ(stats().events, 0u);
  EXPECT_EQ(stats().checks, 0u);
  EXPECT_EQ(calls_, 0);
}

TEST_F(ConfigWatcherTest, MissingFileIsNotAChangeUntilItReturns) {
  start_watching();
  fs::remove(path_);
  ASSERT_TRUE(run_until([&] { return stats().checks == 1; }));
  EXPECT_EQ(calls_, 0);

  write_file(path_, "back");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(seen_, "back");
}

TEST_F(ConfigWatcherTest, StoppingInsideOnChangeIsSafe) {
  write_file(path_, "initial");
  watcher_ = std::make_unique<ConfigWatcher>(&loop_, path_.string(), [this] {
    ++calls_;
    watcher_.reset();  // stops, and frees the watcher while its callback runs
  });
  ASSERT_EQ(watcher_->start(), "");
  write_file(path_, "changed");
  ASSERT_TRUE(run_until([&] { return calls_ == 1; }));
  EXPECT_EQ(watcher_, nullptr);
}

TEST_F(ConfigWatcherTest, StartFailsWhenTheDirectoryIsMissing) {
  ConfigWatcher watcher(&loop_, (dir_ / "missing" / "waygate.yaml").string(), [] {});
  std::string error = watcher.start();
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
}

}  // namespace
}  // namespace waygate::routing
