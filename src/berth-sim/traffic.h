/* traffic: the stream of requests a simulation replays, in time order.
 *
 * Either a generator (per-model renewal processes with Poisson or Gamma
 * inter-arrival times, modulated by a diurnal curve, active hours and random
 * bursts; Zipf popularity across models), or a trace file. Both are seeded
 * from the scenario, so opening the same scenario twice gives exactly the
 * same requests: every policy replays the same traffic. Requests are
 * produced lazily; memory does not grow with the length of the run. */
#ifndef BERTH_SIM_TRAFFIC_H
#define BERTH_SIM_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

typedef struct sim_request {
  double t;            /* seconds since the start of the simulation */
  int32_t model;       /* index into scenario.models */
  uint32_t in_tokens, out_tokens;
} sim_request;

typedef struct traffic traffic;

/* Opens the traffic of s (which must outlive it). Returns 0 or a negative
 * errno code with a message in err. */
int traffic_open(traffic **out, const scenario *s, char *err, size_t errsz);
/* Next request: 1 and *req filled, 0 at the end (the scenario's duration or
 * the end of the trace), or a negative errno code with a message in err. */
int traffic_next(traffic *t, sim_request *req, char *err, size_t errsz);
void traffic_close(traffic *t);

/* The mean arrival rate (requests per second at shape 1) the generator
 * uses for model i, after Zipf shares are applied. */
double traffic_model_rate(const traffic *t, size_t i);

#endif
