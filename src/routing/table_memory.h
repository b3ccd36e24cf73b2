// Memory for the route table's big arrays that lookups read at random (the host index of a
// million names). Two megabytes or more come 2 MB-aligned and advised for transparent huge pages:
// the kernel gives the heap none by itself (THP in `madvise` mode), and on a VM every 4 KB page
// a lookup lands on costs a nested page walk, which made up most of a lookup among 1M hosts.
#pragma once

#include <cstddef>
#include <memory>

namespace waygate::routing {

// `bytes` of zeroed memory, aligned for any object, freed with the last copy of the pointer.
std::shared_ptr<std::byte[]> table_memory(size_t bytes);

}  // namespace waygate::routing
