// GET /reloads: the last 32 reload outcomes, newest first.
#include "admin/reload_history.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::admin {
namespace {

ReloadHistory::Entry entry(int n) {
  return {"2026-11-30T16:00:00.000Z", "file", "applied", "reload " + std::to_string(n), 1.5};
}

TEST(ReloadHistoryTest, EmptyHistoryIsAnEmptyList) {
  EXPECT_EQ(ReloadHistory().render(), R"({"reloads":[]})");
}

TEST(ReloadHistoryTest, EntriesAreListedNewestFirstWithEveryField) {
  ReloadHistory history;
  history.record(entry(1));
  history.record({"2026-11-30T16:00:01.000Z", "SIGHUP", "refused", "a.yaml:1:1: \"bad\"", 0.25});
  EXPECT_EQ(history.render(),
            R"({"reloads":[{"time":"2026-11-30T16:00:01.000Z","trigger":"SIGHUP",)"
            R"("result":"refused","message":"a.yaml:1:1: \"bad\"","duration_ms":0.25},)"
            R"({"time":"2026-11-30T16:00:00.000Z","trigger":"file","result":"applied",)"
            R"("message":"reload 1","duration_ms":1.5}]})");
}

TEST(ReloadHistoryTest, OnlyTheLast32AreKept) {
  ReloadHistory history;
  for (int n = 1; n <= 40; ++n)
    history.record(entry(n));
  std::string text = history.render();
  size_t listed = 0;
  for (size_t at = text.find("\"reload "); at != std::string::npos;
       at = text.find("\"reload ", at + 1)) {
    ++listed;
  }
  EXPECT_EQ(listed, ReloadHistory::kKept);
  EXPECT_LT(text.find("\"reload 40\""), text.find("\"reload 39\""));
  EXPECT_NE(text.find("\"reload 9\""), std::string::npos);  // the oldest kept
  EXPECT_EQ(text.find("\"reload 8\""), std::string::npos);
}

}  // namespace
}  // namespace waygate::admin
