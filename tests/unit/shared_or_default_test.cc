// SharedOrDefault, the one-pointer holder of a path's rarely set parts: a copy of a config shares
// them, an edit of one copy leaves the other as it was, and an unset part reads as the default.
#include "routing/shared_or_default.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace waygate::routing {
namespace {

struct Part {
  std::vector<std::string> names = {"default"};
};

TEST(SharedOrDefault, UnsetReadsAsTheDefault) {
  SharedOrDefault<Part> part;
  EXPECT_TRUE(part.is_default());
  EXPECT_EQ(part->names, std::vector<std::string>{"default"});
  EXPECT_EQ(sizeof(part), sizeof(void*)) << "a path holds several: one pointer each";
}

TEST(SharedOrDefault, EditingACopyLeavesTheOriginalAsItWas) {
  SharedOrDefault<Part> original;
  original.edit().names = {"a"};
  SharedOrDefault<Part> copy = original;
  EXPECT_EQ(&*copy, &*original) << "a copy shares the part until it is edited";
  copy.edit().names.push_back("b");
  EXPECT_EQ(original->names, std::vector<std::string>{"a"});
  EXPECT_EQ(copy->names, (std::vector<std::string>{"a", "b"}));
  copy.edit().names.push_back("c");  // its own now: edited in place
  EXPECT_EQ(copy->names.size(), 3u);
}

TEST(SharedOrDefault, TheLastHolderFreesThePartWhicheverItIs) {
  // Under ASan a part freed early is a use-after-free and one never freed a leak.
  auto first = std::make_unique<SharedOrDefault<Part>>();
  first->edit().names = {"kept"};
  SharedOrDefault<Part> second = *first;
  SharedOrDefault<Part> third;
  third = second;
  first.reset();
  second = SharedOrDefault<Part>();
  EXPECT_EQ(third->names, std::vector<std::string>{"kept"});
  SharedOrDefault<Part> moved = std::move(third);
  EXPECT_TRUE(third.is_default());  // NOLINT(bugprone-use-after-move): a moved-from part is unset
  EXPECT_EQ(moved->names, std::vector<std::string>{"kept"});
}

}  // namespace
}  // namespace waygate::routing
