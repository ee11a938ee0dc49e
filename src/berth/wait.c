/* wait: polling loops with a progress line for the berth client. */
#include "wait.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

/* The one progress line of a wait. */
typedef struct progress {
  bool tty;
  bool drawn;       /* a line without "\n" is on the terminal */
  char last[512];   /* last state shown, without the elapsed time */
} progress;

double berth__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_poll(void) {
  struct timespec ts = {0, (long)(BERTH_POLL_INTERVAL_S * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Shows `state` with the elapsed time: redrawn on a terminal, printed once
 * per change of state otherwise. */
static void progress_show(progress *p, const char *state, double elapsed) {
  if (p->tty) {
    printf("\r%s (%.0fs)\033[K", state, elapsed);
    p->drawn = true;
  } else if (strcmp(state, p->last) != 0) {
    printf("%s (%.0fs)\n", state, elapsed);
  }
  fflush(stdout);
  snprintf(p->last, sizeof p->last, "%s", state);
}

/* Ends the redrawn line so what follows starts on a fresh line. */
static void progress_end(progress *p) {
  if (p->drawn) {
    putchar('\n');
    fflush(stdout);
    p->drawn = false;
  }
}

static void fail_with(progress *p, const berth_cli_error *err) {
  progress_end(p);
  berth__error_print(err);
}

int berth__wait_endpoint(berth_cli *cli, const char *endpoint, double start,
                         double deadline) {
  progress p = {.tty = cli->stdout_tty};
  berth_cli_error err;
  char state[512];
  for (;;) {
    json_t *req = json_pack("{s:s}", "EndpointName", endpoint);
    json_t *ep = NULL;
    int rc = berth__control_call(cli, "DescribeEndpoint", req, &ep, &err);
    json_decref(req);
    if (rc != 0) {
      fail_with(&p, &err);
      return -1;
    }
    const char *status = berth__json_str(ep, "EndpointStatus", "?");
    if (strcmp(status, "InService") == 0) {
      json_decref(ep);
      progress_end(&p);
      return 0;
    }
    if (strcmp(status, "Failed") == 0) {
      progress_end(&p);
      fprintf(stderr, "berth: endpoint %s failed: %s\n", endpoint,
              berth__json_str(ep, "FailureReason", "(no reason given)"));
      json_decref(ep);
      return -1;
    }
    snprintf(state, sizeof state, "waiting for endpoint %s: %s", endpoint, status);
    double now = berth__now();
    if (now >= deadline) {
      progress_end(&p);
      const char *reason = berth__json_str(ep, "FailureReason", NULL);
      fprintf(stderr, "berth: timed out after %.0f s waiting for endpoint %s to be "
              "InService (it is %s%s%s)\n", deadline - start, endpoint, status,
              reason ? "; failure reason: " : "", reason ? reason : "");
      json_decref(ep);
      return -1;
    }
    json_decref(ep);
    progress_show(&p, state, now - start);
    pause_poll();
  }
}

/* Formats "<n>" or "?" for a copy count. */
static void fmt_count(char *out, size_t n, const json_t *obj, const char *key) {
  double v = berth__json_num(obj, key, -1);
  if (v < 0)
    snprintf(out, n, "?");
  else
    snprintf(out, n, "%.0f", v);
}

int berth__wait_ic(berth_cli *cli, const char *ic, const char *verb, long copies,
                   double start, double deadline, json_t **final) {
  progress p = {.tty = cli->stdout_tty};
  berth_cli_error err;
  char state[512], cur[32], want[32];
  if (final) *final = NULL;
  for (;;) {
    json_t *req = json_pack("{s:s}", "InferenceComponentName", ic);
    json_t *d = NULL;
    int rc = berth__control_call(cli, "DescribeInferenceComponent", req, &d, &err);
    json_decref(req);
    if (rc != 0) {
      fail_with(&p, &err);
      return -1;
    }
    const char *status = berth__json_str(d, "InferenceComponentStatus", "?");
    const json_t *rt = json_object_get(d, "RuntimeConfig");
    double current = berth__json_num(rt, "CurrentCopyCount", -1);
    fmt_count(cur, sizeof cur, rt, "CurrentCopyCount");
    fmt_count(want, sizeof want, rt, "DesiredCopyCount");
    const char *reason = berth__json_str(d, "FailureReason", NULL);

    bool copies_ok = copies < 0 || current == (double)copies;
    if (strcmp(status, "InService") == 0 && copies_ok) {
      progress_end(&p);
      if (final)
        *final = d;
      else
        json_decref(d);
      return 0;
    }
    if (strcmp(status, "Failed") == 0) {
      progress_end(&p);
      fprintf(stderr, "berth: %s failed: %s\n", ic, reason ? reason : "(no reason given)");
      json_decref(d);
      return -1;
    }
    snprintf(state, sizeof state, "%s %s: %s, %s/%s copies", verb, ic, status, cur, want);
    double now = berth__now();
    if (now >= deadline) {
      progress_end(&p);
      char goal[64] = "InService";
      if (copies >= 0) snprintf(goal, sizeof goal, "InService with %ld copies", copies);
      fprintf(stderr, "berth: timed out after %.0f s waiting for %s to be %s (it is %s "
              "with %s/%s copies%s%s)\n", deadline - start, ic, goal, status, cur, want,
              reason ? "; failure reason: " : "", reason ? reason : "");
      json_decref(d);
      return -1;
    }
    json_decref(d);
    progress_show(&p, state, now - start);
    pause_poll();
  }
}

int berth__wait_ics_gone(berth_cli *cli, const char *const *ics, size_t n,
                         const char *what, double start, double deadline) {
  progress p = {.tty = cli->stdout_tty};
  berth_cli_error err;
  char state[512];
  bool *gone = berth_xcalloc(n ? n : 1, sizeof *gone);
  size_t left = n;
  int rc = -1;
  while (left) {
    const char *waiting = NULL, *reason = NULL;
    json_t *last = NULL;
    for (size_t i = 0; i < n; i++) {
      if (gone[i]) continue;
      json_t *req = json_pack("{s:s}", "InferenceComponentName", ics[i]);
      json_t *d = NULL;
      int crc = berth__control_call(cli, "DescribeInferenceComponent", req, &d, &err);
      json_decref(req);
      if (crc != 0) {
        if (berth__error_not_found(&err)) {
          gone[i] = true;
          left--;
          continue;
        }
        fail_with(&p, &err);
        goto out;
      }
      if (!waiting) {
        waiting = ics[i];
        last = d;
        reason = berth__json_str(d, "FailureReason", NULL);
      } else {
        json_decref(d);
      }
    }
    if (!left) {
      json_decref(last);
      break;
    }
    snprintf(state, sizeof state, "deleting %s: %zu inference component%s left", what,
             left, left == 1 ? "" : "s");
    double now = berth__now();
    if (now >= deadline) {
      progress_end(&p);
      fprintf(stderr, "berth: timed out after %.0f s waiting for %zu inference "
              "component%s to be deleted (still there: %s, %s%s%s)\n", deadline - start,
              left, left == 1 ? "" : "s", waiting,
              berth__json_str(last, "InferenceComponentStatus", "?"),
              reason ? "; failure reason: " : "", reason ? reason : "");
      json_decref(last);
      goto out;
    }
    json_decref(last);
    progress_show(&p, state, now - start);
    pause_poll();
  }
  progress_end(&p);
  rc = 0;
out:
  free(gone);
  return rc;
}
