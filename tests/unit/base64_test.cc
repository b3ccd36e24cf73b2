// The base64 that etcd's JSON gateway uses for keys and values: round trips, and the strict
// decoder's refusals.
#include "discovery/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::discovery {
namespace {

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i)
    bytes.push_back(static_cast<char>(i));
  for (size_t length = 0; length <= bytes.size(); length += 37) {
    std::string slice = bytes.substr(bytes.size() - length);
    EXPECT_EQ(base64_decode(base64_encode(slice)), slice) << length;
  }
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");  // the two symbols past the letters and digits
}

TEST(Base64, RefusesBytesOutsideTheAlphabet) {
  EXPECT_EQ(base64_decode("Zm9v!A=="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9-"), std::nullopt);  // URL-safe alphabet
  EXPECT_EQ(base64_decode("Zm9v\n"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm 9"), std::nullopt);
}

TEST(Base64, RefusesALengthThatIsNotAMultipleOfFour) {
  EXPECT_EQ(base64_decode("Zg"), std::nullopt);  // unpadded
  EXPECT_EQ(base64_decode("Zm9vY"), std::nullopt);
}

TEST(Base64, RefusesPaddingAnywhereButAtTheEnd) {
  EXPECT_EQ(base64_decode("Zg==Zm9v"), std::nullopt);
  EXPECT_EQ(base64_decode("Z=g="), std::nullopt);
  EXPECT_EQ(base64_decode("Z==="), std::nullopt);
  EXPECT_EQ(base64_decode("===="), std::nullopt);
}

TEST(Base64, RefusesBitsSetPastTheLastByte) {
  EXPECT_EQ(base64_decode("Zh=="), std::nullopt);  // "Zg==" is the canonical "f"
  EXPECT_EQ(base64_decode("Zm9="), std::nullopt);  // "Zm8=" is the canonical "fo"
}

}  // namespace
}  // namespace waygate::discovery
