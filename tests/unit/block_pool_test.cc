#include "core/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace waygate {
namespace {

struct Block {
  char bytes[64];
};
using Pool = BlockPool<Block, 8>;

// Freed blocks are kept up to the pool's bound, and a burst's are let go of (keep_at_most) once
// it is over, so that its memory can go back to the system.
TEST(BlockPool, KeepsUpToItsBoundAndLetsGoAfterABurst) {
  if constexpr (!kReuseFreedBlocks) GTEST_SKIP() << "AddressSanitizer: every block is freed";
  std::vector<void*> taken;
  for (int i = 0; i < 20; ++i)
    taken.push_back(Pool::take(sizeof(Block)));
  for (void* block : taken)
    Pool::give(block);
  EXPECT_EQ(Pool::kept(), 8u);
  void* again = Pool::take(sizeof(Block));
  EXPECT_EQ(again, taken[7]) << "the last block kept is the first taken again";
  Pool::give(again);
  Pool::keep_at_most(2);
  EXPECT_EQ(Pool::kept(), 2u);
  Pool::keep_at_most(0);
  EXPECT_EQ(Pool::kept(), 0u);
}

}  // namespace
}  // namespace waygate
