#include "http/head_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::http {
namespace {

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Names are lowercased eight bytes a step: every byte value, at every position of names as long
// as two steps and a tail, comes out as a byte-by-byte lowercase would have it (only 'A' to 'Z'
// change; '@', '[', and bytes from 0x80 whose low bits spell a letter stay as they are).
TEST(HeadWriter, PutLowercaseChangesOnlyUppercaseAsciiLetters) {
  for (size_t length = 1; length <= 19; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string name(length, 'N');
        name[at] = static_cast<char>(byte);
        std::string expected = "x:";
        for (char c : name)
          expected += ascii_lower(c);
        std::string out = "x:";
        {
          HeadWriter writer(out, 0);  // no room made: put_lowercase makes its own
          writer.put_lowercase(name);
        }
        ASSERT_EQ(out, expected) << "byte " << byte << " at " << at << " of " << length;
      }
    }
  }
}

}  // namespace
}  // namespace waygate::http
