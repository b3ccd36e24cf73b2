#include "lb/policy.h"

#include "lb/round_robin.h"

namespace waygate::lb {

std::unique_ptr<Policy> make_policy(std::string_view name) {
  (void)name;  // round_robin is the only policy the config accepts so far
  return std::make_unique<RoundRobin>();
}

}  // namespace waygate::lb
