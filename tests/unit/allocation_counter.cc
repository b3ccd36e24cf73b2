#include "allocation_counter.h"

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WAYGATE_SANITIZER_OWNS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WAYGATE_SANITIZER_OWNS_MALLOC 1
#endif
#endif

namespace waygate::test {
namespace {

std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};
// Read inside malloc: a plain thread_local of the executable, which needs no allocation itself.
thread_local bool t_excluded = false;

void note_allocation() {
  if (!g_counting.load(std::memory_order_relaxed) || t_excluded) return;
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void start_counting_allocations() {
  g_allocations = 0;
  g_counting = true;
}

uint64_t stop_counting_allocations() {
  g_counting = false;
  return g_allocations.load();
}

void exclude_this_thread_from_counting() {
  t_excluded = true;
}

}  // namespace waygate::test

#ifndef WAYGATE_SANITIZER_OWNS_MALLOC

// glibc's allocator under its own names: the replacements below count, then hand over to it, so
// that glibc's free (not replaced) frees what they return. posix_memalign, memalign and valloc
// stay glibc's, uncounted: nothing waygate runs per request calls them.
extern "C" {
void* __libc_malloc(size_t size) noexcept;
void* __libc_calloc(size_t count, size_t size) noexcept;
void* __libc_realloc(void* pointer, size_t size) noexcept;
void* __libc_memalign(size_t alignment, size_t size) noexcept;

void* malloc(size_t size) noexcept {
  waygate::test::note_allocation();
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
  waygate::test::note_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) noexcept {
  waygate::test::note_allocation();
  return __libc_realloc(pointer, size);
}
void* aligned_alloc(size_t alignment, size_t size) noexcept {
  waygate::test::note_allocation();
  return __libc_memalign(alignment, size);
}
}

#else

namespace {

void* counted_malloc(size_t size) {
  waygate::test::note_allocation();
  return std::malloc(size);
}
void* counted_realloc(void* pointer, size_t size) {
  waygate::test::note_allocation();
  return std::realloc(pointer, size);
}
void* counted_calloc(size_t count, size_t size) {
  waygate::test::note_allocation();
  return std::calloc(count, size);
}

// Before main, so that libuv allocates through it from its first allocation on.
[[maybe_unused]] const int g_libuv_counted =
    uv_replace_allocator(counted_malloc, counted_realloc, counted_calloc, std::free);

}  // namespace

// The replacements below pair malloc with free on purpose; GCC cannot see that they replace the
// global operators and warns about the pairing.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t size) {
  waygate::test::note_allocation();
  if (void* pointer = std::malloc(size == 0 ? 1 : size)) return pointer;
  throw std::bad_alloc();
}
void operator delete(void* pointer) noexcept {
  std::free(pointer);
}
void operator delete(void* pointer, size_t) noexcept {
  std::free(pointer);
}

#endif
