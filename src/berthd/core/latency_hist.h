/* latency_hist: a log-scale histogram of latencies, the sketch behind
 * ExtendedStatistics percentiles and the Prometheus _bucket series.
 *
 * DESIGN: bin k (1..LATENCY_HIST_BINS-2) holds values v with
 * 10^((k-1)/24) < v <= 10^(k/24) (microseconds); bin 0 holds v <= 1 us and
 * the last bin everything above 10^9 us (1000 s). Twenty-four bins a decade
 * make every third boundary 10^(n/3), so Prometheus buckets at 1, 2.15,
 * 4.64, 10 ... ms are exact sums of bins; a percentile read from a bin is
 * its geometric middle, within 5% (sqrt(10^(1/24)) - 1 = 4.9%) of the
 * sample at that rank. The dense form (fixed size, a value type) fills the
 * bucket being written and travels in a router's delta; closed buckets
 * keep the sparse form (the occupied bins only, at most
 * LATENCY_HIST_SPARSE_MAX of them: past that the lowest bins merge into
 * one, which keeps the high percentiles exact to 5% and moves only the
 * lowest ranks, and only when one 10-s bucket's latencies span more than
 * 10^(48/24) = 100x). */
#ifndef BERTHD_LATENCY_HIST_H
#define BERTHD_LATENCY_HIST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LATENCY_HIST_PER_DECADE 24
#define LATENCY_HIST_BINS (9 * LATENCY_HIST_PER_DECADE + 2)
#define LATENCY_HIST_SPARSE_MAX 48

typedef struct latency_hist {
  uint32_t n[LATENCY_HIST_BINS];
} latency_hist;

/* One occupied bin of a sparse histogram. */
typedef struct latency_bin {
  uint16_t bin;
  uint32_t count;
} latency_bin;

/* The occupied bins in ascending order; heap-owned (latency_sparse_free). */
typedef struct latency_sparse {
  uint16_t n;
  latency_bin b[];
} latency_sparse;

int latency_hist_bin(double us);
/* The upper bound of bin k in microseconds (INFINITY for the last). */
double latency_hist_upper(int k);
void latency_hist_add(latency_hist *h, double us);
void latency_hist_merge(latency_hist *h, const latency_hist *d);
int latency_hist_empty(const latency_hist *h);
/* Wire form: [[bin, count], ...] of the occupied bins. */
json_t *latency_hist_json(const latency_hist *h);
/* Adds what j (the wire form) holds to h; bad entries are skipped. */
void latency_hist_add_json(latency_hist *h, json_t *j);

/* NULL when h is empty. */
latency_sparse *latency_sparse_of(const latency_hist *h);
void latency_sparse_free(latency_sparse *s);
/* Adds s to the dense h (merging buckets of a period). */
void latency_hist_add_sparse(latency_hist *h, const latency_sparse *s);
/* The value (us) at percentile p (0 < p <= 100) of h: the geometric middle
 * of the bin holding the sample of rank ceil(p/100 * count). -1 when h is
 * empty. */
double latency_hist_percentile(const latency_hist *h, double p);
uint64_t latency_hist_count(const latency_hist *h);

#endif
