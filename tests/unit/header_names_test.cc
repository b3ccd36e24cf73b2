#include "http/header_names.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::http {
namespace {

TEST(ClassifyHeader, KnownNamesAreFoundWhateverTheirCase) {
  EXPECT_EQ(classify_header("Content-Length"), HeaderId::kContentLength);
  EXPECT_EQ(classify_header("CONTENT-LENGTH"), HeaderId::kContentLength);
  EXPECT_EQ(classify_header("content-length"), HeaderId::kContentLength);
  EXPECT_EQ(classify_header("hOsT"), HeaderId::kHost);
  EXPECT_EQ(classify_header("TE"), HeaderId::kTe);
  EXPECT_EQ(classify_header("Transfer-Encoding"), HeaderId::kTransferEncoding);
  EXPECT_EQ(classify_header("X-Forwarded-Proto"), HeaderId::kXForwardedProto);
  EXPECT_EQ(classify_header("X-Client-Cert-Subject"), HeaderId::kXClientCertSubject);
  EXPECT_EQ(classify_header("Grpc-Timeout"), HeaderId::kGrpcTimeout);
}

// A byte that only matches a known name's letter or '-' with its case bit ignored is a different
// name: the client's X-Client-Cert-Subject must never slip through as an unknown one, and an
// unknown one must never be taken for a framing header.
TEST(ClassifyHeader, NamesThatDifferBeyondCaseAreOther) {
  EXPECT_EQ(classify_header("Content\rLength"), HeaderId::kOther);
  EXPECT_EQ(classify_header("Content_Length"), HeaderId::kOther);
  EXPECT_EQ(classify_header("Transfer\rEncoding"), HeaderId::kOther);
  EXPECT_EQ(classify_header("X-Client-Cert\rSubject"), HeaderId::kOther);
  EXPECT_EQ(classify_header("@ost"), HeaderId::kOther);  // '@' is 'a' minus 0x21, not a case
  EXPECT_EQ(classify_header("Hosu"), HeaderId::kOther);
  EXPECT_EQ(classify_header("Content-Lengtg"), HeaderId::kOther);
  EXPECT_EQ(classify_header(std::string("Host\0", 5)), HeaderId::kOther);
}

}  // namespace
}  // namespace waygate::http
