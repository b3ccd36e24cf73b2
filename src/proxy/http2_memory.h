// nghttp2's allocations (a stream, its frames, header buffers: several for each request) from
// free lists kept per thread by size class, rather than from malloc and free each time.
#pragma once

#include <nghttp2/nghttp2.h>

namespace waygate::proxy {

// The allocator to give nghttp2_session_*_new3. Null (nghttp2's default: malloc) when freed
// blocks are not reused (kReuseFreedBlocks: under AddressSanitizer).
nghttp2_mem* http2_memory();

}  // namespace waygate::proxy
