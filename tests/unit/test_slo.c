/* test_slo: lib/slo, the copies an SLO needs under the stated queueing model. */
#include <math.h>

#include "berth/slo.h"
#include "check.h"

static slo_load load(double rate, double s, double tail, double alpha, int m) {
  slo_load l = {rate, s, tail, alpha, m};
  return l;
}

/* Erlang C by hand: two one-slot copies at one erlang wait with probability
 * 1/3, so the 99th percentile wait is ln((1/3) / 0.01) service times. */
static void test_erlang_c(void) {
  slo_load l = load(1, 1, 1, 0, 1);
  double want = 1 + log((1.0 / 3) / 0.01);
  CHECK(fabs(slo_latency(&l, 2, 0.99) - want) < 1e-9);
  /* Below the waiting probability's tail, no wait counts. */
  CHECK(fabs(slo_latency(&l, 2, 0.5) - 1) < 1e-9);
  /* One copy at one erlang never keeps up. */
  CHECK(isinf(slo_latency(&l, 1, 0.99)));
}

/* More copies never estimate a slower answer; a slowdown needs more. */
static void test_monotone(void) {
  slo_load l = load(20, 2, 1.5, 0.05, 16);
  double prev = INFINITY;
  for (int c = 1; c <= 40; c++) {
    double x = slo_latency(&l, c, 0.99);
    CHECK(x <= prev + 1e-12);
    prev = x;
  }
  slo_goal g = {0.99, 4};
  int with = slo_copies_within(&l, &g, 1, 0, 100);
  l.batch_slowdown = 0;
  int without = slo_copies_within(&l, &g, 1, 0, 100);
  CHECK(with > without);
  CHECK(slo_latency(&l, without, 0.99) <= 4);
  CHECK(slo_latency(&l, without - 1, 0.99) > 4);
}

/* Little's law with the slowdown: L = rho (1 - a) / (1 - rho a). */
static void test_in_flight(void) {
  slo_load l = load(10, 1, 1, 0.1, 64);
  CHECK(fabs(slo_in_flight(&l, 20) - 0.5) < 1e-12);             /* rho <= 1 */
  CHECK(fabs(slo_in_flight(&l, 2) - 5 * 0.9 / 0.5) < 1e-12);     /* rho = 5 */
  CHECK(isinf(slo_in_flight(&l, 1)));                            /* rho a = 1 */
}

/* Twice the rate needs about twice the copies once queueing is small. */
static void test_scales_with_rate(void) {
  slo_goal g = {0.99, 6};
  slo_load a = load(30, 4, 1.3, 0.02, 8), b = a;
  b.arrivals_per_s = 60;
  int ca = slo_copies_within(&a, &g, 1, 0, 1000), cb = slo_copies_within(&b, &g, 1, 0, 1000);
  CHECK(cb >= 2 * ca - 2 && cb <= 2 * ca + 2);
}

/* Hysteresis: out to the SLO, in only to within the band, else hold. */
static void test_hysteresis(void) {
  slo_load l = load(20, 2, 1.5, 0.05, 16);
  slo_goal g = {0.99, 4};
  int out = slo_copies_within(&l, &g, 1, 0, 100);
  int in = slo_copies_within(&l, &g, SLO_SCALE_IN_BAND, 0, 100);
  CHECK(in >= out);
  CHECK_INT(slo_decide(&l, &g, 1, 0, 100), out);
  CHECK_INT(slo_decide(&l, &g, out, 0, 100), out);
  CHECK_INT(slo_decide(&l, &g, in, 0, 100), in);
  CHECK_INT(slo_decide(&l, &g, in + 10, 0, 100), in);
  /* A steady load decided again and again stays put. */
  int c = 1;
  for (int k = 0; k < 10; k++) c = slo_decide(&l, &g, c, 0, 100);
  CHECK_INT(c, out);
  /* No traffic: the minimum; an SLO no count can meet: the maximum. */
  slo_load idle = load(0, 2, 1.5, 0.05, 16);
  CHECK_INT(slo_decide(&idle, &g, 7, 1, 100), 1);
  slo_goal tight = {0.99, 1};
  CHECK_INT(slo_decide(&l, &tight, 3, 0, 50), 50);
}

/* Lognormal tails: cv 0.5 at the 99th percentile is 2.68 times the mean. */
static void test_tail(void) {
  CHECK(fabs(slo_service_tail(0, 0.99) - 1) < 1e-12);
  double s2 = log(1.25);
  CHECK(fabs(slo_service_tail(0.5, 0.99) - exp(2.326347874 * sqrt(s2) - s2 / 2)) < 1e-6);
  CHECK(slo_service_tail(1, 0.99) > slo_service_tail(0.5, 0.99));
  CHECK(slo_service_tail(0.5, 0.5) >= 1);
}

int main(void) {
  test_tail();
  test_erlang_c();
  test_monotone();
  test_in_flight();
  test_scales_with_rate();
  test_hysteresis();
  CHECK_DONE();
}
