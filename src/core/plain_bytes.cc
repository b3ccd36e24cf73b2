#include "core/plain_bytes.h"

#include <cstdint>
#include <cstring>

namespace waygate {
namespace {

// Whether any of the eight bytes of `word` is not plain, tested on all of them at once: a byte
// below 0x20, above 0x7e, a quote or a backslash sets the high bit of its lane in one of the
// terms. A borrow or carry spills into the next lane only from a lane that is special itself, so
// the answer for the word as a whole is exact.
bool has_special_byte(uint64_t word) {
  constexpr uint64_t kLanes = 0x0101010101010101;
  constexpr uint64_t kHighBits = 0x8080808080808080;
  auto has_zero_lane = [](uint64_t bytes) { return (bytes - kLanes) & ~bytes; };
  uint64_t below_space = (word - kLanes * 0x20) & ~word;
  uint64_t above_tilde = (word + kLanes * (0x7f - 0x7e)) | word;
  uint64_t quote = has_zero_lane(word ^ (kLanes * '"'));
  uint64_t backslash = has_zero_lane(word ^ (kLanes * '\\'));
  return ((below_space | above_tilde | quote | backslash) & kHighBits) != 0;
}

uint64_t load_word(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return word;
}

// The 1 to 7 bytes at `bytes` in one word, the lanes they leave filled with a plain byte. Two
// overlapping loads cover any such count without a loop.
uint64_t load_short(const char* bytes, size_t count) {
  constexpr uint64_t kPlainFill = 0x6161616161616161;  // "aaaaaaaa"
  if (count >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, bytes, 4);
    std::memcpy(&tail, bytes + count - 4, 4);
    return head | static_cast<uint64_t>(tail) << 32;
  }
  auto byte = [bytes](size_t i) {
    return static_cast<uint64_t>(static_cast<unsigned char>(bytes[i]));
  };
  return (kPlainFill & ~uint64_t{0xffffff}) | byte(0) | byte(count / 2) << 8 |
         byte(count - 1) << 16;
}

}  // namespace

size_t plain_prefix_length(std::string_view text) {
  const char* bytes = text.data();
  size_t size = text.size();
  // Most values are plain all through: whole words, then the last (overlapping) word, or a short
  // value as one word. Only a value with a special byte is walked a byte at a time, up to it.
  size_t length = 0;
  if (size == 0) return 0;
  if (size < sizeof(uint64_t)) {
    if (!has_special_byte(load_short(bytes, size))) return size;
  } else {
    while (length + sizeof(uint64_t) <= size && !has_special_byte(load_word(bytes + length)))
      length += sizeof(uint64_t);
    if (length == size) return size;
    // The last word overlaps bytes already found plain, so a special byte in it lies ahead.
    if (length + sizeof(uint64_t) > size &&
        !has_special_byte(load_word(bytes + size - sizeof(uint64_t))))
      return size;
  }
  // A special byte lies ahead, so the walk stops inside the value.
  while (is_plain_byte(static_cast<unsigned char>(bytes[length])))
    ++length;
  return length;
}

}  // namespace waygate
