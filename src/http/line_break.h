// Finding the end of a line in an HTTP/1 head, which every head's reader does for every line.
#pragma once

#include <bit>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace waygate::http {

// The first CR or LF in [from, end), or end: sixteen bytes at a time where SSE2 is there (every
// x86-64), where a loop would look at each byte and memchr finds one of the two only.
inline const char* line_break(const char* from, const char* end) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; end - from >= 16; from += 16) {
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
    auto found = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(block, cr), _mm_cmpeq_epi8(block, lf))));
    if (found != 0) return from + std::countr_zero(found);
  }
#endif
  for (; from < end; ++from) {
    if (*from == '\r' || *from == '\n') return from;
  }
  return end;
}

}  // namespace waygate::http
