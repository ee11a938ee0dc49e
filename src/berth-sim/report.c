/* report: text table, CSV and SVG output of berth-sim runs. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

static const sim_result *find(const sim_result *r, size_t n, sim_policy p) {
  for (size_t i = 0; i < n; i++)
    if (r[i].policy == p) return &r[i];
  return NULL;
}

static void fmt_s(char *buf, size_t n, double s) {
  if (s <= 0) snprintf(buf, n, "-");
  else if (s < 1) snprintf(buf, n, "%.0fms", s * 1000);
  else if (s < 100) snprintf(buf, n, "%.2fs", s);
  else snprintf(buf, n, "%.0fs", s);
}

/* One copy's dominant share of an empty instance of the type policy p runs
 * its shared endpoint on (whole devices for sagemaker, as sim.c gives it). */
static double copy_share(const scenario *s, sim_policy p, const scn_model *m) {
  int t = p == POLICY_SAGEMAKER && s->sagemaker_type >= 0 ? s->sagemaker_type : s->endpoint_type;
  sched_instance in = sched_capacity(&s->types[t]);
  sched_need n = m->need;
  if (p != POLICY_BERTH && n.dev_milli > 0) n.dev_milli = (n.dev_milli + 999) / 1000 * 1000;
  double u = 0, x;
  if (in.cpu_milli > 0 && (x = (double)n.cpu_milli / (double)in.cpu_milli) > u) u = x;
  if (in.mem_mb > 0 && (x = (double)n.mem_mb / (double)in.mem_mb) > u) u = x;
  if (in.n_devices > 0 && (x = (double)n.dev_milli / (1000.0 * in.n_devices)) > u) u = x;
  return u;
}

/* Each model's cost: for dedicated, its own instances; on a shared endpoint,
 * the policy's cost split by reservation, in proportion to each model's
 * copy-hours times one copy's dominant share of an instance. cost[m]. */
static void model_costs(const scenario *s, const sim_result *x, double *cost) {
  double total = 0;
  for (size_t m = 0; m < s->n_models; m++) {
    const sim_model_result *mr = &x->models[m];
    if (x->policy == POLICY_DEDICATED) {
      cost[m] = mr->dedicated_type >= 0 ? mr->dedicated_instances *
                                              s->types[mr->dedicated_type].price_per_hour *
                                              s->duration_s / 3600
                                        : 0;
      continue;
    }
    cost[m] = mr->copy_hours * copy_share(s, x->policy, &s->models[m]);
    total += cost[m];
  }
  if (x->policy != POLICY_DEDICATED)
    for (size_t m = 0; m < s->n_models; m++) cost[m] = total > 0 ? cost[m] / total * x->cost : 0;
}

/* The forecast's error (docs/forecast.md): its copies needed within the
 * horizon, rounded up, against what the demand then needed. */
static void report_forecast(FILE *f, const scenario *s, const sim_result *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const forecast_error *e = &r[i].forecast_err;
    if (!r[i].forecast) continue;
    double wape = forecast_wape(e);
    char w[32] = "-";
    if (wape >= 0) snprintf(w, sizeof w, "%.1f%%", wape);
    fprintf(f, "%s: forecast (season %.0f s): %llu forecasts, mean absolute error %.3f copies, "
            "weighted error %s, %llu under, %llu over\n", sim_policy_name(r[i].policy),
            s->forecast_season_s, (unsigned long long)e->n, forecast_mae(e), w,
            (unsigned long long)e->under, (unsigned long long)e->over);
  }
}

