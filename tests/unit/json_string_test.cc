// JSON strings from any bytes, as the admin API and the access log's JSON lines write them: what a
// JSON parser reads back, escapes where RFC 8259 wants them, and U+FFFD for bytes that are not
// UTF-8.
#include "core/json_string.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace waygate {
namespace {

std::string json_string(std::string_view value) {
  std::string out;
  append_json_string(out, value);
  return out;
}

TEST(JsonStringTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(json_string(std::string("\n\r\t\b\f\x01\x1f", 7)), R"("\n\r\t\b\f\u0001\u001f")");
  EXPECT_EQ(json_string(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonStringTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
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

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(json_string("plain text"), R"("plain text")");
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("line\nbreak\r\ttab"), R"("line\nbreak\r\ttab")");
  constexpr char kControl[] =
      "nul\0bell\x07"
      "del\x7f";
  EXPECT_EQ(json_string(std::string_view(kControl, sizeof(kControl) - 1)),
            R"("nul\u0000bell\u0007del\u007f")");
  EXPECT_EQ(json_string(""), R"("")");
}

TEST(JsonStringTest, KeepsValidUtf8AndReplacesEachInvalidByte) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(json_string("\xff"), R"("\ufffd")");
  EXPECT_EQ(json_string("a\xc3"), R"("a\ufffd")");                              // cut short
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(json_string("\xe9t\xe9"), R"("\ufffdt\ufffd")");  // Latin-1, not UTF-8
}

TEST(JsonStringTest, AnyBytesMakeAStringAJsonParserReadsBack) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte)
    all.push_back(static_cast<char>(byte));
  nlohmann::json parsed = nlohmann::json::parse(json_string(all));
  std::string back = parsed.get<std::string>();
  EXPECT_EQ(back.substr(0, 128), all.substr(0, 128));  // ASCII survives exactly
  EXPECT_EQ(back.size(), 128 + 128 * 3u);              // each byte above it: U+FFFD
}

// Long runs are checked eight bytes at a time: a byte that needs escaping is found in any lane of
// a block and in the bytes after the last whole block.
TEST(JsonStringTest, ASpecialByteAnywhereInALongValueIsEscaped) {
  const std::pair<char, std::string_view> kSpecials[] = {
      {'"', "\\\""},       {'\\', "\\\\"},      {'\n', "\\n"},      {'\x1f', "\\u001f"},
      {'\x7f', "\\u007f"}, {'\x80', "\\ufffd"}, {'\xff', "\\ufffd"}};
  for (const auto& [special, escaped] : kSpecials) {
    for (size_t at = 0; at < 21; ++at) {
      std::string value(21, 'a');
      value[at] = special;
      std::string expected(1, '"');
      expected.append(at, 'a').append(escaped).append(20 - at, 'a').push_back('"');
      EXPECT_EQ(json_string(value), expected) << "byte " << int(special) << " at " << at;
    }
  }
  for (char plain : {'~', ' '}) {
    std::string value(24, plain);
    EXPECT_EQ(json_string(value), '"' + value + '"');
  }
}

}  // namespace
}  // namespace waygate
