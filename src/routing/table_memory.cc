#include "routing/table_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

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
  size_t head = ((start + kHugePage - 1) & ~(kHugePage - 1)) - start;
  std::byte* memory = static_cast<std::byte*>(mapped) + head;
  if (head > 0) munmap(mapped, head);
  if (size_t tail = kHugePage - head; tail > 0) munmap(memory + size, tail);
  madvise(memory, size, MADV_HUGEPAGE);  // advice: without it the table still works
  return std::shared_ptr<std::byte[]>(memory, [size](std::byte* at) { munmap(at, size); });
}

}  // namespace waygate::routing
