// The Prometheus text format as /metrics writes it: HELP and TYPE lines, label values escaped,
// histograms as cumulative buckets ending in le="+Inf" with _sum and _count.
#include "admin/prometheus_text.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <string>

namespace waygate::admin {
namespace {

TEST(PrometheusTextTest, FamilyWritesHelpAndType) {
  PrometheusText out;
  out.family("waygate_requests_total", "counter", "Requests.\nBy class, with a \\ in it.");
  EXPECT_EQ(out.text(),
            "# HELP waygate_requests_total Requests.\\nBy class, with a \\\\ in it.\n"
            "# TYPE waygate_requests_total counter\n");
}

TEST(PrometheusTextTest, SampleWithoutLabelsHasNoBraces) {
  PrometheusText out;
  out.sample("waygate_downstream_connections_active", {}, uint64_t{3});
  EXPECT_EQ(out.text(), "waygate_downstream_connections_active 3\n");
}

TEST(PrometheusTextTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  PrometheusText out;
  out.sample("m_total", {{"cluster", "a\"b\\c\nd"}, {"listener", "web"}}, uint64_t{7});
  EXPECT_EQ(out.text(), "m_total{cluster=\"a\\\"b\\\\c\\nd\",listener=\"web\"} 7\n");
}

TEST(PrometheusTextTest, EmptyLabelValueIsWrittenEmpty) {
  PrometheusText out;
  out.sample("m_total", {{"cluster", ""}}, uint64_t{1});
  EXPECT_EQ(out.text(), "m_total{cluster=\"\"} 1\n");
}

TEST(PrometheusTextTest, DoublesUseShortestFormAndInfinity) {
  std::string text;
  append_number(text, 0.25);
  text += ' ';
  append_number(text, 1e-6);
  text += ' ';
  append_number(text, std::numeric_limits<double>::infinity());
  EXPECT_EQ(text, "0.25 1e-06 +Inf");
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  PrometheusText out;
  std::array<double, 3> bounds = {0.005, 0.1, 1};
  std::array<uint64_t, 4> counts = {2, 0, 3, 1};  // one value above every bound
  out.histogram("lat_seconds", {{"worker", "0"}}, bounds, counts, 2.5);
  EXPECT_EQ(out.text(),
            "lat_seconds_bucket{worker=\"0\",le=\"0.005\"} 2\n"
            "lat_seconds_bucket{worker=\"0\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{worker=\"0\",le=\"1\"} 5\n"
            "lat_seconds_bucket{worker=\"0\",le=\"+Inf\"} 6\n"
            "lat_seconds_sum{worker=\"0\"} 2.5\n"
            "lat_seconds_count{worker=\"0\"} 6\n");
}

TEST(PrometheusTextTest, HistogramWithoutLabelsHasOnlyLe) {
  PrometheusText out;
  std::array<double, 1> bounds = {0.5};
  std::array<uint64_t, 2> counts = {1, 0};
  out.histogram("h_seconds", {}, bounds, counts, 0.125);
  EXPECT_EQ(out.text(),
            "h_seconds_bucket{le=\"0.5\"} 1\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 0.125\n"
            "h_seconds_count 1\n");
}

}  // namespace
}  // namespace waygate::admin
