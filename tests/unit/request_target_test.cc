#include "http/request_target.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>

#include "http/field_syntax.h"

namespace waygate::http {
namespace {

constexpr std::string_view kUntouched = "untouched";

struct Normalized {
  PathStatus status;
  std::string path;  // the path a router would use: the input when unchanged, else the output
};

Normalized normalize(std::string_view path, PathOptions options = {}) {
  std::string out(kUntouched);
  PathStatus status = normalize_path(path, options, out);
  if (status == PathStatus::kNormalized) return {status, out};
  EXPECT_EQ(out, kUntouched) << "out written for " << path;
  return {status, std::string(path)};
}

// The normal form of a path that must be accepted.
std::string normal_form(std::string_view path, PathOptions options = {}) {
  Normalized result = normalize(path, options);
  EXPECT_TRUE(result.status == PathStatus::kUnchanged || result.status == PathStatus::kNormalized)
      << path << " refused: " << static_cast<int>(result.status);
  return result.path;
}

PathOptions with_escaped_slashes(EscapedSlashes choice) {
  PathOptions options;
  options.escaped_slashes = choice;
  return options;
}

PathOptions without_merging() {
  PathOptions options;
  options.merge_slashes = false;
  return options;
}

TEST(NormalizePath, NormalPathIsUnchangedAndOutIsNotWritten) {
  for (std::string_view path : {"/", "/api/v1/users", "/a/b/", "/caf%C3%A9", "/a%20b"}) {
    EXPECT_EQ(normalize(path).status, PathStatus::kUnchanged) << path;
  }
}

TEST(NormalizePath, ChangedPathReplacesWhateverOutHeld) {
  std::string out = "left over from the previous request";
  EXPECT_EQ(normalize_path("/a/./b", {}, out), PathStatus::kNormalized);
  EXPECT_EQ(out, "/a/b");
}

TEST(NormalizePath, UnreservedEscapesAreDecoded) {
  EXPECT_EQ(normal_form("/%61dmin"), "/admin");
  EXPECT_EQ(normal_form("/%7E"), "/~");
  EXPECT_EQ(normal_form("/x%2D%5F%7e%41%7A%39"), "/x-_~Az9");
}

TEST(NormalizePath, OtherEscapesStayWithUpperCaseHex) {
  EXPECT_EQ(normal_form("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(normal_form("/a%3fb%25"), "/a%3Fb%25");
}

TEST(NormalizePath, MixedCaseHexIsUpperCased) {
  EXPECT_EQ(normal_form("/%c3%A9%aB%Bc"), "/%C3%A9%AB%BC");
}

TEST(NormalizePath, EscapedDotsFormDotSegments) {
  EXPECT_EQ(normal_form("/a/%2e%2E/b"), "/b");
  EXPECT_EQ(normal_form("/a/%2E/b"), "/a/b");
  EXPECT_EQ(normal_form("/a/.%2e/b"), "/b");
}

TEST(NormalizePath, EscapedDotDotAtTheRootStaysAtTheRoot) {
  EXPECT_EQ(normal_form("/%2e%2e/"), "/");
  EXPECT_EQ(normal_form("/%2E%2E/etc/passwd"), "/etc/passwd");
}

TEST(NormalizePath, DotSegmentIsRemoved) {
  EXPECT_EQ(normal_form("/a/./b"), "/a/b");
  EXPECT_EQ(normal_form("/./a"), "/a");
}

TEST(NormalizePath, DotDotRemovesThePreviousSegment) {
  EXPECT_EQ(normal_form("/a/b/../c"), "/a/c");
  EXPECT_EQ(normal_form("/a/b/c/../../d"), "/a/d");
}

TEST(NormalizePath, DotSegmentsNeverClimbAboveRoot) {
  EXPECT_EQ(normal_form("/../x"), "/x");
  EXPECT_EQ(normal_form("/../../a/../../b"), "/b");
}

TEST(NormalizePath, TrailingDotDotLeavesATrailingSlash) {
  EXPECT_EQ(normal_form("/a/.."), "/");
  EXPECT_EQ(normal_form("/a/b/.."), "/a/");
}

TEST(NormalizePath, TrailingDotLeavesATrailingSlash) {
  EXPECT_EQ(normal_form("/a/."), "/a/");
  EXPECT_EQ(normal_form("/a/b/./"), "/a/b/");
}

TEST(NormalizePath, DotAndDotDotAloneAreTheRoot) {
  EXPECT_EQ(normal_form("/."), "/");
  EXPECT_EQ(normal_form("/.."), "/");
}

TEST(NormalizePath, SegmentsThatOnlyContainDotsAreKept) {
  for (std::string_view path : {"/.well-known/acme", "/a/..b/...", "/a/.b./c..", "/..."}) {
    EXPECT_EQ(normalize(path).status, PathStatus::kUnchanged) << path;
  }
}

TEST(NormalizePath, RunsOfSlashesAreMerged) {
  EXPECT_EQ(normal_form("//admin"), "/admin");
  EXPECT_EQ(normal_form("/a//b/"), "/a/b/");
  EXPECT_EQ(normal_form("/a///b"), "/a/b");
}

TEST(NormalizePath, EmptySegmentsAtTheEndBecomeOneTrailingSlash) {
  EXPECT_EQ(normal_form("/a//"), "/a/");
  EXPECT_EQ(normal_form("/a/b///"), "/a/b/");
}

TEST(NormalizePath, PathOfOnlySlashesIsTheRoot) {
  EXPECT_EQ(normal_form("//"), "/");
  EXPECT_EQ(normal_form("/////"), "/");
}

TEST(NormalizePath, SlashesMergeBeforeDotSegmentsAreRemoved) {
  // "//" is "/" first, so ".." removes "a", not the empty segment between the slashes.
  EXPECT_EQ(normal_form("/a//../b"), "/b");
}

TEST(NormalizePath, SlashesStayWhenMergingIsOff) {
  EXPECT_EQ(normalize("/a//b/", without_merging()).status, PathStatus::kUnchanged);
  EXPECT_EQ(normalize("//", without_merging()).status, PathStatus::kUnchanged);
  EXPECT_EQ(normal_form("/./a//b/", without_merging()), "/a//b/");
}

TEST(NormalizePath, DotDotRemovesAnEmptySegmentWhenMergingIsOff) {
  EXPECT_EQ(normal_form("/a//../b", without_merging()), "/a/b");
}

TEST(NormalizePath, EscapedSlashIsRejectedByDefault) {
  for (std::string_view path : {"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/a/../%2F"}) {
    EXPECT_EQ(normalize(path).status, PathStatus::kEscapedSlash) << path;
  }
}

TEST(NormalizePath, KeptEscapedSlashHasUpperCaseHex) {
  PathOptions keep = with_escaped_slashes(EscapedSlashes::kKeep);
  EXPECT_EQ(normal_form("/a%2fb", keep), "/a%2Fb");
  EXPECT_EQ(normal_form("/a%5cb", keep), "/a%5Cb");
  EXPECT_EQ(normalize("/a%2Fb%5C", keep).status, PathStatus::kUnchanged);
}

TEST(NormalizePath, KeptEscapedSlashIsNotASeparator) {
  PathOptions keep = with_escaped_slashes(EscapedSlashes::kKeep);
  EXPECT_EQ(normalize("/a%2F..%2Fb", keep).status, PathStatus::kUnchanged);
  EXPECT_EQ(normal_form("/x/a%2f..%2F../y", keep), "/x/a%2F..%2F../y");
  EXPECT_EQ(normal_form("/x/a%2F/../y", keep), "/x/y");
}

TEST(NormalizePath, UnescapedSlashesAreSeparators) {
  PathOptions unescape = with_escaped_slashes(EscapedSlashes::kUnescape);
  EXPECT_EQ(normal_form("/a%2F..%2Fb", unescape), "/b");
  EXPECT_EQ(normal_form("/a%2fb", unescape), "/a/b");
  EXPECT_EQ(normal_form("/a%5Cb%5c..", unescape), "/a/");
  EXPECT_EQ(normal_form("/a%2F%2f/b", unescape), "/a/b");
}

TEST(NormalizePath, RawBackslashIsRefusedWhateverTheOptions) {
  for (EscapedSlashes choice :
       {EscapedSlashes::kReject, EscapedSlashes::kKeep, EscapedSlashes::kUnescape}) {
    for (bool merge : {true, false}) {
      PathOptions options{merge, choice};
      for (std::string_view path : {"/a\\b", "\\", "/a/../b\\", "/%61\\"}) {
        EXPECT_EQ(normalize(path, options).status, PathStatus::kBackslash) << path;
      }
    }
  }
}

TEST(NormalizePath, TruncatedOrNonHexEscapeIsRefused) {
  for (std::string_view path : {"/a%", "/a%4", "/a%zz", "/a%4g", "/a%g4", "/./%zz", "/%%41"}) {
    EXPECT_EQ(normalize(path).status, PathStatus::kBadEscape) << path;
  }
}

TEST(NormalizePath, EscapedNulIsRefused) {
  EXPECT_EQ(normalize("/a%00b").status, PathStatus::kBadEscape);
  EXPECT_EQ(normalize("/a/../%00").status, PathStatus::kBadEscape);
}

TEST(NormalizePath, RefusalLeavesOutUntouchedAfterAnEarlierChange) {
  // normalize() checks `out`; these refusals come after a byte that would have been rewritten.
  EXPECT_EQ(normalize("/a/./b/%zz").status, PathStatus::kBadEscape);
  EXPECT_EQ(normalize("//a/%2F").status, PathStatus::kEscapedSlash);
}

TEST(NormalizePath, LongNormalPathIsUnchanged) {
  std::string path;
  while (path.size() < 4096)
    path += "/segment-0123456789";
  EXPECT_EQ(normalize(path).status, PathStatus::kUnchanged);
}

TEST(NormalizePath, LongPathIsNormalizedToItsEnd) {
  std::string path;
  std::string expected;
  for (int i = 0; path.size() < 4096; ++i) {
    std::string segment = "/s" + std::to_string(i);
    path += segment + "/./x//%7e/../..";
    expected += segment;
  }
  path += "/%2e%2E/end";
  expected.resize(expected.rfind('/'));
  expected += "/end";
  EXPECT_EQ(normal_form(path), expected);
}

TEST(NormalizePath, PathWithoutLeadingSlashIsRooted) {
  EXPECT_EQ(normal_form("a/b"), "/a/b");
  EXPECT_EQ(normal_form(""), "/");
  EXPECT_EQ(normal_form("../a"), "/a");
}

// Every path of up to six pieces drawn from the ones that interact (separators, dots, escaped
// dots and slashes, an escape to decode): its normal form is accepted again unchanged and holds no
// dot segment, and no "//" when merging.
TEST(NormalizePath, NormalFormOfEveryShortPathIsNormal) {
  constexpr std::string_view kPieces[] = {"/", ".", "a", "%2e", "%2f", "%41"};
  constexpr size_t kPieceCount = std::size(kPieces);
  constexpr int kMaxPieces = 6;
  for (PathOptions options :
       {PathOptions{}, without_merging(), with_escaped_slashes(EscapedSlashes::kKeep),
        with_escaped_slashes(EscapedSlashes::kUnescape)}) {
    size_t combinations = 1;
    for (int length = 0; length <= kMaxPieces; ++length, combinations *= kPieceCount) {
      for (size_t n = 0; n < combinations; ++n) {
        std::string path;
        for (size_t rest = n, i = 0; i < static_cast<size_t>(length); ++i, rest /= kPieceCount) {
          path += kPieces[rest % kPieceCount];
        }
        Normalized first = normalize(path, options);
        if (first.status == PathStatus::kEscapedSlash) continue;
        ASSERT_TRUE(first.status == PathStatus::kUnchanged ||
                    first.status == PathStatus::kNormalized)
            << path;
        std::string normal = "/" + first.path + "/";  // so every segment has a '/' each side
        ASSERT_TRUE(first.path.starts_with('/')) << path << " -> " << first.path;
        ASSERT_EQ(normal.find("/./"), std::string::npos) << path << " -> " << first.path;
        ASSERT_EQ(normal.find("/../"), std::string::npos) << path << " -> " << first.path;
        if (options.merge_slashes) {
          ASSERT_EQ(first.path.find("//"), std::string::npos) << path << " -> " << first.path;
        }
        ASSERT_EQ(normalize(first.path, options).status, PathStatus::kUnchanged)
            << path << " -> " << first.path;
      }
    }
  }
}

struct Parsed {
  bool ok = false;
  RequestTarget target;
};

Parsed parse(std::string_view text) {
  Parsed parsed;
  parsed.ok = parse_request_target(text, &parsed.target);
  return parsed;
}

TEST(ParseRequestTarget, OriginFormSplitsPathAndQuery) {
  Parsed parsed = parse("/p/q?x=1&y");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.form, RequestTarget::Form::kOrigin);
  EXPECT_EQ(parsed.target.authority, "");
  EXPECT_EQ(parsed.target.path, "/p/q");
  EXPECT_EQ(parsed.target.query, "?x=1&y");
}

TEST(ParseRequestTarget, OriginFormWithoutQueryHasEmptyQuery) {
  Parsed parsed = parse("/p");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.path, "/p");
  EXPECT_EQ(parsed.target.query, "");
}

TEST(ParseRequestTarget, FragmentIsDropped) {
  Parsed parsed = parse("/p?q#f");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.path, "/p");
  EXPECT_EQ(parsed.target.query, "?q");
}

TEST(ParseRequestTarget, QuestionMarkInTheFragmentIsNoQuery) {
  Parsed parsed = parse("/p#f?x");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.path, "/p");
  EXPECT_EQ(parsed.target.query, "");
}

