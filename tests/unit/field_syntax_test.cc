#include "http/field_syntax.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::http {
namespace {

// A token is checked several bytes a step: a byte that is not a token character is found at
// every position of a name of any length.
TEST(IsToken, EveryByteOfANameIsChecked) {
  for (size_t length = 1; length <= 13; ++length) {
    std::string name(length, 'x');
    EXPECT_TRUE(is_token(name)) << name;
    for (size_t at = 0; at < length; ++at) {
      for (char bad : {' ', '(', '"', ':', '@', '\x7f', '\x80', '\0'}) {
        std::string with_bad = name;
        with_bad[at] = bad;
        EXPECT_FALSE(is_token(with_bad)) << "byte " << int(bad) << " at " << at << " of " << length;
      }
    }
  }
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  EXPECT_FALSE(is_token(""));
}

}  // namespace
}  // namespace waygate::http
