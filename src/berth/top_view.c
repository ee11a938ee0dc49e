/* top_view: the layout of a `berth top` frame (top_view.h).
 *
 * DESIGN: columns of numbers have fixed widths and names take what is left,
 * up to their longest; the instances' reservation bars take whatever the
 * names leave, so a wider terminal draws longer bars. Text in top_data is
 * printable ASCII, so a byte is a column and cutting at `cols` bytes never
 * splits a character. */
#include "top_view.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

enum { SEC_ENDPOINTS, SEC_INSTANCES, SEC_ICS, N_SECTIONS };

/* A line being filled cell by cell, one space between cells. */
typedef struct row {
  char *s;
  int cols, len;
} row;

static char *line_at(top_frame *f, int r) {
  return f->text + (size_t)r * (size_t)(f->cols + 1);
}

const char *berth__top_line(const top_frame *f, int r) {
  return f->text + (size_t)r * (size_t)(f->cols + 1);
}

void berth__top_frame_free(top_frame *f) {
  free(f->text);
  f->text = NULL;
  f->cols = f->rows = 0;
}

static row row_start(top_frame *f, int r) {
  row w = {line_at(f, r), f->cols, 0};
  w.s[0] = '\0';
  return w;
}

/* Appends raw text, cut at the line's width. */
static void row_put(row *w, const char *text) {
  while (*text && w->len < w->cols) w->s[w->len++] = *text++;
  w->s[w->len] = '\0';
}

