/* latency_hist: see latency_hist.h. */
#include "latency_hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

int latency_hist_bin(double us) {
  if (!(us > 1)) return 0;
  double k = ceil(log10(us) * LATENCY_HIST_PER_DECADE - 1e-9);
  if (k >= LATENCY_HIST_BINS - 1) return LATENCY_HIST_BINS - 1;
  return k < 1 ? 1 : (int)k;
}

double latency_hist_upper(int k) {
  if (k >= LATENCY_HIST_BINS - 1) return INFINITY;
  return pow(10, (double)k / LATENCY_HIST_PER_DECADE);
}

/* The value reported for bin k: the geometric middle of its bounds. */
static double bin_value(int k) {
  if (k <= 0) return 1;
  if (k >= LATENCY_HIST_BINS - 1) return latency_hist_upper(LATENCY_HIST_BINS - 2);
  return pow(10, ((double)k - 0.5) / LATENCY_HIST_PER_DECADE);
}

void latency_hist_add(latency_hist *h, double us) {
  int k = latency_hist_bin(us);
  if (h->n[k] < UINT32_MAX) h->n[k]++;
}

static uint32_t add_sat(uint32_t a, uint64_t b) {
  uint64_t s = (uint64_t)a + b;
  return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

void latency_hist_merge(latency_hist *h, const latency_hist *d) {
  for (int k = 0; k < LATENCY_HIST_BINS; k++)
    if (d->n[k]) h->n[k] = add_sat(h->n[k], d->n[k]);
}

int latency_hist_empty(const latency_hist *h) {
  for (int k = 0; k < LATENCY_HIST_BINS; k++)
    if (h->n[k]) return 0;
  return 1;
}

uint64_t latency_hist_count(const latency_hist *h) {
  uint64_t n = 0;
  for (int k = 0; k < LATENCY_HIST_BINS; k++) n += h->n[k];
  return n;
}

json_t *latency_hist_json(const latency_hist *h) {
  json_t *a = json_array();
  for (int k = 0; k < LATENCY_HIST_BINS; k++)
    if (h->n[k]) json_array_append_new(a, json_pack("[i,I]", k, (json_int_t)h->n[k]));
  return a;
}

void latency_hist_add_json(latency_hist *h, json_t *j) {
  size_t i;
  json_t *e;
  json_array_foreach(j, i, e) {
    json_int_t k = json_integer_value(json_array_get(e, 0));
    json_int_t n = json_integer_value(json_array_get(e, 1));
    if (k < 0 || k >= LATENCY_HIST_BINS || n <= 0 || n > UINT32_MAX) continue;
    h->n[k] = add_sat(h->n[k], (uint64_t)n);
  }
}

latency_sparse *latency_sparse_of(const latency_hist *h) {
  int used = 0;
  for (int k = 0; k < LATENCY_HIST_BINS; k++) used += h->n[k] != 0;
  if (!used) return NULL;
  int keep = used > LATENCY_HIST_SPARSE_MAX ? LATENCY_HIST_SPARSE_MAX : used;
  latency_sparse *s = berth_xcalloc(1, sizeof *s + (size_t)keep * sizeof s->b[0]);
  /* Past the bound the lowest bins fold into the lowest one kept, so the
   * upper ranks (p90, p99) stay where they were. */
  int skip = used - keep, seen = 0;
  uint64_t folded = 0;
  for (int k = 0; k < LATENCY_HIST_BINS; k++) {
    if (!h->n[k]) continue;
    if (seen++ < skip) {
      folded += h->n[k];
      continue;
    }
    s->b[s->n].bin = (uint16_t)k;
    s->b[s->n].count = add_sat(h->n[k], folded);
    folded = 0;
    s->n++;
  }
  return s;
}

void latency_sparse_free(latency_sparse *s) {
  free(s);
}

void latency_hist_add_sparse(latency_hist *h, const latency_sparse *s) {
  if (!s) return;
  for (uint16_t i = 0; i < s->n; i++)
    if (s->b[i].bin < LATENCY_HIST_BINS) h->n[s->b[i].bin] = add_sat(h->n[s->b[i].bin], s->b[i].count);
}

double latency_hist_percentile(const latency_hist *h, double p) {
  uint64_t total = latency_hist_count(h);
  if (total == 0) return -1;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int k = 0; k < LATENCY_HIST_BINS; k++) {
    seen += h->n[k];
    if (seen >= rank) return bin_value(k);
  }
  return bin_value(LATENCY_HIST_BINS - 1);
}
