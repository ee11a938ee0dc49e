/* traffic: request generator and trace reader.
 *
 * DESIGN: each model owns a random stream and a renewal process in
 * "operational time": inter-arrival draws have mean 1 and are mapped back
 * to real time through the model's rate, which is piecewise constant over
 * 60-second slots (diurnal curve x active hours x bursts). This gives a
 * non-homogeneous Poisson process when the inter-arrival CV is 1 and a
 * modulated Gamma renewal process (bursty for CV > 1) otherwise. A small
 * heap merges the models into one time-ordered stream.
 *
 * Traces are CSV with a header: either TIMESTAMP,ContextTokens,
 * GeneratedTokens (the Azure LLM inference trace; requests are assigned to
 * models by a seeded draw, by model weight or by Zipf rank) or
 * timestamp,model,input_tokens,output_tokens. Timestamps are seconds or
 * "YYYY-MM-DD HH:MM:SS[.frac]", and must not go backwards. */
#include "traffic.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "heap.h"
#include "rng.h"

#define SLOT_S 60.0
#define MAX_BURSTS 4096
#define TRACE_LINE_MAX 4096

typedef struct gen_model {
  rng r;
  double rate;           /* mean requests/s at shape 1 */
  double slot_t;         /* start of the slot whose rate is cached, or -1 */
  double slot_r;
  double *bursts;        /* start times, sorted */
  size_t n_bursts;
} gen_model;

struct traffic {
  const scenario *s;
  /* generator */
  gen_model *gm;
  event_heap next;       /* (time of next arrival, model) */
  /* trace */
  FILE *f;
  long line;
  int has_model_col;
  int have_t0;
  double t0, last_ts;
  rng assign;
  zipf z;
  double *cum_weight;    /* when models have weights */
  size_t *rank_to_model;
};

static void shuffle_ranks(size_t *rank_to_model, size_t n, uint64_t seed, int shuffle) {
  for (size_t i = 0; i < n; i++) rank_to_model[i] = i;
  if (!shuffle) return;
  rng r;
  rng_seed(&r, seed ^ 0x21bf1fULL, 0);
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rng_next(&r) % i);
    size_t x = rank_to_model[i - 1];
    rank_to_model[i - 1] = rank_to_model[j];
    rank_to_model[j] = x;
  }
}

static int in_active(const scn_model *m, double hour) {
  if (!m->n_active) return 1;
  for (int i = 0; i < m->n_active; i++)
    if (hour >= m->active[i][0] && hour < m->active[i][1]) return 1;
  return 0;
}

/* Rate of model i over the 60-s slot that holds t. */
static double slot_rate_calc(const traffic *tr, size_t i, double t) {
  const scn_model *m = &tr->s->models[i];
  const gen_model *g = &tr->gm[i];
  double mid = floor(t / SLOT_S) * SLOT_S + SLOT_S / 2;
  double hour = fmod(mid / 3600.0, 24.0);
  double r = g->rate * (1.0 + m->diurnal_amplitude * cos(2 * M_PI * (hour - m->peak_hour) / 24.0));
  if (!in_active(m, hour)) r *= m->inactive_factor;
  if (g->n_bursts) {
    double len = m->burst_minutes * 60;
    for (size_t b = 0; b < g->n_bursts && g->bursts[b] <= mid; b++)
      if (mid < g->bursts[b] + len) {
        r *= m->burst_factor;
        break;
      }
  }
  return r < 0 ? 0 : r;
}

static double slot_rate(traffic *tr, size_t i, double t) {
  gen_model *g = &tr->gm[i];
  double start = floor(t / SLOT_S) * SLOT_S;
  if (start != g->slot_t) {
    g->slot_t = start;
    g->slot_r = slot_rate_calc(tr, i, t);
  }
  return g->slot_r;
}

/* Advances model i's clock from t by one inter-arrival time; returns the
 * next arrival or INFINITY past the scenario's end. */
static double next_arrival(traffic *tr, size_t i, double t) {
  const scn_model *m = &tr->s->models[i];
  gen_model *g = &tr->gm[i];
  double cv = m->interarrival_cv;
  double need = fabs(cv - 1.0) < 1e-9 ? rng_exp(&g->r) : rng_gamma(&g->r, 1.0 / (cv * cv)) * cv * cv;
  double end = tr->s->duration_s;
  while (t < end) {
    double slot_end = (floor(t / SLOT_S) + 1) * SLOT_S;
    double r = slot_rate(tr, i, t);
    if (r > 0 && need <= r * (slot_end - t)) return t + need / r;
    need -= r * (slot_end - t);
    t = slot_end;
  }
  return INFINITY;
}

