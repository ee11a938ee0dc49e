/* latency_hist and metrics_history: bins, percentiles within their 5%
 * bound, the sparse form's bound, the wire and persisted forms, and the
 * 24-hour ring. */
#include "latency_hist.h"
#include "metrics_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_bins(void) {
  CHECK_INT(latency_hist_bin(0), 0);
  CHECK_INT(latency_hist_bin(1), 0);
  CHECK_INT(latency_hist_bin(10), LATENCY_HIST_PER_DECADE);       /* 10 is an upper bound */
  CHECK_INT(latency_hist_bin(10.01), LATENCY_HIST_PER_DECADE + 1);
  CHECK_INT(latency_hist_bin(1e12), LATENCY_HIST_BINS - 1);
  CHECK(fabs(latency_hist_upper(3 * LATENCY_HIST_PER_DECADE) - 1000) < 1e-6);
  CHECK(isinf(latency_hist_upper(LATENCY_HIST_BINS - 1)));
}

/* Percentiles of 1..10000 us within 5% of the exact sample at each rank. */
static void test_percentiles(void) {
  latency_hist h;
  memset(&h, 0, sizeof h);
  CHECK(latency_hist_percentile(&h, 50) < 0);
  for (int v = 1; v <= 10000; v++) latency_hist_add(&h, v);
  CHECK_INT(latency_hist_count(&h), 10000);
  static const double ps[] = {1, 50, 90, 99, 99.9, 100};
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    double exact = ceil(ps[i] / 100 * 10000), got = latency_hist_percentile(&h, ps[i]);
    if (exact > 1) CHECK(fabs(got - exact) / exact <= 0.05);
  }
  /* Merging and the wire form keep every count. */
  json_t *j = latency_hist_json(&h);
  latency_hist back;
  memset(&back, 0, sizeof back);
  latency_hist_add_json(&back, j);
  json_decref(j);
  CHECK(memcmp(&back, &h, sizeof h) == 0);
}

/* Past LATENCY_HIST_SPARSE_MAX bins the lowest fold up: counts and the
 * top percentiles stay. */
static void test_sparse_bound(void) {
  latency_hist h, d;
  memset(&h, 0, sizeof h);
  for (double v = 2; v < 1e8; v *= 1.05) latency_hist_add(&h, v);
  latency_sparse *s = latency_sparse_of(&h);
  CHECK(s != NULL);
  CHECK_INT(s->n, LATENCY_HIST_SPARSE_MAX);
  memset(&d, 0, sizeof d);
  latency_hist_add_sparse(&d, s);
  CHECK_INT(latency_hist_count(&d), latency_hist_count(&h));
  CHECK(latency_hist_percentile(&d, 99) == latency_hist_percentile(&h, 99));
  latency_sparse_free(s);
  memset(&h, 0, sizeof h);
  CHECK(latency_sparse_of(&h) == NULL);
}

static void test_history(void) {
  metrics_history hist;
  memset(&hist, 0, sizeof hist);
  latency_hist lh;
  memset(&lh, 0, sizeof lh);
  latency_hist_add(&lh, 1234);
  for (int i = 0; i < METRICS_HISTORY_BUCKETS + 100; i++) {
    metrics_record r;
    memset(&r, 0, sizeof r);
    r.start = 1000.0 + 10.0 * i;
    r.invocations = (uint32_t)i;
    r.model = latency_sparse_of(&lh);
    metrics_history_push(&hist, &r);
  }
  /* 24 hours kept: the oldest went by age before the ring filled. */
  const metrics_record *oldest = metrics_history_at(&hist, 0);
  const metrics_record *newest = metrics_history_at(&hist, hist.n - 1);
  CHECK(newest->start - oldest->start <= METRICS_RETENTION_S);
  CHECK(hist.n <= METRICS_HISTORY_BUCKETS);
  CHECK_INT(metrics_history_find(&hist, newest->start), hist.n - 1);
  CHECK_INT(metrics_history_find(&hist, 0), 0);
  CHECK_INT(metrics_history_find(&hist, 1e12), hist.n);
  /* An out-of-order record is dropped. */
  metrics_record late = {.start = oldest->start};
  size_t n = hist.n;
  metrics_history_push(&hist, &late);
  CHECK_INT(hist.n, n);
  /* The persisted form round-trips. */
  json_t *j = metrics_record_json(newest);
  metrics_record back;
  CHECK_INT(metrics_record_parse(j, &back), 0);
  json_decref(j);
  CHECK(back.start == newest->start);
  CHECK_INT(back.invocations, newest->invocations);
  CHECK(back.model && back.model->n == 1 && back.model->b[0].count == 1);
  latency_sparse_free(back.model);
  json_t *empty = json_object();
  CHECK(metrics_record_parse(empty, &back) != 0);
  json_decref(empty);
  metrics_history_free(&hist);
}

int main(void) {
  test_bins();
  test_percentiles();
  test_sparse_bound();
  test_history();
  CHECK_DONE();
}
