// One endpoint's check, HTTP or TCP, as the checker drives it: start, then hear the outcome, or
// abandon it (a deadline passed, the endpoint left). The checker owns deadlines and schedules;
// a probe only speaks to the endpoint.
#pragma once

namespace waygate::health {

class ProbeSink {
 public:
  // The check finished. `reason` names why it failed ("timeout" is never one: the checker
  // enforces deadlines itself); nullptr when it passed. The sink may destroy the probe.
  virtual void on_probe_done(bool passed, const char* reason) = 0;

 protected:
  ~ProbeSink() = default;
};

class Probe {
 public:
  virtual ~Probe() = default;  // abandons a check under way
  // Starts a check (only when none is under way). Its outcome reaches the sink from a loop
  // callback, never from inside start(); false when it could not even start (a failure the
  // caller records).
  virtual bool start() = 0;
  // Drops the check under way, if any; the sink hears nothing of it.
  virtual void abandon() = 0;
};

}  // namespace waygate::health