static uint32_t draw_tokens(rng *r, const token_dist *d) {
  double x = rng_lognormal_mc(r, d->mean, d->cv);
  if (x < d->min) x = d->min;
  if (x > d->max) x = d->max;
  x = floor(x + 0.5);
  return x < 1 ? 1 : (uint32_t)x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void setup_rates(traffic *tr) {
  const scenario *s = tr->s;
  size_t n = s->n_models;
  tr->rank_to_model = berth_xmalloc(n * sizeof *tr->rank_to_model);
  shuffle_ranks(tr->rank_to_model, n, s->seed, s->zipf_shuffle);
  tr->gm = berth_xcalloc(n, sizeof *tr->gm);
  for (size_t i = 0; i < n; i++) {
    tr->gm[i].rate = s->models[i].rate_per_s;
    tr->gm[i].slot_t = -1;
  }
  if (s->total_rate_per_s > 0) {
    double wsum = 0;
    for (size_t i = 0; i < n; i++) wsum += s->models[i].weight;
    if (wsum > 0) {
      for (size_t i = 0; i < n; i++) tr->gm[i].rate = s->total_rate_per_s * s->models[i].weight / wsum;
    } else {
      double zsum = 0;
      for (size_t k = 0; k < n; k++) zsum += pow((double)(k + 1), -s->zipf_s);
      for (size_t k = 0; k < n; k++)
        tr->gm[tr->rank_to_model[k]].rate = s->total_rate_per_s * pow((double)(k + 1), -s->zipf_s) / zsum;
    }
  }
}

double traffic_model_rate(const traffic *t, size_t i) { return t->gm[i].rate; }

static int open_generator(traffic *tr) {
  const scenario *s = tr->s;
  heap_init(&tr->next, s->n_models + 1);
  for (size_t i = 0; i < s->n_models; i++) {
    gen_model *g = &tr->gm[i];
    const scn_model *m = &s->models[i];
    rng_seed(&g->r, s->seed, i + 1);
    if (m->bursts_per_day > 0 && m->burst_factor > 1) {
      rng br;
      rng_seed(&br, s->seed ^ 0xb0b5ULL, i + 1);
      unsigned nb = rng_poisson(&br, m->bursts_per_day * s->duration_s / 86400.0);
      if (nb > MAX_BURSTS) nb = MAX_BURSTS;
      g->bursts = berth_xmalloc((nb ? nb : 1) * sizeof *g->bursts);
      for (unsigned b = 0; b < nb; b++) g->bursts[b] = rng_u01(&br) * s->duration_s;
      qsort(g->bursts, nb, sizeof *g->bursts, cmp_double);
      g->n_bursts = nb;
    }
    double t = next_arrival(tr, i, 0);
    if (isfinite(t)) heap_push(&tr->next, t, 0, (int32_t)i);
  }
  return 0;
}

static int gen_next(traffic *tr, sim_request *req) {
  sim_event e;
  if (!heap_pop(&tr->next, &e)) return 0;
  size_t i = (size_t)e.id;
  gen_model *g = &tr->gm[i];
  const scn_model *m = &tr->s->models[i];
  req->t = e.t;
  req->model = e.id;
  req->in_tokens = draw_tokens(&g->r, &m->in_tokens);
  req->out_tokens = draw_tokens(&g->r, &m->out_tokens);
  double t = next_arrival(tr, i, e.t);
  if (isfinite(t)) heap_push(&tr->next, t, 0, e.id);
  return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static long days_from_civil(long y, long m, long d) {
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int parse_ts(const char *s, double *out) {
  char *end;
  if (strchr(s, '-') && strchr(s, ':')) {
    long y, mo, d, h, mi;
    double sec;
    int n = 0;
    if (sscanf(s, "%ld-%ld-%ld%*[ T]%ld:%ld:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec >= 61)
      return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + (double)h * 3600 + (double)mi * 60 + sec;
    return 0;
  }
  *out = strtod(s, &end);
  if (end == s || !isfinite(*out)) return -1;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  long v = strtol(s, &end, 10);
  while (*end == ' ' || *end == '\r' || *end == '\n') end++;
  if (end == s || *end || v < 0 || v > 10000000) return -1;
  *out = (uint32_t)v;
  return 0;
}

static int open_trace(traffic *tr, char *err, size_t errsz) {
  const scenario *s = tr->s;
  char line[TRACE_LINE_MAX];
  tr->f = fopen(s->trace_path, "r");
  if (!tr->f) {
    int e = errno;
    snprintf(err, errsz, "%s: cannot open the trace %s: %s (traffic.file is relative to the scenario file)",
             s->path, s->trace_path, strerror(e));
    return -e;
  }
  if (!fgets(line, sizeof line, tr->f)) {
    snprintf(err, errsz, "%s: the trace is empty; it needs a header line", s->trace_path);
    return -EINVAL;
  }
  tr->line = 1;
  int commas = 0;
  for (char *p = line; *p; p++) commas += *p == ',';
  if (commas == 2) tr->has_model_col = 0;
  else if (commas == 3) tr->has_model_col = 1;
  else {
    snprintf(err, errsz, "%s:1: header has %d fields; expected TIMESTAMP,ContextTokens,GeneratedTokens "
             "or timestamp,model,input_tokens,output_tokens", s->trace_path, commas + 1);
    return -EINVAL;
  }
  rng_seed(&tr->assign, s->seed ^ 0xa551ULL, 0);
  double wsum = 0;
  for (size_t i = 0; i < s->n_models; i++) wsum += s->models[i].weight;
  if (wsum > 0) {
    tr->cum_weight = berth_xmalloc(s->n_models * sizeof *tr->cum_weight);
    double acc = 0;
    for (size_t i = 0; i < s->n_models; i++) tr->cum_weight[i] = (acc += s->models[i].weight / wsum);
    tr->cum_weight[s->n_models - 1] = 1.0;
  } else {
    zipf_init(&tr->z, s->n_models, s->zipf_s);
  }
  return 0;
}

static int trace_next(traffic *tr, sim_request *req, char *err, size_t errsz) {
  const scenario *s = tr->s;
  char line[TRACE_LINE_MAX];
  for (;;) {
    if (!fgets(line, sizeof line, tr->f)) {
      if (ferror(tr->f)) {
        snprintf(err, errsz, "%s:%ld: read error", s->trace_path, tr->line + 1);
        return -EIO;
      }
      return 0;
    }
    tr->line++;
    if (line[0] == '\n' || line[0] == '\r' || line[0] == '#') continue;
    char *fields[4] = {0};
    int nf = 0;
    char *p = line;
    fields[nf++] = p;
    while (*p && nf < 4) {
      if (*p == ',') {
        *p = 0;
        fields[nf++] = p + 1;
      }
      p++;
    }
    int want = tr->has_model_col ? 4 : 3;
    double ts;
    uint32_t in, out;
    if (nf != want || parse_ts(fields[0], &ts) ||
        parse_u32(fields[want - 2], &in) || parse_u32(fields[want - 1], &out)) {
      snprintf(err, errsz, "%s:%ld: cannot read this line (expected %d comma-separated fields: a timestamp, "
               "%stwo token counts)", s->trace_path, tr->line, want, tr->has_model_col ? "a model name, " : "");
      return -EINVAL;
    }
    if (!tr->have_t0) {
      tr->t0 = tr->last_ts = ts;
      tr->have_t0 = 1;
    }
    if (ts < tr->last_ts) {
      snprintf(err, errsz, "%s:%ld: timestamp goes backwards (%.6f after %.6f); sort the trace by time",
               s->trace_path, tr->line, ts, tr->last_ts);
      return -EINVAL;
    }
    tr->last_ts = ts;
    req->t = (ts - tr->t0) / s->trace_time_scale;
    if (req->t >= s->duration_s) return 0;
    req->in_tokens = in ? in : 1;
    req->out_tokens = out ? out : 1;
    if (tr->has_model_col) {
      char *name = fields[1];
      req->model = -1;
      for (size_t i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) req->model = (int32_t)i;
      if (req->model < 0) {
        snprintf(err, errsz, "%s:%ld: model \"%.64s\" is not in the scenario", s->trace_path, tr->line, name);
        return -EINVAL;
      }
    } else if (tr->cum_weight) {
      double u = rng_u01(&tr->assign);
      size_t lo = 0, hi = s->n_models - 1;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tr->cum_weight[mid] < u) lo = mid + 1; else hi = mid;
      }
      req->model = (int32_t)lo;
    } else {
      req->model = (int32_t)tr->rank_to_model[zipf_draw(&tr->z, &tr->assign)];
    }
    return 1;
  }
}

int traffic_open(traffic **out, const scenario *s, char *err, size_t errsz) {
  traffic *tr = berth_xcalloc(1, sizeof *tr);
  tr->s = s;
  setup_rates(tr);
  int rc = s->traffic == TRAFFIC_TRACE ? open_trace(tr, err, errsz) : open_generator(tr);
  if (rc) {
    traffic_close(tr);
    return rc;
  }
  *out = tr;
  return 0;
}

int traffic_next(traffic *t, sim_request *req, char *err, size_t errsz) {
  return t->s->traffic == TRAFFIC_TRACE ? trace_next(t, req, err, errsz) : gen_next(t, req);
}

void traffic_close(traffic *t) {
  if (!t) return;
  if (t->gm)
    for (size_t i = 0; i < t->s->n_models; i++) free(t->gm[i].bursts);
  free(t->gm);
  heap_free(&t->next);
  if (t->f) fclose(t->f);
  zipf_free(&t->z);
  free(t->cum_weight);
  free(t->rank_to_model);
  free(t);
}
