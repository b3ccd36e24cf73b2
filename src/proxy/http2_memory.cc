#include "proxy/http2_memory.h"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/block_pool.h"

namespace waygate::proxy {
namespace {

// Blocks of 32, 64, ... 4096 bytes; larger ones come from malloc each time.
constexpr size_t kClasses = 8;
constexpr size_t kMinBlockShift = 5;
constexpr size_t kMaxBlockBytes = size_t{1} << (kMinBlockShift + kClasses - 1);
constexpr uint32_t kUnpooled = kClasses;
// Kept per class and thread: what a burst leaves behind is bounded. A stream in flight holds
// about four 256-byte blocks (its nghttp2_stream, its response's fields and frames): room for the
// 1024 streams whose blocks BlockPool keeps (Http2Stream).
constexpr size_t kMaxKeptBytesPerClass = 1024 * 1024;

// Before each block: what it is (nghttp2's free gives no size). 16 bytes keep the alignment.
struct alignas(16) BlockHeader {
  uint32_t size_class;
  size_t capacity;
};

struct FreeBlock {
  FreeBlock* next;
};

struct FreeLists {
  FreeBlock* first[kClasses] = {};
  size_t count[kClasses] = {};

  FreeLists() = default;
  FreeLists(const FreeLists&) = delete;
  FreeLists& operator=(const FreeLists&) = delete;
  ~FreeLists() {
    for (FreeBlock* block : first) {
      while (block) {
        FreeBlock* next = block->next;
        std::free(reinterpret_cast<char*>(block) - sizeof(BlockHeader));
        block = next;
      }
    }
  }
};

FreeLists& free_lists() {
  thread_local FreeLists lists;
  return lists;
}

BlockHeader* header_of(void* block) {
  return reinterpret_cast<BlockHeader*>(static_cast<char*>(block) - sizeof(BlockHeader));
}

void* allocate(size_t size, void*) {
  uint32_t size_class = kUnpooled;
  size_t capacity = size;
  if (size <= kMaxBlockBytes) {
    size_class = size <= (size_t{1} << kMinBlockShift)
                     ? 0
                     : static_cast<uint32_t>(std::bit_width(size - 1) - kMinBlockShift);
    capacity = size_t{1} << (kMinBlockShift + size_class);
    FreeLists& lists = free_lists();
    if (FreeBlock* block = lists.first[size_class]) {
      lists.first[size_class] = block->next;
      --lists.count[size_class];
      return block;
    }
  }
  void* raw = std::malloc(sizeof(BlockHeader) + capacity);
  if (!raw) return nullptr;
  auto* header = static_cast<BlockHeader*>(raw);
  header->size_class = size_class;
  header->capacity = capacity;
  return header + 1;
}

void release(void* block, void*) {
  if (!block) return;
  BlockHeader* header = header_of(block);
  uint32_t size_class = header->size_class;
  if (size_class != kUnpooled) {
    FreeLists& lists = free_lists();
    if (lists.count[size_class] * header->capacity < kMaxKeptBytesPerClass) {
      auto* free_block = static_cast<FreeBlock*>(block);
      free_block->next = lists.first[size_class];
      lists.first[size_class] = free_block;
      ++lists.count[size_class];
      return;
    }
  }
  std::free(header);
}

void* allocate_zeroed(size_t count, size_t size, void* user_data) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* block = allocate(count * size, user_data);
  if (block) std::memset(block, 0, count * size);
  return block;
}

void* reallocate(void* block, size_t size, void* user_data) {
  if (!block) return allocate(size, user_data);
  if (size == 0) {
    release(block, user_data);
    return nullptr;
  }
  size_t capacity = header_of(block)->capacity;
  if (size <= capacity) return block;
  void* larger = allocate(size, user_data);
  if (!larger) return nullptr;
  std::memcpy(larger, block, capacity);
  release(block, user_data);
  return larger;
}

}  // namespace

nghttp2_mem* http2_memory() {
  static nghttp2_mem memory{nullptr, &allocate, &release, &allocate_zeroed, &reallocate};
  if constexpr (!kReuseFreedBlocks) return nullptr;
  return &memory;
}

}  // namespace waygate::proxy
