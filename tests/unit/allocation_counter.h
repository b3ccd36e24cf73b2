// Counts allocations for the steady-state tests: every allocation made in the process between
// start_counting_allocations() and stop_counting_allocations(), except on the threads that are the
// test's own (a client, an upstream), which say so with exclude_this_thread_from_counting().
// Without a sanitizer malloc itself is replaced, so operator new, libuv and nghttp2 (whose pooled
// allocator takes its new blocks from malloc) are all counted; a sanitizer owns malloc, so there
// operator new and libuv's allocations (through uv_replace_allocator) are counted.
#pragma once

#include <cstdint>

namespace waygate::test {

void start_counting_allocations();
// How many allocations were counted since start_counting_allocations().
uint64_t stop_counting_allocations();

// The calling thread's allocations are never counted: it is a thread of the test, not of the
// code under test.
void exclude_this_thread_from_counting();

}  // namespace waygate::test