void report_table(FILE *f, const scenario *s, const sim_demand *d, const sim_result *r, size_t n,
                  int per_model) {
  const berth_instance_type *et = &s->types[s->endpoint_type];
  fprintf(f, "berth-sim: %s: %zu model%s, %.1f h simulated, %llu requests, seed %llu\n", s->name,
          s->n_models, s->n_models == 1 ? "" : "s", s->duration_s / 3600,
          (unsigned long long)d->requests, (unsigned long long)s->seed);
  if (s->traffic == TRAFFIC_TRACE) fprintf(f, "traffic: trace %s\n", s->trace_path);
  fprintf(f, "shared endpoint: %s ($%.3f/h), instance start %.0f s, routing %s\n", et->name,
          et->price_per_hour, s->instance_start_s, route_policy_name(s->routing));
  if (s->sagemaker_type >= 0 && s->sagemaker_type != s->endpoint_type)
    fprintf(f, "sagemaker: on %s ($%.3f/h), the listed type with the lowest price per %s that holds every copy\n",
            s->types[s->sagemaker_type].name, s->types[s->sagemaker_type].price_per_hour,
            s->types[s->sagemaker_type].accelerators ? "accelerator" : "vCPU");
  int by_slo = 0;
  for (size_t m = 0; m < s->n_models; m++)
    if (s->models[m].dedicated_copies > 0) by_slo = 1;
  if (by_slo)
    fprintf(f, "dedicated: each model alone, the fewest copies that keep %.1f%% within SLO (in hindsight), "
            "cheapest listed type\n", 100 * DEDICATED_SLO_FRACTION);
  else
    fprintf(f, "dedicated: each model alone, sized for its peak %.0f-s mean demand at its target, "
            "cheapest listed type\n", s->dedicated_peak_window_s);
  fprintf(f, "fluid lower bound: $%.2f, %.1f %s-hours' worth (ceil(in service / max concurrency) copies "
          "per model, the cheapest fractional mix of the listed types)\n\n", d->fluid_cost,
          d->fluid_instance_hours, et->name);
  const sim_result *ded = find(r, n, POLICY_DEDICATED);
  fprintf(f, "%-10s %9s %10s %7s %7s %8s %8s %6s %9s %8s %8s %8s %5s %7s\n", "policy", "inst-h", "cost $",
          "saving", "x fluid", "in SLO", "failed", "cold", "cold wait", "p50", "p99", "mean", "peak", "wall");
  for (size_t i = 0; i < n; i++) {
    const sim_result *x = &r[i];
    char saving[16] = "-", ratio[16] = "-", cw[16], p50[16], p99[16], mean[16];
    if (ded && x != ded && ded->cost > 0) snprintf(saving, sizeof saving, "%.1f%%", 100 * (1 - x->cost / ded->cost));
    if (d->fluid_cost > 0) snprintf(ratio, sizeof ratio, "%.2f", x->cost / d->fluid_cost);
    fmt_s(cw, sizeof cw, x->cold_wait_mean);
    fmt_s(p50, sizeof p50, x->p50);
    fmt_s(p99, sizeof p99, x->p99);
    fmt_s(mean, sizeof mean, x->latency_mean);
    double slo = x->requests ? 100.0 * (double)x->in_slo / (double)x->requests : 100;
    fprintf(f, "%-10s %9.1f %10.2f %7s %7s %7.3f%% %8llu %6llu %9s %8s %8s %8s %5d %6.2fs\n",
            sim_policy_name(x->policy), x->instance_hours, x->cost, saving, ratio, slo,
            (unsigned long long)x->failed, (unsigned long long)x->cold_starts, cw, p50, p99, mean,
            x->peak_instances, x->wall_s);
  }
  fprintf(f, "\n");
  for (size_t i = 0; i < n; i++) {
    const sim_result *x = &r[i];
    fprintf(f, "%s: %llu instance launches, %llu copy starts, %llu scaling actions, %llu consolidations, "
            "%llu requests held for a cold start (max cold wait %.0f s), %llu events",
            sim_policy_name(x->policy), (unsigned long long)x->instance_launches,
            (unsigned long long)x->copy_starts, (unsigned long long)x->scale_actions,
            (unsigned long long)x->consolidations, (unsigned long long)x->held, x->cold_wait_max,
            (unsigned long long)x->events);
    /* The mix: launches per instance type. */
    if (x->instance_launches) {
      fprintf(f, " (launches:");
      for (size_t t = 0; t < s->n_types; t++)
        if (x->launches_by_type[t])
          fprintf(f, " %s %llu", s->types[t].name, (unsigned long long)x->launches_by_type[t]);
      fprintf(f, ")");
    }
    if (x->sleep_copy_hours > 0 || x->sleep_wakes)
      fprintf(f, "; %.1f copy-hours asleep, %llu sleeping copies woken", x->sleep_copy_hours,
              (unsigned long long)x->sleep_wakes);
    if (x->failed)
      fprintf(f, "; failed: %llu no capacity (at zero copies), %llu hold queue full, %llu hold timeout",
              (unsigned long long)x->failed_no_capacity, (unsigned long long)x->failed_hold_full,
              (unsigned long long)x->failed_hold_timeout);
    fprintf(f, "\n");
  }
  report_forecast(f, s, r, n);
  if (!per_model) return;
  double *cost = berth_xcalloc(s->n_models ? s->n_models : 1, sizeof *cost);
  for (size_t i = 0; i < n; i++) {
    const sim_result *x = &r[i];
    model_costs(s, x, cost);
    fprintf(f, "\n%s per model (cost: %s):\n%-24s %9s %8s %8s %6s %8s %8s %8s %6s %10s %s\n",
            sim_policy_name(x->policy),
            x->policy == POLICY_DEDICATED ? "its own instances"
                                          : "the policy's cost split by copy-hours times dominant share",
            "model", "requests", "in SLO", "failed", "cold", "p50", "p99", "copy-h", "peak", "cost $",
            x->policy == POLICY_DEDICATED ? "instances" : "");
    for (size_t m = 0; m < s->n_models; m++) {
      const sim_model_result *mr = &x->models[m];
      char p50[16], p99[16], inst[96] = "";
      fmt_s(p50, sizeof p50, mr->p50);
      fmt_s(p99, sizeof p99, mr->p99);
      if (x->policy == POLICY_DEDICATED && mr->dedicated_type >= 0)
        snprintf(inst, sizeof inst, "%d x %s", mr->dedicated_instances, s->types[mr->dedicated_type].name);
      double slo = mr->requests ? 100.0 * (double)mr->in_slo / (double)mr->requests : 100;
      fprintf(f, "%-24s %9llu %7.2f%% %8llu %6llu %8s %8s %8.1f %6d %10.2f %s\n", s->models[m].name,
              (unsigned long long)mr->requests, slo, (unsigned long long)(mr->requests - mr->ok),
              (unsigned long long)mr->cold_starts, p50, p99, mr->copy_hours, mr->peak_copies, cost[m], inst);
    }
  }
  free(cost);
}

