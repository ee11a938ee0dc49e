/* cmd_logs: `berth logs IC [--follow] [--since DURATION] [--copy N]`, an
 * inference component's copy logs through the CloudWatch Logs API
 * (Logs_20140328.*, docs/logs.md): each copy's stream read forward with
 * GetLogEvents, printed in time order; --follow goes on polling each
 * stream's forward token every 300 ms and looks for new copies' streams
 * every few seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"

#define POLL_MS 300
#define STREAMS_MAX 256
#define GROUP_PREFIX "/aws/sagemaker/InferenceComponents/"

static const char usage[] =
  "usage: berth logs IC [--follow] [--since DURATION] [--copy N]\n"
  "\n"
  "Prints the output (stdout and stderr) of the inference component's copies,\n"
  "oldest first, one line each: time, stream (instance/copy-N), text. The logs\n"
  "are the log group " GROUP_PREFIX "IC of the CloudWatch Logs API;\n"
  "berthd keeps --log-retention-mb of them per IC and host.\n"
  "\n"
  "  --follow, -f        keep printing new lines as copies print them\n"
  "  --since DURATION    only lines from the last DURATION (s, m, h or d: 10m)\n"
  "  --copy N            only copy N's lines\n";

typedef struct stream {
  char name[128];
  char token[64];               /* its nextForwardToken; "" before the first read */
} stream;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Adds the group's streams not yet in s (the one copy's when copy >= 0). */
static int refresh_streams(berth_cli *cli, const char *group, long copy, stream *s, size_t *n,
                           berth_cli_error *err) {
  const char *token = NULL;
  json_t *resp = NULL;
  char next[128] = "";
  do {
    json_t *req = json_pack("{s:s}", "logGroupName", group);
    if (token) json_object_set_new(req, "nextToken", json_string(token));
    int rc = berth__control_call(cli, "Logs_20140328.DescribeLogStreams", req, &resp, err);
    json_decref(req);
    if (rc) return -1;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(resp, "logStreams"), i, it) {
      const char *name = berth__json_str(it, "logStreamName", "");
      if (copy >= 0) {
        const char *dash = strrchr(name, '-');
        if (!dash || strtol(dash + 1, NULL, 10) != copy || !strstr(name, "/copy-")) continue;
      }
      int known = 0;
      for (size_t k = 0; k < *n; k++) known |= strcmp(s[k].name, name) == 0;
      if (known || *n == STREAMS_MAX) continue;
      snprintf(s[*n].name, sizeof s[*n].name, "%s", name);
      s[*n].token[0] = '\0';
      (*n)++;
    }
    const char *t = berth__json_str(resp, "nextToken", NULL);
    snprintf(next, sizeof next, "%s", t ? t : "");
    token = t ? next : NULL;
    json_decref(resp);
  } while (token);
  return 0;
}

/* Reads stream st forward from its token (or since_ms) until nothing is
 * new, appending {stream, timestamp, message} to out. */
static int read_new(berth_cli *cli, const char *group, stream *st, long long since_ms,
                    json_t *out, berth_cli_error *err) {
  for (int page = 0; page < 1000; page++) {
    json_t *req = json_pack("{s:s,s:s,s:b}", "logGroupName", group, "logStreamName", st->name,
                            "startFromHead", 1);
    if (st->token[0]) json_object_set_new(req, "nextToken", json_string(st->token));
    else if (since_ms > 0) json_object_set_new(req, "startTime", json_integer(since_ms));
    json_t *resp;
    int rc = berth__control_call(cli, "Logs_20140328.GetLogEvents", req, &resp, err);
    json_decref(req);
    if (rc) return -1;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(resp, "events"), i, ev) {
      json_object_set_new(ev, "stream", json_string(st->name));
      json_array_append(out, ev);
    }
    const char *next = berth__json_str(resp, "nextForwardToken", "");
    int same = strcmp(next, st->token) == 0 || !json_array_size(json_object_get(resp, "events"));
    snprintf(st->token, sizeof st->token, "%s", next);
    json_decref(resp);
    if (same) break;
  }
  return 0;
}

static int by_time(const void *a, const void *b) {
  json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "timestamp"));
  json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "timestamp"));
  return x < y ? -1 : x > y;
}

static void print_events(json_t *events) {
  size_t n = json_array_size(events);
  json_t **v = calloc(n ? n : 1, sizeof *v);
  if (!v) return;
  for (size_t i = 0; i < n; i++) v[i] = json_array_get(events, i);
  qsort(v, n, sizeof *v, by_time);
  for (size_t i = 0; i < n; i++) {
    long long ms = (long long)json_integer_value(json_object_get(v[i], "timestamp"));
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char when[32];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%s.%03lldZ %s %s\n", when, ms % 1000, berth__json_str(v[i], "stream", ""),
           berth__json_str(v[i], "message", ""));
  }
  free(v);
  fflush(stdout);
}

int berth__cmd_logs(berth_cli *cli, int argc, char **argv) {
  const char *ic = NULL, *v;
  int follow = 0;
  long since_s = 0, copy = -1;
  for (int i = 0; i < argc; i++) {
    if (berth__args_is_help(argv[i])) {
      fputs(usage, stdout);
      return BERTH_EXIT_OK;
    }
    if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0) {
      follow = 1;
    } else if (berth__args_value(argc, argv, &i, "--since", &v)) {
      since_s = berth__args_duration("--since", v, 1, 366L * 86400, "30s, 10m, 2h or 1d");
    } else if (berth__args_value(argc, argv, &i, "--copy", &v)) {
      copy = berth__args_long("--copy", v, 0, 1L << 53);
    } else if (argv[i][0] == '-') {
      berth__args_unknown(argv[i]);
    } else if (!ic) {
      ic = argv[i];
    } else {
      berth__usage_error("one inference component at a time: '%s' and '%s'", ic, argv[i]);
    }
  }
  if (!ic) berth__usage_error("which inference component's logs? (berth logs IC)");
  char group[200];
  snprintf(group, sizeof group, GROUP_PREFIX "%.100s", ic);
  stream streams[STREAMS_MAX];
  size_t n = 0;
  berth_cli_error err;
  long long since_ms = since_s ? now_ms() - since_s * 1000 : 0;
  if (refresh_streams(cli, group, copy, streams, &n, &err)) goto fail;
  if (!n && copy >= 0 && !follow) {
    berth__error_set(&err, "inference component %s has no log of copy %ld", ic, copy);
    goto fail;
  }
  long long last_refresh = now_ms();
  for (;;) {
    json_t *events = json_array();
    for (size_t i = 0; i < n; i++)
      if (read_new(cli, group, &streams[i], since_ms, events, &err)) {
        json_decref(events);
        goto fail;
      }
    print_events(events);
    json_decref(events);
    if (!follow) break;
    usleep(POLL_MS * 1000);
    if (now_ms() - last_refresh > 3000) {
      /* New copies start new streams. */
      if (refresh_streams(cli, group, copy, streams, &n, &err)) goto fail;
      last_refresh = now_ms();
    }
  }
  return BERTH_EXIT_OK;
fail:
  berth__error_print(&err);
  return BERTH_EXIT_FAIL;
}