TEST(ParseRequestTarget, FragmentOnlyTargetIsRefused) {
  EXPECT_FALSE(parse("#f").ok);
  EXPECT_FALSE(parse("#").ok);
}

TEST(ParseRequestTarget, RootWithFragmentIsTheRoot) {
  Parsed parsed = parse("/#f");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.path, "/");
  EXPECT_EQ(parsed.target.query, "");
}

TEST(ParseRequestTarget, AbsoluteFormWithPortSplitsAuthority) {
  Parsed parsed = parse("http://example.com:8080/p?q#f");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.form, RequestTarget::Form::kAbsolute);
  EXPECT_EQ(parsed.target.authority, "example.com:8080");
  EXPECT_EQ(parsed.target.path, "/p");
  EXPECT_EQ(parsed.target.query, "?q");
}

TEST(ParseRequestTarget, HttpsAbsoluteFormIsAccepted) {
  Parsed parsed = parse("https://example.com/x");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.authority, "example.com");
  EXPECT_EQ(parsed.target.path, "/x");
}

TEST(ParseRequestTarget, SchemeIsCaseInsensitive) {
  for (std::string_view text : {"HTTP://h/x", "HtTpS://h/x"}) {
    Parsed parsed = parse(text);
    ASSERT_TRUE(parsed.ok) << text;
    EXPECT_EQ(parsed.target.authority, "h");
    EXPECT_EQ(parsed.target.path, "/x");
  }
}