int report_csv(const char *path, const scenario *s, const sim_demand *d, const sim_result *r, size_t n,
               char *err, size_t errsz) {
  FILE *f = fopen(path, "w");
  if (!f) {
    int e = errno;
    snprintf(err, errsz, "cannot write the CSV file %s: %s", path, strerror(e));
    return -e;
  }
  fprintf(f, "time_s,policy,model,copies_ready,copies_desired,instances,instances_starting,fluid_instances\n");
  for (size_t i = 0; i < n; i++) {
    const sim_result *x = &r[i];
    for (size_t k = 0; k < x->n_samples; k++) {
      double t = (double)k * s->sample_s, ready = 0, desired = 0;
      for (size_t m = 0; m < s->n_models; m++) {
        size_t j = k * s->n_models + m;
        ready += x->ts_ready[j];
        desired += x->ts_desired[j];
        fprintf(f, "%.0f,%s,%s,%.0f,%.0f,%.4f,,\n", t, sim_policy_name(x->policy), s->models[m].name,
                x->ts_ready[j], x->ts_desired[j], x->ts_share[j]);
      }
      fprintf(f, "%.0f,%s,(endpoint),%.0f,%.0f,%.0f,%.0f,%.4f\n", t, sim_policy_name(x->policy), ready,
              desired, x->ts_instances[k], x->ts_starting[k], k < d->n_samples ? d->fluid_instances[k] : 0);
    }
  }
  int rc = 0;
  if (ferror(f)) rc = -EIO;
  if (fclose(f) && !rc) rc = -errno;
  if (rc) snprintf(err, errsz, "writing the CSV file %s failed: %s", path, strerror(-rc));
  return rc;
}

/* ---- SVG ---- */

