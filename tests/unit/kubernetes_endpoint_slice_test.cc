// Reading EndpointSlices as the API server returns them: which endpoints may get new requests, on
// which port.
#include <gtest/gtest.h>

#include "discovery/kubernetes/endpoint_slice.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

// A slice as a cluster's EndpointSlice controller writes it.
Json slice(Json endpoints, Json ports = Json::parse(R"([{"name": "http", "protocol": "TCP",
                                                          "port": 8080}])")) {
  Json object = Json::parse(R"({
    "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
    "metadata": {"name": "web-abc12", "namespace": "shop", "resourceVersion": "1234",
                 "uid": "0f7c2a5e-3b1d-4c8e-9a6f-2d4b8e1c7a90",
                 "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4"})");
  object["endpoints"] = std::move(endpoints);
  object["ports"] = std::move(ports);
  return object;
}

Json endpoint(const char* address, const char* conditions) {
  Json value = Json::parse(std::string(R"({"addresses": [")") + address +
                           R"("], "targetRef": {"kind": "Pod", "name": "web-1"}})");
  if (conditions) value["conditions"] = Json::parse(conditions);
  return value;
}

std::vector<std::string> addresses(const SliceEndpoints& slice) {
  std::vector<std::string> out;
  for (const routing::EndpointSpec& endpoint : slice.endpoints)
    out.push_back(endpoint.address_text);
  return out;
}

SliceEndpoints parse(const Json& object, PortSelector port = {"http", 0}) {
  std::string error;
  std::optional<SliceEndpoints> parsed = parse_endpoint_slice(object, port, &error);
  EXPECT_TRUE(parsed) << error;
  return parsed.value_or(SliceEndpoints{});
}

TEST(KubernetesEndpointSlice, ReadyEndpointsAreTakenWithTheNamedPort) {
  SliceEndpoints parsed = parse(slice(Json::array(
      {endpoint("10.0.0.1", R"({"ready": true, "serving": true, "terminating": false})"),
       endpoint("10.0.0.2", R"({"ready": false, "serving": false, "terminating": false})")})));
  EXPECT_EQ(parsed.name, "web-abc12");
  EXPECT_EQ(addresses(parsed), std::vector<std::string>{"10.0.0.1:8080"});
  EXPECT_EQ(parsed.not_ready, 1u);
}

TEST(KubernetesEndpointSlice, AbsentReadyCountsAsReady) {
  SliceEndpoints parsed =
      parse(slice(Json::array({endpoint("10.0.0.1", nullptr), endpoint("10.0.0.2", "{}")})));
  EXPECT_EQ(addresses(parsed), (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
}

TEST(KubernetesEndpointSlice, TerminatingEndpointsAreLeftOutEvenWhenReady) {
  // publishNotReadyAddresses keeps terminating endpoints ready.
  SliceEndpoints parsed = parse(slice(
      Json::array({endpoint("10.0.0.1", R"({"ready": true, "serving": true, "terminating": true})"),
                   endpoint("10.0.0.2", R"({"ready": true})")})));
  EXPECT_EQ(addresses(parsed), std::vector<std::string>{"10.0.0.2:8080"});
}

TEST(KubernetesEndpointSlice, PortIsPickedByNameByNumberOrAsTheOnlyOne) {
  Json ports = Json::parse(R"([{"name": "metrics", "port": 9090, "protocol": "TCP"},
                               {"name": "http", "port": 8080, "protocol": "TCP"}])");
  Json object = slice(Json::array({endpoint("10.0.0.1", nullptr)}), ports);
  EXPECT_EQ(addresses(parse(object, {"metrics", 0})), std::vector<std::string>{"10.0.0.1:9090"});
  EXPECT_EQ(addresses(parse(object, {"", 8080})), std::vector<std::string>{"10.0.0.1:8080"});
  // Several ports and none named: none is guessed.
  SliceEndpoints unnamed = parse(object, {"", 0});
  EXPECT_TRUE(unnamed.endpoints.empty());
  EXPECT_NE(unnamed.port_error.find("several ports"), std::string::npos);
  // A Service with one unnamed port.
  Json one = slice(Json::array({endpoint("10.0.0.1", nullptr)}),
                   Json::parse(R"([{"name": "", "port": 80, "protocol": "TCP"}])"));
  EXPECT_EQ(addresses(parse(one, {"", 0})), std::vector<std::string>{"10.0.0.1:80"});
}

TEST(KubernetesEndpointSlice, AMissingPortNameIsSaid) {
  SliceEndpoints parsed = parse(slice(Json::array({endpoint("10.0.0.1", nullptr)})), {"grpc", 0});
  EXPECT_TRUE(parsed.endpoints.empty());
  EXPECT_EQ(parsed.port_error, "no port named 'grpc'");
}

TEST(KubernetesEndpointSlice, IPv6AddressesAreBracketed) {
  Json object = slice(Json::array({endpoint("fd00::7", nullptr)}));
  object["addressType"] = "IPv6";
  EXPECT_EQ(addresses(parse(object)), std::vector<std::string>{"[fd00::7]:8080"});
}

TEST(KubernetesEndpointSlice, NoEndpointsIsAnEmptySlice) {
  Json object = slice(nullptr);
  object.erase("endpoints");  // the API server omits an empty list
  SliceEndpoints parsed = parse(object);
  EXPECT_TRUE(parsed.endpoints.empty());
  EXPECT_TRUE(parsed.port_error.empty());
}

TEST(KubernetesEndpointSlice, ListItemsWithoutKindAreRead) {
  Json object = slice(Json::array({endpoint("10.0.0.1", nullptr)}));
  object.erase("kind");
  object.erase("apiVersion");
  EXPECT_EQ(addresses(parse(object)), std::vector<std::string>{"10.0.0.1:8080"});
}

TEST(KubernetesEndpointSlice, OtherObjectsAreRefused) {
  std::string error;
  EXPECT_FALSE(parse_endpoint_slice(
      Json::parse(R"({"kind": "Service", "metadata": {"name": "a"}})"), {"http", 0}, &error));
  EXPECT_EQ(error, "not an EndpointSlice");
  EXPECT_FALSE(
      parse_endpoint_slice(Json::parse(R"({"kind": "EndpointSlice"})"), {"http", 0}, &error));
}

}  // namespace
}  // namespace waygate::discovery::kubernetes
