/* slo: see slo.h for the queueing model. */
#include "berth/slo.h"

#include <math.h>

/* The standard normal's quantile (Acklam's rational approximation, relative
 * error below 1.2e-9), for 0 < p < 1. */
static double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  double q, r;
  if (p < 0.02425) {
    q = sqrt(-2 * log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -normal_quantile(1 - p);
  q = p - 0.5;
  r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double slo_service_tail(double cv, double q) {
  if (!(cv > 0) || !(q > 0 && q < 1)) return 1;
  double s2 = log(1 + cv * cv);
  double t = exp(normal_quantile(q) * sqrt(s2) - s2 / 2);
  return t > 1 ? t : 1;
}

double slo_in_flight(const slo_load *l, int copies) {
  if (copies <= 0) return l->arrivals_per_s > 0 ? INFINITY : 0;
  double rho = l->arrivals_per_s * l->service_s / copies;
  if (rho <= 1) return rho; /* at most one at a time on average: no slowdown */
  double a = l->batch_slowdown;
  if (rho * a >= 1) return INFINITY;
  return rho * (1 - a) / (1 - rho * a);
}

/* Erlang C: the probability that an arrival waits, k servers, offered load
 * e erlangs (e < k). Erlang B by its stable recursion, then converted. */
static double erlang_c(int k, double e) {
  double b = 1;
  for (int n = 1; n <= k; n++) b = e * b / (n + e * b);
  return k * b / (k - e * (1 - b));
}

double slo_latency(const slo_load *l, int copies, double q) {
  if (l->arrivals_per_s <= 0) return l->service_s * l->service_tail;
  double inflight = slo_in_flight(l, copies);
  if (!isfinite(inflight)) return INFINITY;
  int m = l->max_concurrency > 0 ? l->max_concurrency : 1;
  double batch = inflight < m ? inflight : m;
  double slow = 1 + l->batch_slowdown * (batch > 1 ? batch - 1 : 0);
  double s = l->service_s * slow;
  double tail = l->service_tail >= 1 ? l->service_tail : 1;
  /* Waiting for a slot: c * m servers at the slowed service time. */
  long slots = (long)copies * m;
  if (slots > 1 << 20) slots = 1 << 20;
  double e = l->arrivals_per_s * s;
  if (e >= (double)slots) return INFINITY;
  double wait_p = erlang_c((int)slots, e);
  double wait_q = 0;
  if (wait_p > 1 - q) wait_q = log(wait_p / (1 - q)) * s / ((double)slots - e);
  return s * tail + wait_q;
}

int slo_copies_within(const slo_load *l, const slo_goal *g, double band, int min_copies,
                      int max_copies) {
  if (max_copies > SLO_MAX_COPIES) max_copies = SLO_MAX_COPIES;
  int lo = min_copies > 1 ? min_copies : 1, hi = max_copies;
  if (lo > hi) return max_copies;
  double limit = g->latency_s * band;
  if (slo_latency(l, hi, g->percentile) > limit) return max_copies;
  /* The estimate falls as copies rise: the fewest within the limit. */
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (slo_latency(l, mid, g->percentile) <= limit)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

int slo_decide(const slo_load *l, const slo_goal *g, int current, int min_copies, int max_copies) {
  if (l->arrivals_per_s <= 0) return min_copies;
  int out = slo_copies_within(l, g, 1, min_copies, max_copies);
  if (current < out) return out;
  int in = slo_copies_within(l, g, SLO_SCALE_IN_BAND, min_copies, max_copies);
  if (current > in) return in;
  return current;
}