static const char *const PALETTE[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f"};
#define N_TOP 9

typedef struct rank_ent { double v; size_t m; } rank_ent;

static int rank_cmp(const void *a, const void *b) {
  const rank_ent *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return (x->m > y->m) - (x->m < y->m);
}

static double nice_step(double max) {
  double raw = max / 5, p = pow(10, floor(log10(raw > 0 ? raw : 1))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

int report_svg(const char *path, const scenario *s, const sim_demand *d, const sim_result *r, size_t n,
               char *err, size_t errsz) {
  FILE *f = fopen(path, "w");
  if (!f) {
    int e = errno;
    snprintf(err, errsz, "cannot write the SVG file %s: %s", path, strerror(e));
    return -e;
  }
  const double W = 1000, PH = 230, L = 60, RM = 190, T = 40, GAP = 50;
  double plot_w = W - L - RM;
  double H = T + (double)n * (PH + GAP) + 10;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"16\" font-weight=\"bold\">berth-sim: %s</text>\n", L, s->name);
  /* a common y scale so panels compare */
  double ymax = 1;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < r[i].n_samples; k++) {
      double tot = r[i].ts_instances[k] + r[i].ts_starting[k], sh = 0;
      for (size_t m = 0; m < s->n_models; m++) sh += r[i].ts_share[k * s->n_models + m];
      if (tot > ymax) ymax = tot;
      if (sh > ymax) ymax = sh;
    }
  double step = nice_step(ymax);
  ymax = ceil(ymax / step) * step;
  double hours = s->duration_s / 3600;
  /* The top models by instance share over all panels together, so that a
   * model keeps its colour (and its layer) in every panel. */
  rank_ent *rk = berth_xcalloc(s->n_models ? s->n_models : 1, sizeof *rk);
  for (size_t m = 0; m < s->n_models; m++) {
    rk[m].m = m;
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < r[i].n_samples; k++) rk[m].v += r[i].ts_share[k * s->n_models + m];
  }
  qsort(rk, s->n_models, sizeof *rk, rank_cmp);
  size_t ntop = s->n_models < N_TOP ? s->n_models : N_TOP;
  for (size_t i = 0; i < n; i++) {
    const sim_result *x = &r[i];
    double top = T + (double)i * (PH + GAP) + 20;
    size_t ns = x->n_samples;
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\" font-weight=\"bold\">%s: $%.2f, %.1f instance-hours</text>\n",
            L, top - 6, sim_policy_name(x->policy), x->cost, x->instance_hours);
    /* axes and grid */
    for (double y = 0; y <= ymax + 1e-9; y += step) {
      double py = top + PH - y / ymax * PH;
      fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
              "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
              L, py, L + plot_w, py, L - 5, py + 4, y);
    }
    double hstep = hours <= 2 ? 0.25 : hours <= 12 ? 1 : hours <= 48 ? 3 : 24;
    for (double h = 0; h <= hours + 1e-9; h += hstep) {
      double px = L + h / hours * plot_w;
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>"
              "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%gh</text>\n",
              px, top, px, top + PH, px, top + PH + 15, h);
    }
    fprintf(f, "<text transform=\"translate(%.0f,%.0f) rotate(-90)\" text-anchor=\"middle\">instances</text>\n",
            L - 40, top + PH / 2);
    /* stacked areas: the top models, then all others */
    double *base = berth_xcalloc(ns ? ns : 1, sizeof *base);
    for (size_t layer = 0; layer <= ntop; layer++) {
      if (layer == ntop && s->n_models <= ntop) break;
      const char *color = layer < ntop ? PALETTE[layer] : "#bab0ac";
      fprintf(f, "<path fill=\"%s\" fill-opacity=\"0.85\" d=\"", color);
      double *upper = berth_xmalloc((ns ? ns : 1) * sizeof *upper);
      for (size_t k = 0; k < ns; k++) {
        double v = 0;
        if (layer < ntop) v = x->ts_share[k * s->n_models + rk[layer].m];
        else
          for (size_t j = ntop; j < s->n_models; j++) v += x->ts_share[k * s->n_models + rk[j].m];
        upper[k] = base[k] + v;
      }
      for (size_t k = 0; k < ns; k++) {
        double px = L + ((double)k * s->sample_s / 3600) / hours * plot_w;
        fprintf(f, "%s%.1f,%.1f", k ? " L" : "M", px, top + PH - upper[k] / ymax * PH);
      }
      for (size_t k = ns; k-- > 0;) {
        double px = L + ((double)k * s->sample_s / 3600) / hours * plot_w;
        fprintf(f, " L%.1f,%.1f", px, top + PH - base[k] / ymax * PH);
      }
      fprintf(f, " Z\"/>\n");
      memcpy(base, upper, ns * sizeof *base);
      free(upper);
      double ly = top + 12 + (double)layer * 16;
      fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
              "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", L + plot_w + 15, ly - 9, color, L + plot_w + 30, ly,
              layer < ntop ? s->models[rk[layer].m].name : "other models");
    }
    free(base);
    /* instances (running + starting) and the fluid bound */
    fprintf(f, "<path fill=\"none\" stroke=\"black\" stroke-width=\"1.5\" d=\"");
    for (size_t k = 0; k < ns; k++) {
      double px = L + ((double)k * s->sample_s / 3600) / hours * plot_w;
      double v = x->ts_instances[k] + x->ts_starting[k];
      fprintf(f, "%s%.1f,%.1f", k ? " L" : "M", px, top + PH - v / ymax * PH);
    }
    fprintf(f, "\"/>\n<path fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\" d=\"");
    for (size_t k = 0; k < ns && k < d->n_samples; k++) {
      double px = L + ((double)k * s->sample_s / 3600) / hours * plot_w;
      fprintf(f, "%s%.1f,%.1f", k ? " L" : "M", px, top + PH - d->fluid_instances[k] / ymax * PH);
    }
    fprintf(f, "\"/>\n");
    double ly = top + 12 + (double)(ntop + 1) * 16 + 6;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\" stroke-width=\"1.5\"/>"
            "<text x=\"%.0f\" y=\"%.0f\">instances</text>\n", L + plot_w + 15, ly - 4, L + plot_w + 25, ly - 4,
            L + plot_w + 30, ly);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>"
            "<text x=\"%.0f\" y=\"%.0f\">fluid bound</text>\n", L + plot_w + 15, ly + 12, L + plot_w + 25,
            ly + 12, L + plot_w + 30, ly + 16);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, top,
            plot_w, PH);
  }
  free(rk);
  fprintf(f, "</svg>\n");
  int rc = 0;
  if (ferror(f)) rc = -EIO;
  if (fclose(f) && !rc) rc = -errno;
  if (rc) snprintf(err, errsz, "writing the SVG file %s failed: %s", path, strerror(-rc));
  return rc;
}
