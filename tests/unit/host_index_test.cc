// The route table's host index: every name added is found with its value, the first of a name
// added twice wins, and names that are not there are not found, however full the table.
#include "routing/host_index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace waygate::routing {
namespace {

TEST(HostIndex, FindsEveryNameAddedAcrossGrowth) {
  std::vector<std::string> names;
  names.reserve(5000);
  for (int i = 0; i < 5000; ++i)
    names.push_back("host" + std::to_string(i) + ".example.com");
  std::vector<int> values(names.size());
  HostIndex index;  // no reserve: it grows as names come
  for (size_t i = 0; i < names.size(); ++i)
    index.insert(names[i], &values[i]);
  EXPECT_EQ(index.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    ASSERT_EQ(index.find(names[i]), &values[i]) << names[i];
  // Same lengths, one byte apart; prefixes and extensions of names that are there.
  EXPECT_EQ(index.find("host5000.example.com"), nullptr);
  EXPECT_EQ(index.find("host1.example.co"), nullptr);
  EXPECT_EQ(index.find("host1.example.comm"), nullptr);
  EXPECT_EQ(index.find("Host1.example.com"), nullptr);  // the table lower-cases before it asks
  EXPECT_EQ(index.find(""), nullptr);
}

TEST(HostIndex, FirstOfANameAddedTwiceWins) {
  std::string first = "api.example.com";
  std::string again = "api.example.com";
  int seven = 7;
  int nine = 9;
  HostIndex index;
  index.reserve(2);
  index.insert(first, &seven);
  index.insert(again, &nine);
  EXPECT_EQ(index.find("api.example.com"), &seven);
  EXPECT_EQ(index.size(), 1U);
}

TEST(HostIndex, EmptyIndexFindsNothing) {
  HostIndex index;
  EXPECT_EQ(index.find("a.example.com"), nullptr);
}

}  // namespace
}  // namespace waygate::routing