TEST(ParseRequestTarget, AbsoluteFormWithoutPathHasTheRootPath) {
  Parsed bare = parse("http://h");
  ASSERT_TRUE(bare.ok);
  EXPECT_EQ(bare.target.path, "/");
  Parsed with_query = parse("http://h:81?q=1");
  ASSERT_TRUE(with_query.ok);
  EXPECT_EQ(with_query.target.authority, "h:81");
  EXPECT_EQ(with_query.target.path, "/");
  EXPECT_EQ(with_query.target.query, "?q=1");
  Parsed with_fragment = parse("http://h#f");
  ASSERT_TRUE(with_fragment.ok);
  EXPECT_EQ(with_fragment.target.authority, "h");
  EXPECT_EQ(with_fragment.target.path, "/");
}

TEST(ParseRequestTarget, IPv6AuthorityKeepsItsBrackets) {
  Parsed parsed = parse("http://[::1]:8080/x");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.authority, "[::1]:8080");
  EXPECT_EQ(parsed.target.path, "/x");
}

TEST(ParseRequestTarget, UserinfoIsRefused) {
  EXPECT_FALSE(parse("http://user@h/").ok);
  EXPECT_FALSE(parse("http://u:p@h:80/").ok);
}

TEST(ParseRequestTarget, EmptyAuthorityIsRefused) {
  for (std::string_view text : {"http:///x", "http://", "http://?q", "http://#f"}) {
    EXPECT_FALSE(parse(text).ok) << text;
  }
}

