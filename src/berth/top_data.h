/* top_data: what `berth top` shows, fetched from berthd once a refresh.
 *
 * A refresh makes these calls, in this order: SageMaker ListEndpoints and
 * ListInferenceComponents (every page), Berth.DescribeInstances, one
 * GraniteServiceVersion20100801.GetMetricData for every IC's metrics (more
 * only past 500 queries), then DescribeInferenceComponent for the ICs that
 * fit on the screen (copy counts are not in the list's summaries). Each
 * source keeps its last good answer: a failed call leaves what it fed as it
 * was, and its error is the refresh's status. All text is copied into fixed
 * fields with anything but printable ASCII replaced, so the view can count
 * one byte as one column. */
#ifndef BERTH_TOP_DATA_H
#define BERTH_TOP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

typedef struct top_endpoint {
  char name[64];
  char status[32];
  int instances;                 /* in DescribeInstances with this endpoint */
  double cpu_pct, mem_pct, gpu_pct; /* reservation; NAN when not reported */
} top_endpoint;

typedef struct top_instance {
  char id[32];
  char endpoint[64];             /* "" when free */
  char type[48];
  char state[24];
  double cpu_used, cpu_cap;      /* millicores */
  double mem_used, mem_cap;      /* MiB */
  double gpu_used, gpu_cap;      /* devices */
} top_instance;

typedef struct top_ic {
  char name[64];
  char endpoint[64];
  char status[32];
  int current, desired;          /* copy counts; -1 unknown */
  /* The newest closed 10-s bucket; NAN when there is none (a new IC) or,
   * for the latencies and utilisation, when it carries no value. */
  double rps;                    /* Invocations Sum / 10 */
  double p50_us, p99_us;         /* ModelLatency p50/p99 (Average: p50_us) */
  double held;                   /* WaitTime SampleCount: requests held */
  double cpu_pct, mem_pct;       /* CPU/MemoryUtilizationNormalized */
} top_ic;

typedef struct top_data {
  top_endpoint *endpoints;
  size_t n_endpoints;
  top_instance *instances;
  size_t n_instances;
  top_ic *ics;                   /* sorted: requests/s, then name */
  size_t n_ics;
  /* The server refused percentile statistics: p50_us holds ModelLatency's
   * Average and p99_us stays NAN. Decided once, on the first refusal. */
  bool latency_avg;
  char error[512];               /* the last refresh's first error; "" */
  time_t refreshed;              /* when the last refresh ended */
  time_t last_good;              /* when a refresh last had no error; 0 never */
  /* private: each source's last good answer, from which the arrays above
   * are rebuilt on every refresh */
  json_t *endpoint_list;         /* ListEndpoints items */
  json_t *ic_list;               /* ListInferenceComponents items */
  json_t *placement;             /* DescribeInstances answer */
  json_t *ic_metrics;            /* IC name -> [rps, p50, p99, held, cpu, mem] */
  json_t *ic_copies;             /* IC name -> [current, desired] */
} top_data;

/* What to fetch: NULL endpoint means all of them; describe_max bounds the
 * DescribeInferenceComponent calls (the ICs that can be on the screen). */
typedef struct top_query {
  const char *endpoint;
  size_t describe_max;
} top_query;

void berth__top_data_init(top_data *d);
void berth__top_data_free(top_data *d);
/* Runs one refresh into d. Returns 0, or -1 when a call failed (d->error
 * says which and why; the sources that failed keep their last answer). */
int berth__top_refresh(berth_cli *cli, const top_query *q, top_data *d);

#endif
