/* metrics_history: an inference component's closed 10-second buckets for
 * the last 24 hours, what the CloudWatch views read and the controller
 * persists (controller/metrics_persist).
 *
 * DESIGN: a ring of METRICS_HISTORY_BUCKETS compact records, oldest first
 * and ascending by start, allocated when the first bucket closes (routers
 * and agents keep metrics too but never close buckets, so they pay
 * nothing). A record is 160 bytes plus, when it had requests, two
 * sparse latency histograms of at most LATENCY_HIST_SPARSE_MAX bins (8 bytes
 * each): an IC costs at most METRICS_HISTORY_MAX_BYTES (8646 x (170 + 2 x
 * (48 x 8 + 8)) = about 8.2 MB), about 1.5 MB when idle. */
#ifndef BERTHD_METRICS_HISTORY_H
#define BERTHD_METRICS_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "latency_hist.h"

#define METRICS_RETENTION_S 86400
#define METRICS_HISTORY_BUCKETS (METRICS_RETENTION_S / 10 + 6)
#define METRICS_HISTORY_MAX_BYTES \
  ((size_t)METRICS_HISTORY_BUCKETS * (170 + 2 * (LATENCY_HIST_SPARSE_MAX * 8 + 8)))

/* One closed bucket. Utilisation figures are means over the once-a-second
 * samples that had a measurement (usage_n of them; NAN-free: 0 when none). */
typedef struct metrics_record {
  double start;
  uint32_t invocations, no_capacity, model_errors, errors_4xx, errors_5xx;
  uint32_t latency_n, waited, setups, copies, instances;
  double model_latency_us, overhead_latency_us, wait_ms, setup_ms; /* sums */
  double concurrency;           /* mean requests in flight plus held */
  uint32_t usage_n, gpu_n;      /* samples with a CPU/memory, a GPU reading */
  /* Means, percent of the copies' reservations (CPUUtilizationNormalized
   * and its siblings) */
  float cpu_norm, mem_norm, gpu_norm, gpu_mem_norm;
  /* Means, what the copies used: cores, MiB, devices' worth of GPU time
   * and MiB of GPU memory (the variant-level utilisation adds these up) */
  float cpu_used, mem_used_mb, gpu_used, gpu_mem_used_mb;
  /* The variant's running instances' capacity when the bucket closed */
  float cap_cpu, cap_mem_mb, cap_gpu, cap_gpu_mem_mb;
  latency_sparse *model, *overhead; /* owned; NULL without requests */
} metrics_record;

typedef struct metrics_history {
  metrics_record *ring;         /* NULL until the first push */
  size_t head, n;
} metrics_history;

void metrics_history_free(metrics_history *h);
/* Takes r (and its histograms); the oldest record goes past the bound, or
 * when older than start - METRICS_RETENTION_S. A record not newer than the
 * newest kept is dropped (freed): the ring stays ascending. */
void metrics_history_push(metrics_history *h, metrics_record *r);
/* The record at i (0 = oldest), NULL past the end. */
const metrics_record *metrics_history_at(const metrics_history *h, size_t i);
/* The index of the first record with start >= t (h->n when none). */
size_t metrics_history_find(const metrics_history *h, double t);
/* Persisted form (one JSON object) and back: 0, or -1 when j is no record. */
json_t *metrics_record_json(const metrics_record *r);
int metrics_record_parse(json_t *j, metrics_record *r);

#endif