TEST(ParseRequestTarget, InvalidAuthorityIsRefused) {
  for (std::string_view text : {"http://h:99999/", "http://h:x/", "http://[::1/", "http://a b/"}) {
    EXPECT_FALSE(parse(text).ok) << text;
  }
}

TEST(ParseRequestTarget, OtherSchemesAreRefused) {
  for (std::string_view text : {"ftp://h/", "ws://h/", "httpx://h/", "htt://h/", "://h/"}) {
    EXPECT_FALSE(parse(text).ok) << text;
  }
}

TEST(ParseRequestTarget, AuthorityFormIsRefused) {
  EXPECT_FALSE(parse("example.com:443").ok);
}

TEST(ParseRequestTarget, RelativeTargetIsRefused) {
  EXPECT_FALSE(parse("a/b").ok);
}

TEST(ParseRequestTarget, EmptyTargetIsRefused) {
  EXPECT_FALSE(parse("").ok);
}

TEST(ParseRequestTarget, AsteriskFormIsExactlyAnAsterisk) {
  Parsed parsed = parse("*");
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.target.form, RequestTarget::Form::kAsterisk);
  EXPECT_EQ(parsed.target.path, "*");
  for (std::string_view text : {"**", "*x", "*?q", "*#f"}) {
    EXPECT_FALSE(parse(text).ok) << text;
  }
}

}  // namespace
}  // namespace waygate::http

namespace waygate::http {
namespace {

TEST(ParseAuthority, RegNameTakesUnreservedSubDelimsAndEscapes) {
  for (std::string_view host : {"a.example", "127.0.0.1:8080", "a-b_c~d.example:80",
                                "a!$&'()*+,;=b", "A%41z", "[::1]:443"}) {
    EXPECT_TRUE(parse_authority(host)) << host;
  }
}

TEST(ParseAuthority, OtherBytesInAHostAreRefused) {
  for (std::string_view host : {"a b", "a/b", "a\"b", "a<b", "a{b", "a\\b", "a@b", "a%4", "a%zz",
                                "a\x7f", "a\x80", "", ":80", "a:99999", "a:x"}) {
    EXPECT_FALSE(parse_authority(host)) << host;
  }
}

}  // namespace
}  // namespace waygate::http
