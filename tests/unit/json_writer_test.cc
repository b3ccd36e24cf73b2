// The admin API's JSON writer: structure (commas, nesting), numbers, and strings that stay valid
// UTF-8 JSON whatever bytes they hold.
#include "admin/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace waygate::admin {
namespace {

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(JsonWriterTest, ObjectsAndArraysNestWithCommasBetweenItems) {
  JsonWriter out;
  out.begin_object()
      .member("name", "api")
      .key("endpoints")
      .begin_array()
      .begin_object()
      .member("weight", 1)
      .end_object()
      .begin_object()
      .end_object()
      .end_array()
      .key("empty")
      .begin_array()
      .end_array()
      .key("none")
      .null()
      .end_object();
  EXPECT_EQ(out.take(), R"({"name":"api","endpoints":[{"weight":1},{}],"empty":[],"none":null})");
}

TEST(JsonWriterTest, ArrayOfWritesEachItem) {
  JsonWriter out;
  out.array_of(std::vector<std::string>{"a", "b"});
  EXPECT_EQ(out.take(), R"(["a","b"])");
}

TEST(JsonWriterTest, TakeLeavesTheWriterEmpty) {
  JsonWriter out;
  out.begin_array().value(true).end_array();
  EXPECT_EQ(out.take(), "[true]");
  out.begin_array().value(false).end_array();
  EXPECT_EQ(out.take(), "[false]");
}

TEST(JsonWriterTest, NumbersAreExactAndNonFiniteDoublesAreNull) {
  JsonWriter out;
  out.begin_array()
      .value(std::numeric_limits<uint64_t>::max())
      .value(int64_t{-42})
      .value(3.25)
      .value(0.1)
      .value(std::numeric_limits<double>::quiet_NaN())
      .value(std::numeric_limits<double>::infinity())
      .end_array();
  EXPECT_EQ(out.take(), "[18446744073709551615,-42,3.25,0.1,null,null]");
}

TEST(JsonStringTest, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(json_string(R"(a"b\c)"), R"("a\"b\\c")");
}

TEST(JsonStringTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(json_string(std::string("\n\r\t\b\f\x01\x1f", 7)), R"("\n\r\t\b\f\u0001\u001f")");
  EXPECT_EQ(json_string(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonStringTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"");
}

TEST(JsonStringTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  // A lone continuation byte, a byte never used in UTF-8, a lead byte at the end.
  EXPECT_EQ(json_string("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(json_string("a\xffz"), R"("a\ufffdz")");
  EXPECT_EQ(json_string("a\xc3"), R"("a\ufffd")");
  // Latin-1 text, as a file in the wrong encoding would hold it.
  EXPECT_EQ(json_string("caf\xe9"), R"("caf\ufffd")");
}

TEST(JsonStringTest, OverlongSurrogateAndOutOfRangeFormsAreRefused) {
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(json_string("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");  // overlong, 3 bytes
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // U+D800, a surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
}

TEST(JsonStringTest, ATruncatedSequenceIsOneReplacementThenTheNextCharacter) {
  // The maximal ill-formed prefix (E2 82) is replaced once; the quote after it is kept.
  EXPECT_EQ(json_string("\xe2\x82\""), R"("\ufffd\"")");
  EXPECT_EQ(json_string("\xf0\x9f\x98z"), R"("\ufffdz")");
}

}  // namespace
}  // namespace waygate::admin
