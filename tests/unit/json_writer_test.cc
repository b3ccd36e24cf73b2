// The admin API's JSON writer: structure (commas, nesting) and numbers; its strings are
// core/json_string's (tests/unit/json_string_test.cc).
#include "admin/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace waygate::admin {
namespace {

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

}  // namespace
}  // namespace waygate::admin
