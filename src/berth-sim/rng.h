/* rng: seeded pseudo-random numbers for berth-sim (xoshiro256**, seeded
 * through splitmix64) and the draws the traffic model needs.
 *
 * Every stream is explicit state, so each model gets its own stream and
 * adding a model never changes the traffic of the others. */
#ifndef BERTH_SIM_RNG_H
#define BERTH_SIM_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
  uint64_t s[4];
  double spare;        /* the second normal of the last pair */
  int has_spare;
} rng;

/* Seeds a stream from a seed and a stream number (e.g. a model index). */
void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
/* Uniform on (0, 1): never exactly 0 or 1. */
double rng_u01(rng *r);
double rng_exp(rng *r);                      /* mean 1 */
double rng_normal(rng *r);                   /* mean 0, sd 1 */
double rng_gamma(rng *r, double shape);      /* scale 1 */
/* Lognormal with the given mean and coefficient of variation (cv 0: mean). */
double rng_lognormal_mc(rng *r, double mean, double cv);
/* Poisson count with the given mean (small means; inversion). */
unsigned rng_poisson(rng *r, double mean);

/* Zipf(s) over ranks 0..n-1 by inversion of a precomputed CDF. */
typedef struct zipf { double *cdf; size_t n; } zipf;
void zipf_init(zipf *z, size_t n, double s);
size_t zipf_draw(const zipf *z, rng *r);
void zipf_free(zipf *z);
/* Weight of rank k (0-based) in Zipf(s) over n ranks (the weights sum to 1). */
double zipf_weight(size_t k, size_t n, double s);

#endif
