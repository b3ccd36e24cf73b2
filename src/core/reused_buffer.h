// Buffers of pooled objects (exchanges, reused HTTP/2 streams, connections): emptied for the next
// use with the room they grew kept, unless one large message grew them past a bound, so that a
// pooled object does not hold that message's memory for as long as it lives.
#pragma once

#include <cstddef>

namespace waygate {

// Empties `buffer` (a std::string or std::vector), keeping its room up to `max_kept` elements.
template <typename Buffer>
void empty_for_reuse(Buffer& buffer, size_t max_kept) {
  if (buffer.capacity() > max_kept) {
    Buffer().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace waygate