static void row_printf(row *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_printf(row *w, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  row_put(w, tmp);
}

/* Appends a cell of exactly `width` columns: text padded, or cut with a
 * '~' as its last column when longer. */
static void row_cell(row *w, const char *text, int width, bool right) {
  if (width <= 0) return;
  if (w->len > 0) row_put(w, " ");
  int n = (int)strlen(text);
  char cell[512];
  if (width > (int)sizeof cell - 1) width = (int)sizeof cell - 1;
  if (n > width) {
    memcpy(cell, text, (size_t)width);
    cell[width - 1] = '~';
    cell[width] = '\0';
  } else {
    snprintf(cell, sizeof cell, right ? "%*s" : "%-*s", width, text);
  }
  row_put(w, cell);
}

/* Trailing blanks (left-aligned last cells, a cut header) serve nothing. */
static void row_end(row *w) {
  while (w->len > 0 && w->s[w->len - 1] == ' ') w->s[--w->len] = '\0';
}

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

static void fmt_pct(char *out, size_t n, double v) {
  if (isnan(v))
    snprintf(out, n, "-");
  else
    snprintf(out, n, "%.0f", v);
}

static void fmt_rate(char *out, size_t n, double v) {
  if (isnan(v))
    snprintf(out, n, "-");
  else if (v < 100)
    snprintf(out, n, "%.1f", v);
  else if (v < 100000)
    snprintf(out, n, "%.0f", v);
  else
    snprintf(out, n, "%.0fk", v / 1000);
}

/* A latency in microseconds as "850us", "12.3ms", "1.24s". */
static void fmt_latency(char *out, size_t n, double us) {
  if (isnan(us))
    snprintf(out, n, "-");
  else if (us < 1000)
    snprintf(out, n, "%.0fus", us);
  else if (us < 100000)
    snprintf(out, n, "%.1fms", us / 1000);
  else if (us < 1e6)
    snprintf(out, n, "%.0fms", us / 1000);
  else if (us < 1e9)
    snprintf(out, n, "%.2fs", us / 1e6);
  else
    snprintf(out, n, ">999s");
}

static void fmt_count(char *out, size_t n, int v) {
  if (v < 0)
    snprintf(out, n, "-");
  else
    snprintf(out, n, "%d", v);
}

/* "[####......] 40%" in exactly width columns; "-" without capacity. */
static void fmt_bar(char *out, size_t n, int width, double used, double cap) {
  int inner = width - 7;
  if (cap <= 0 || inner < 1 || (size_t)width >= n) {
    snprintf(out, n, "-");
    return;
  }
  double share = used / cap;
  if (share < 0) share = 0;
  if (share > 1) share = 1;
  int fill = (int)(share * inner + 0.5);
  if (fill == 0 && used > 0) fill = 1; /* a reservation never reads as none */
  int k = 0;
  out[k++] = '[';
  for (int i = 0; i < inner; i++) out[k++] = i < fill ? '#' : '.';
  out[k++] = ']';
  snprintf(out + k, n - (size_t)k, " %3.0f%%", share * 100);
}

/* ---- sections ---- */

typedef struct section {
  size_t n;                     /* items */
  int alloc;                    /* rows given, header included */
} section;

/* How many items of a section with `alloc` rows are drawn; *more is how
 * many the "... N more" line stands for (0: no such line). */
static size_t shown(const section *s, size_t *more) {
  size_t body = s->alloc > 1 ? (size_t)s->alloc - 1 : 0;
  *more = 0;
  if (s->n <= body) return s->n;
  if (body == 0) return 0; /* a header alone: no room even to say so */
  size_t k = body ? body - 1 : 0;
  *more = s->n - k;
  return k;
}

static int more_line(top_frame *f, int r, size_t more) {
  row w = row_start(f, r);
  row_printf(&w, "... %zu more", more);
  return r + 1;
}

static int none_line(top_frame *f, int r, const section *s, const char *what) {
  if (s->n || s->alloc < 2) return r;
  row w = row_start(f, r);
  row_printf(&w, "(no %s)", what);
  return r + 1;
}

static int draw_endpoints(const top_data *d, const section *s, top_frame *f, int r) {
  size_t more, k = shown(s, &more);
  int name_w = (int)strlen("ENDPOINT");
  for (size_t i = 0; i < k; i++) name_w = imax(name_w, (int)strlen(d->endpoints[i].name));
  name_w = imin(name_w, imax(8, f->cols - 39));
  row w = row_start(f, r++);
  row_cell(&w, "ENDPOINT", name_w, false);
  row_cell(&w, "STATUS", 14, false);
  row_cell(&w, "INST", 4, true);
  row_cell(&w, "CPU%", 5, true);
  row_cell(&w, "MEM%", 5, true);
  row_cell(&w, "GPU%", 5, true);
  r = none_line(f, r, s, "endpoints");
  for (size_t i = 0; i < k; i++) {
    const top_endpoint *e = &d->endpoints[i];
    char inst[16], cpu[16], mem[16], gpu[16];
    fmt_count(inst, sizeof inst, e->instances);
    fmt_pct(cpu, sizeof cpu, e->cpu_pct);
    fmt_pct(mem, sizeof mem, e->mem_pct);
    fmt_pct(gpu, sizeof gpu, e->gpu_pct);
    w = row_start(f, r++);
    row_cell(&w, e->name, name_w, false);
    row_cell(&w, e->status, 14, false);
    row_cell(&w, inst, 4, true);
    row_cell(&w, cpu, 5, true);
    row_cell(&w, mem, 5, true);
    row_cell(&w, gpu, 5, true);
  }
  return more ? more_line(f, r, more) : r;
}

static int draw_instances(const top_data *d, const section *s, top_frame *f, int r) {
  size_t more, k = shown(s, &more);
  int id_w = (int)strlen("INSTANCE"), ep_w = (int)strlen("ENDPOINT"), type_w = 4;
  for (size_t i = 0; i < k; i++) {
    const top_instance *in = &d->instances[i];
    id_w = imax(id_w, (int)strlen(in->id));
    ep_w = imax(ep_w, in->endpoint[0] ? (int)strlen(in->endpoint) : 6);
    type_w = imax(type_w, (int)strlen(in->type));
  }
  id_w = imin(id_w, 12);
  type_w = imin(type_w, 16);
  ep_w = imin(ep_w, imax(8, f->cols / 6));
  /* Bars get the rest, at least "[#] 100%" each. */
  int bar_w = imax(8, (f->cols - id_w - ep_w - type_w - 5) / 3);
  row w = row_start(f, r++);
  row_cell(&w, "INSTANCE", id_w, false);
  row_cell(&w, "ENDPOINT", ep_w, false);
  row_cell(&w, "TYPE", type_w, false);
  row_cell(&w, "CPU reserved", bar_w, false);
  row_cell(&w, "MEM reserved", bar_w, false);
  row_cell(&w, "GPU reserved", bar_w, false);
  r = none_line(f, r, s, "instances");
  for (size_t i = 0; i < k; i++) {
    const top_instance *in = &d->instances[i];
    char cpu[512], mem[512], gpu[512];
    fmt_bar(cpu, sizeof cpu, bar_w, in->cpu_used, in->cpu_cap);
    fmt_bar(mem, sizeof mem, bar_w, in->mem_used, in->mem_cap);
    fmt_bar(gpu, sizeof gpu, bar_w, in->gpu_used, in->gpu_cap);
    w = row_start(f, r++);
    row_cell(&w, in->id, id_w, false);
    row_cell(&w, in->endpoint[0] ? in->endpoint : "(free)", ep_w, false);
    row_cell(&w, in->type, type_w, false);
    row_cell(&w, cpu, bar_w, false);
    row_cell(&w, mem, bar_w, false);
    row_cell(&w, gpu, bar_w, false);
  }
  return more ? more_line(f, r, more) : r;
}

static int draw_ics(const top_data *d, const section *s, top_frame *f, int r) {
  size_t more, k = shown(s, &more);
  bool avg = d->latency_avg;
  /* COPIES REQ/S P50 [P99] HELD CPU% MEM% and the spaces before them */
  int fixed = 7 + 7 + 7 + (avg ? 0 : 7) + 5 + 5 + 5 + (avg ? 6 : 7);
  int name_max = 2, ep_max = (int)strlen("ENDPOINT");
  for (size_t i = 0; i < k; i++) {
    name_max = imax(name_max, (int)strlen(d->ics[i].name));
    ep_max = imax(ep_max, (int)strlen(d->ics[i].endpoint));
  }
  int flex = imax(10, f->cols - fixed - 1);
  int ep_w = imin(ep_max, imax(8, flex * 2 / 5));
  int name_w = imin(name_max, flex - ep_w);
  ep_w = imin(ep_max, flex - name_w);
  row w = row_start(f, r++);
  row_cell(&w, "IC", name_w, false);
  row_cell(&w, "ENDPOINT", ep_w, false);
  row_cell(&w, "COPIES", 7, false);
  row_cell(&w, "REQ/S", 7, true);
  row_cell(&w, avg ? "AVG" : "P50", 7, true);
  if (!avg) row_cell(&w, "P99", 7, true);
  row_cell(&w, "HELD", 5, true);
  row_cell(&w, "CPU%", 5, true);
  row_cell(&w, "MEM%", 5, true);
  r = none_line(f, r, s, "inference components");
  for (size_t i = 0; i < k; i++) {
    const top_ic *x = &d->ics[i];
    char cur[16], want[16], copies[40], rps[16], p50[16], p99[16], held[16], cpu[16], mem[16];
    fmt_count(cur, sizeof cur, x->current);
    fmt_count(want, sizeof want, x->desired);
    snprintf(copies, sizeof copies, "%s/%s", cur, want);
    fmt_rate(rps, sizeof rps, x->rps);
    fmt_latency(p50, sizeof p50, x->p50_us);
    fmt_latency(p99, sizeof p99, x->p99_us);
    fmt_pct(held, sizeof held, x->held);
    fmt_pct(cpu, sizeof cpu, x->cpu_pct);
    fmt_pct(mem, sizeof mem, x->mem_pct);
    w = row_start(f, r++);
    row_cell(&w, x->name, name_w, false);
    row_cell(&w, x->endpoint, ep_w, false);
    row_cell(&w, copies, 7, false);
    row_cell(&w, rps, 7, true);
    row_cell(&w, p50, 7, true);
    if (!avg) row_cell(&w, p99, 7, true);
    row_cell(&w, held, 5, true);
    row_cell(&w, cpu, 5, true);
    row_cell(&w, mem, 5, true);
  }
  return more ? more_line(f, r, more) : r;
}

/* Shares `avail` rows: first a header and one row to each section in
 * order, then one row at a time round the sections still cut short.
 * Returns the rows nobody needs. */
static int share_rows(section *s, int avail) {
  for (int i = 0; i < N_SECTIONS; i++) {
    int need = 1 + (int)(s[i].n ? s[i].n : 1);
    s[i].alloc = imin(imin(2, need), avail);
    avail -= s[i].alloc;
  }
  bool gave = true;
  while (avail > 0 && gave) {
    gave = false;
    for (int i = 0; i < N_SECTIONS && avail > 0; i++) {
      int need = 1 + (int)(s[i].n ? s[i].n : 1);
      if (s[i].alloc < need) {
        s[i].alloc++;
        avail--;
        gave = true;
      }
    }
  }
  return avail;
}

static void draw_title(const top_data *d, const top_view *v, top_frame *f) {
  char when[32] = "--:--:--";
  struct tm tm;
  if (d->refreshed && localtime_r(&d->refreshed, &tm)) strftime(when, sizeof when, "%H:%M:%S", &tm);
  row w = row_start(f, 0);
  row_printf(&w, "berth top  %s", v->control_url);
  if (v->endpoint) row_printf(&w, "  endpoint %s", v->endpoint);
  row_printf(&w, "  every %gs  %s", v->interval_s, when);
  if (v->interactive) row_put(&w, "  (q quits)");
}

static void draw_status(const top_data *d, top_frame *f, int r) {
  row w = row_start(f, r);
  if (d->error[0]) {
    char good[32] = "never";
    struct tm tm;
    if (d->last_good && localtime_r(&d->last_good, &tm))
      strftime(good, sizeof good, "%H:%M:%S", &tm);
    /* The time first: the error's tail may not fit. */
    row_printf(&w, "! last good %s; %s", good, d->error);
  } else {
    row_printf(&w, "%zu endpoint%s, %zu instance%s, %zu IC%s; ICs busiest first; last 10 s",
               d->n_endpoints, d->n_endpoints == 1 ? "" : "s", d->n_instances,
               d->n_instances == 1 ? "" : "s", d->n_ics, d->n_ics == 1 ? "" : "s");
    if (d->latency_avg) row_put(&w, "; AVG: no pNN here");
  }
}

void berth__top_render(const top_data *d, const top_view *v, top_frame *f) {
  int cols = imax(1, v->cols), rows = imax(1, v->rows);
  if (!f->text || f->cols != cols || f->rows != rows) {
    free(f->text);
    f->cols = cols;
    f->rows = rows;
    f->text = berth_xcalloc((size_t)rows, (size_t)cols + 1);
  }
  for (int r = 0; r < rows; r++) line_at(f, r)[0] = '\0';
  draw_title(d, v, f);
  if (rows < 2) return;
  draw_status(d, f, rows - 1);

  section s[N_SECTIONS] = {{d->n_endpoints, 0}, {d->n_instances, 0}, {d->n_ics, 0}};
  int spare = share_rows(s, rows - 2);
  int r = 1;
  if (s[SEC_ENDPOINTS].alloc) r = draw_endpoints(d, &s[SEC_ENDPOINTS], f, r);
  if (spare > 0) r++, spare--;
  if (s[SEC_INSTANCES].alloc) r = draw_instances(d, &s[SEC_INSTANCES], f, r);
  if (spare > 0) r++, spare--;
  if (s[SEC_ICS].alloc) draw_ics(d, &s[SEC_ICS], f, r);
  for (r = 0; r < rows; r++) {
    row w = {line_at(f, r), cols, (int)strlen(line_at(f, r))};
    row_end(&w);
  }
}
