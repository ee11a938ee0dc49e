/* metrics: per-IC 10-second buckets. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

ic_metrics *metrics_new(double now) {
  ic_metrics *m = berth_xcalloc(1, sizeof *m);
  m->cur.s.start = floor(now / SCALE_BUCKET_S) * SCALE_BUCKET_S;
  scale_history_init(&m->history);
  return m;
}

void metrics_free(ic_metrics *m) {
  free(m);
}

void metrics_invocation(ic_metrics *m, int status, double model_us, double overhead_us) {
  m->cur.s.invocations++;
  m->acc_inv++;
  m->total_invocations++;
  if (status == 424) {
    m->cur.model_errors++;
    m->total_model_errors++;
  } else if (status >= 500) {
    m->cur.errors_5xx++;
  } else if (status >= 400) {
    m->cur.errors_4xx++;
  }
  if (status < 400 || status == 424) {
    m->cur.model_latency_us += model_us;
    m->cur.overhead_latency_us += overhead_us;
    m->cur.latency_n++;
  }
}

void metrics_no_capacity(ic_metrics *m) {
  m->cur.s.no_capacity++;
  m->cur.errors_4xx++;
  m->acc_nocap++;
  m->total_no_capacity++;
}

void metrics_waited(ic_metrics *m, double wait_ms) {
  m->cur.wait_ms += wait_ms;
  m->cur.waited++;
  m->total_waited++;
  m->total_wait_ms += wait_ms;
}

void metrics_copy_ready(ic_metrics *m, double setup_ms) {
  m->cur.setup_ms += setup_ms;
  m->cur.setups++;
}

void metrics_sample(ic_metrics *m, double now, double concurrency, uint32_t copies) {
  m->cur.s.concurrency_sum += concurrency;
  m->cur.s.concurrency_samples++;
  m->sec_inv[m->sec_i] = m->acc_inv;
  m->sec_nocap[m->sec_i] = m->acc_nocap;
  m->sec_conc[m->sec_i] = concurrency;
  m->sec_i = (m->sec_i + 1) % SCALE_BUCKET_S;
  m->acc_inv = m->acc_nocap = 0;
  while (now >= m->cur.s.start + SCALE_BUCKET_S) {
    m->cur.s.copies = copies;
    size_t at = (m->head + m->n) % SCALE_HISTORY;
    if (m->n == SCALE_HISTORY) {
      m->head = (m->head + 1) % SCALE_HISTORY;
    } else {
      m->n++;
    }
    m->ring[at] = m->cur;
    scale_history_push(&m->history, &m->cur.s);
    double next = m->cur.s.start + SCALE_BUCKET_S;
    memset(&m->cur, 0, sizeof m->cur);
    m->cur.s.start = next;
  }
}

void metrics_sliding_history(const ic_metrics *m, double now, uint32_t copies, scale_history *out) {
  /* The closed buckets stay: dropping the one that overlaps the sliding
   * window would leave up to 10 s unexamined before it, and a scale-in could
   * then miss the last moments of load. Overlap only repeats a few seconds
   * in means, and never hides load. */
  *out = m->history;
  scale_bucket b = {0};
  b.start = now - SCALE_BUCKET_S;
  b.copies = copies;
  for (size_t i = 0; i < SCALE_BUCKET_S; i++) {
    b.invocations += m->sec_inv[i];
    b.no_capacity += m->sec_nocap[i];
    b.concurrency_sum += m->sec_conc[i];
  }
  b.concurrency_samples = SCALE_BUCKET_S;
  scale_history_push(out, &b);
}

const ic_bucket *metrics_bucket(const ic_metrics *m, size_t i) {
  return i < m->n ? &m->ring[(m->head + i) % SCALE_HISTORY] : NULL;
}
