#include "routing/table_memory.h"

#include <sys/mman.h>

#include <cstdint>

namespace waygate::routing {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

std::shared_ptr<std::byte[]> table_memory(size_t bytes) {
  if (bytes < kHugePage) return std::make_shared<std::byte[]>(bytes);
  size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // Map a huge page more than needed and trim to the 2 MB boundary inside.
  void* mapped =
      mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(mapped);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(mapped, aligned - start);
  if (size_t tail = start + kHugePage - aligned; tail > 0) {
    munmap(reinterpret_cast<void*>(aligned + size), tail);
  }
  auto* memory = reinterpret_cast<std::byte*>(aligned);
  madvise(memory, size, MADV_HUGEPAGE);  // advice: without it the table still works
  return std::shared_ptr<std::byte[]>(memory, [size](std::byte* at) { munmap(at, size); });
}

}  // namespace waygate::routing
