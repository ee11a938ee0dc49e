/* rng: xoshiro256** (Blackman and Vigna) and the distributions berth-sim
 * draws from. Gamma uses Marsaglia and Tsang's method, with the boost
 * u^(1/shape) for shapes below 1. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>

#include "berth/buf.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rng_u01(rng *r) {
  return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double rng_exp(rng *r) { return -log(rng_u01(r)); }

double rng_normal(rng *r) {
  /* Marsaglia's polar method; keeps the pair's second value. */
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, q;
  do {
    u = 2.0 * rng_u01(r) - 1.0;
    v = 2.0 * rng_u01(r) - 1.0;
    q = u * u + v * v;
  } while (q >= 1.0 || q == 0.0);
  double f = sqrt(-2.0 * log(q) / q);
  r->spare = v * f;
  r->has_spare = 1;
  return u * f;
}

double rng_gamma(rng *r, double shape) {
  if (shape < 1.0) return rng_gamma(r, shape + 1.0) * pow(rng_u01(r), 1.0 / shape);
  double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x = rng_normal(r), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = rng_u01(r);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
  }
}

double rng_lognormal_mc(rng *r, double mean, double cv) {
  if (cv <= 0) return mean;
  double s2 = log(1.0 + cv * cv);
  return exp(log(mean) - s2 / 2 + sqrt(s2) * rng_normal(r));
}

unsigned rng_poisson(rng *r, double mean) {
  if (mean <= 0) return 0;
  if (mean > 500) { /* normal approximation; only for sizing bursts */
    double x = mean + sqrt(mean) * rng_normal(r);
    return x < 0 ? 0 : (unsigned)(x + 0.5);
  }
  double l = exp(-mean), p = 1.0;
  unsigned k = 0;
  for (;;) {
    p *= rng_u01(r);
    if (p <= l) return k;
    k++;
  }
}

double zipf_weight(size_t k, size_t n, double s) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += pow((double)(i + 1), -s);
  return pow((double)(k + 1), -s) / sum;
}

void zipf_init(zipf *z, size_t n, double s) {
  z->n = n;
  z->cdf = berth_xmalloc((n ? n : 1) * sizeof *z->cdf);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += pow((double)(i + 1), -s);
  double acc = 0;
  for (size_t i = 0; i < n; i++) {
    acc += pow((double)(i + 1), -s) / sum;
    z->cdf[i] = acc;
  }
  if (n) z->cdf[n - 1] = 1.0;
}

size_t zipf_draw(const zipf *z, rng *r) {
  double u = rng_u01(r);
  size_t lo = 0, hi = z->n ? z->n - 1 : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->cdf[mid] < u) lo = mid + 1; else hi = mid;
  }
  return lo;
}

void zipf_free(zipf *z) {
  free(z->cdf);
  z->cdf = NULL;
  z->n = 0;
}
