// What a worker tells the control thread about an endpoint it used: the raw material of passive
// health checking. Only changes are reported (a failure, or the first success after one), so a
// healthy endpoint under load costs the channel nothing.
#pragma once

#include <cstdint>

namespace waygate::proxy {

struct EndpointEvent {
  enum class Kind : uint8_t {
    kSuccess,         // a response after failures
    kConnectFailure,  // refused, unreachable, or the connect timed out
    kReset,           // closed or reset before the response ended
    kTimeout,         // no response in time
    kServerError,     // a 5xx response
  };
  uint32_t endpoint_id = 0;
  uint32_t generation = 0;
  Kind kind = Kind::kSuccess;
};

}  // namespace waygate::proxy
