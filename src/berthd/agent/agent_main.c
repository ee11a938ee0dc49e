/* agent_main: `berthd agent --join URL --token T --instance-type X`, one
 * instance: a pool instance on another host, or a local instance the
 * controller started (with a token of its own).
 *
 * DESIGN: the agent protocol is a long poll (docs/design.md, "Agent
 * protocol"). Each sync reports the copies the agent runs (and how they
 * failed) and receives the copies it should run; the controller holds a
 * sync whose answer would not change for up to SYNC_WAIT_MS. News here (a
 * copy ready, failed or gone) cancels the held sync and reports at once,
 * so neither side waits for a timer. At start the agent adopts the copies
 * its state file lists (agent_state.h) before its first sync, so a
 * restarted agent reports them and nothing restarts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/log.h"
#include "berth/secret.h"
#include "berth/tls.h"
#include "adapters.h"
#include "agent.h"
#include "agent_devices.h"
#include "agent_state.h"
#include "container.h"
#include "image_pull.h"
#include "controllers.h"
#include "log_ship.h"
#include "copy_limits.h"
#include "copy_sleep.h"
#include "copy_usage.h"
#include "artifact.h"
#include "reconcile.h"
#include "metrics.h"

#define SYNC_RETRY_MS 250      /* after a failed sync (cheap: a refused connect) */
#define SYNC_WAIT_MS 5000      /* how long the controller may hold a sync */

static struct {
  const char *join;
  const char *token;
  const char *instance_type;
  const char *data_dir;
  const char *advertise;
  const char *log_level;
  const char *bind_host;
  const char *shared_dir;
  const char *ca_file;          /* verifies an https --join */
  const char *health_interval;  /* GET /ping of ready copies every S s */
  int insecure;                 /* plain http to a non-loopback controller */
} opts = {NULL, NULL, NULL, "berth-agent", NULL, "info", "0.0.0.0", NULL, NULL, NULL, 0};

static ctl agent;
static const char *copy_flag;   /* where --allow-exec and --copy-user land */
static const char *devices_flag; /* --devices 4,5,6,7 (agent_devices.h) */
static const char *cache_mb_flag; /* --artifact-cache-mb N (artifact.h) */
static const char *log_retention_flag; /* --log-retention-mb N (docs/logs.md) */
static instance self;
static char agent_id[64];
static char controller_host[64];
static int controller_port;
static char auth_header[300];
static int sync_in_flight;
static berth_http_call *sync_call;
static int news;                /* something to report since the last sync */
static char version[32];        /* of the last answer, for the long poll */
static int warned_unreachable;
static berth_buf sync_body;
static uv_timer_t sync_timer;
static uv_signal_t sigterm, sigint;
static int stopping;
static log_ship *shipper;       /* a pool agent's copy logs to the controller */

static berth_tls_client *https_client;   /* when any --join URL is https */
static berth_tls_client *controller_tls; /* the current one's: NULL for http */
static char controller_name[256];        /* the name its certificate carries */
static controllers joins;                /* --join's controllers (controllers.h) */
static char sync_leader[256];            /* a standby's x-berth-leader */

/* Talks to l's current controller from now on. */
static void use_controller(void) {
  const controller_addr *a = controllers_current(&joins);
  snprintf(controller_host, sizeof controller_host, "%s", a->host);
  snprintf(controller_name, sizeof controller_name, "%s", a->name);
  controller_port = a->port;
  controller_tls = a->https ? https_client : NULL;
}

/* 0, -1 a bad URL (said), -2 a bad --ca-file (said). */
static int parse_join(const char *urls) {
  char bad[300];
  if (controllers_parse(&joins, urls, bad, sizeof bad)) {
    fprintf(stderr, "berthd agent: --join '%s' must be http://HOST:PORT or https://HOST:PORT "
            "of the controller's control API (several, comma-separated, for controllers "
            "sharing a store)\n", bad);
    return -1;
  }
  if (controllers_https(&joins)) {
    char err[512];
    if (berth_tls_client_new(opts.ca_file, &https_client, err, sizeof err) < 0) {
      fprintf(stderr, "berthd agent: --ca-file: %s\n", err);
      return -2;
    }
  }
  for (int i = 0; i < joins.n; i++) {
    const controller_addr *a = &joins.v[i];
    if (a->https || strncmp(a->host, "127.", 4) == 0) continue;
    if (!opts.insecure) {
      fprintf(stderr, "berthd agent: --join %s is plain HTTP to an address that is not "
              "loopback: the agent token would cross the network in clear text. Join "
              "https://... (the controller with --tls-cert), or give --insecure to accept "
              "that\n", a->url);
      return -2;
    }
    berth_log(BERTH_LOG_WARN, "joining %s over plain HTTP (--insecure): the agent token "
              "crosses the network in clear text", a->url);
  }
  use_controller();
  return 0;
}

/* DATA_DIR/agent-token: the token the controller issued this agent, which
 * it presents instead of the pool's join token from then on. */
static int own_token;

static void own_token_path(char *out, size_t n) {
  snprintf(out, n, "%s/agent-token", agent.data_dir);
}

static int load_own_token(void) {
  char path[1200], tok[80] = "";
  own_token_path(path, sizeof path);
  if (berth_secret_read(path, tok, sizeof tok) <= 0) return 0;
  snprintf(auth_header, sizeof auth_header, "Bearer %s", tok);
  berth_secret_wipe(tok, sizeof tok);
  own_token = 1;
  return 1;
}

static void keep_own_token(const char *tok) {
  char path[1200];
  own_token_path(path, sizeof path);
  int rc = berth_secret_write(path, tok);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot keep the token the controller issued in %s: %s; "
              "exiting (the join token no longer admits this agent id)", path, strerror(-rc));
    exit(1);
  }
  snprintf(auth_header, sizeof auth_header, "Bearer %s", tok);
  own_token = 1;
  berth_log(BERTH_LOG_INFO, "the controller issued this agent a token of its own (kept in %s)",
            path);
}

/* The address the controller reaches us at: the local end of a route to it. */
static void guess_address(char *out, size_t outsz) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)controller_port)};
  inet_pton(AF_INET, controller_host, &a.sin_addr);
  socklen_t len = sizeof a;
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    inet_ntop(AF_INET, &a.sin_addr, out, (socklen_t)outsz);
  else
    snprintf(out, outsz, "127.0.0.1");
  if (fd >= 0) close(fd);
}

static void load_agent_id(void) {
  char path[1200];
  snprintf(path, sizeof path, "%s/agent-id", agent.data_dir);
  if (berth_secret_read(path, agent_id, sizeof agent_id) > 0) return;
  memcpy(agent_id, "agent-", 6);
  if (berth_secret_random(agent_id + 6, 16, BERTH_HEX_DIGITS)) agent_id[6] = '\0';
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%s\n", agent_id);
    fclose(f);
  }
}

static copy *find_copy(int64_t id) {
  for (ic *x = agent.ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->id == id) return cp;
  return NULL;
}

static ic *ic_named(const char *name) {
  ic *x = ctl_find_ic(&agent, name);
  if (!x) {
    x = berth_xcalloc(1, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->metrics = metrics_new(ctl_clock());
    /* Until the controller sends its spec (adopted copies ran before). */
    x->startup_timeout_s = 3600;
    x->next = agent.ics;
    agent.ics = x;
  }
  return x;
}

static ic *local_ic(json_t *w) {
  ic *x = ic_named(json_string_value(json_object_get(w, "ic")));
  json_decref(x->doc);
  x->doc = json_incref(json_object_get(w, "doc"));
  snprintf(x->endpoint, sizeof x->endpoint, "%s",
           json_string_value(json_object_get(w, "endpoint")));
  x->status = ic_status_parse(json_string_value(json_object_get(w, "status")), IC_CREATING);
  x->startup_timeout_s = (int)json_integer_value(json_object_get(w, "startup_timeout_s"));
  x->need.cpu_milli = json_integer_value(json_object_get(w, "cpu_milli"));
  x->need.dev_mem_mb = json_integer_value(json_object_get(w, "dev_mem_mb"));
  json_t *model = json_object_get(w, "model");
  const char *mname = json_string_value(json_object_get(model, "ModelName"));
  if (mname) json_object_set(agent.models, mname, model);
  return x;
}

/* What a copy runs, from the controller's entry for it (w): its own
 * revision's document and reservation (an adopted copy learns them at
 * the first sync). */
static void copy_set_spec(copy *cp, json_t *w) {
  json_t *doc = json_object_get(w, "doc");
  cp->fail_fast = json_is_true(json_object_get(w, "fail_fast"));
  if (!doc) return;
  json_decref(cp->spec);
  cp->spec = json_incref(doc);
  cp->need.cpu_milli = json_integer_value(json_object_get(w, "cpu_milli"));
  cp->need.dev_mem_mb = json_integer_value(json_object_get(w, "dev_mem_mb"));
}

static copy *copy_new(ic *x, int64_t id, json_t *w) {
  copy *cp = berth_xcalloc(1, sizeof *cp);
  cp->id = id;
  cp->owner = x;
  cp->ctl = &agent;
  cp->inst = &self;
  cp->remove_when_stopped = 1;
  cp->rev = (int)json_integer_value(json_object_get(w, "rev"));
  copy_set_spec(cp, w);
  ctl_assignment_parse(w, &cp->assign);
  copy **pp = &x->copies;
  while (*pp) pp = &(*pp)->next;
  *pp = cp;
  return cp;
}

/* Takes over the copies a previous agent on this data dir left running. */
static void adopt_copies(void) {
  json_t *list = agent_state_load(&agent);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    ic *x = ic_named(json_string_value(json_object_get(e, "ic")));
    copy *cp = copy_new(x, (int64_t)json_integer_value(json_object_get(e, "id")), e);
    cp->pid = (int)json_integer_value(json_object_get(e, "pid"));
    cp->port = (int)json_integer_value(json_object_get(e, "port"));
    snprintf(cp->model_dir, sizeof cp->model_dir, "%s",
             json_string_value(json_object_get(e, "model_dir")) ?: "");
    snprintf(cp->container, sizeof cp->container, "%s",
             json_string_value(json_object_get(e, "container")) ?: "");
    /* Its cores stay taken (copy_limits_pick_cpus counts them). */
    snprintf(cp->cpus, sizeof cp->cpus, "%s", json_string_value(json_object_get(e, "cpus")) ?: "");
    if (json_is_true(json_object_get(e, "frozen"))) copy_sleep_thaw_adopted(&agent, cp);
    if (agent_adopt(&agent, cp) != 0) {
      cp->pid = 0;
      agent_forget(&agent, cp);
    } else {
      artifact_hold(&agent, cp->model_dir);
    }
  }
  artifact_settle(&agent); /* what no adopted copy holds may go */
  json_decref(list);
  agent_state_save(&agent);
}

static void follow(json_t *wanted) {
  size_t i;
  json_t *w;
  json_array_foreach(wanted, i, w) {
    int64_t id = (int64_t)json_integer_value(json_object_get(w, "id"));
    ic *x = local_ic(w);
    copy *have = find_copy(id);
    if (have) {
      if (!have->spec) copy_set_spec(have, w);
      have->fail_fast = json_is_true(json_object_get(w, "fail_fast"));
      /* The controller decides when an idle copy sleeps (copy_sleep.h). */
      int sleep = json_is_true(json_object_get(w, "sleep"));
      if (sleep && have->state == COPY_READY)
        copy_sleep_begin(&agent, have);
      else if (!sleep && have->state == COPY_SLEEPING)
        copy_wake_begin(&agent, have);
      continue;
    }
    copy *cp = copy_new(x, id, w);
    berth_log(BERTH_LOG_INFO, "starting copy %lld of %s", (long long)id, x->name);
    /* Its ModelDataDownloadTimeoutInSeconds, resolved by the controller:
     * its Image's pull may start within agent_start. */
    int limit_s = (int)json_integer_value(json_object_get(w, "download_timeout_s"));
    cp->download_timeout_s = limit_s;
    agent_start(&agent, cp);
    /* A copy that could not start is gone already (cp may be freed: it is
     * only a key here); then nothing waits. */
    artifact_limit(&agent, cp, limit_s);
  }
  for (ic *x = agent.ics; x; x = x->next) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      int want = 0;
      json_array_foreach(wanted, i, w)
        if (json_integer_value(json_object_get(w, "id")) == cp->id) want = 1;
      if (!want && cp->state != COPY_STOPPING && cp->state != COPY_DRAINING) {
        berth_log(BERTH_LOG_INFO, "stopping copy %lld of %s", (long long)cp->id, x->name);
        agent_stop(&agent, cp);
      }
    }
  }
}

static json_t *report(void) {
  json_t *copies = json_array();
  copy_usage_measure(&agent, (double)uv_now(agent.loop) / 1000.0);
  for (ic *x = agent.ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) {
      /* An unhealthy copy reports "starting": the controller takes it out
       * of rotation and back in when it is ready again. */
      const char *state = copy_sleep_report(cp) ? copy_sleep_report(cp)
                        : cp->state == COPY_READY && !cp->unhealthy ? "ready"
                        : cp->adopted ? "adopting"
                        : cp->state == COPY_STOPPING || cp->state == COPY_DRAINING ? "stopping"
                                                                                   : "starting";
      json_t *devs = ctl_devices_json(&cp->assign);
      json_array_append_new(copies, json_pack("{s:I,s:s,s:s,s:i,s:i,s:o,s:i}", "id",
                                              (json_int_t)cp->id, "ic", x->name, "state", state,
                                              "port", cp->port, "pid", cp->pid, "devices", devs,
                                              "dev_milli_each", cp->assign.dev_milli_each));
      json_object_set_new(json_array_get(copies, json_array_size(copies) - 1), "rev",
                          json_integer(cp->rev));
      if (cp->no_sleep) /* asked to sleep, it could not: not asked again */
        json_object_set_new(json_array_get(copies, json_array_size(copies) - 1), "no_sleep",
                            json_true());
      const char *pulling = cp->state == COPY_STARTING ? image_pull_progress(&agent, cp) : NULL;
      if (pulling) {
        char detail[200];
        snprintf(detail, sizeof detail, "pulling its Image: %s", pulling);
        json_object_set_new(json_array_get(copies, json_array_size(copies) - 1), "detail",
                            json_string(detail));
      }
      json_t *usage = copy_usage_json(cp); /* CPU, memory, GPU now */
      if (usage)
        json_object_set_new(json_array_get(copies, json_array_size(copies) - 1), "usage", usage);
      /* ModelSetupTime as this agent measured it (artifact, start, /ping). */
      if (cp->state == COPY_READY && cp->setup_started_ms && cp->ready_ms >= cp->setup_started_ms)
        json_object_set_new(json_array_get(copies, json_array_size(copies) - 1), "setup_ms",
                            json_integer((json_int_t)(cp->ready_ms - cp->setup_started_ms)));
    }
  /* Its physical devices and the memory each really has: the controller
   * shows them and places within them. */
  json_t *host_devs = json_array();
  for (int i = 0; i < self.n_host_devices; i++)
    json_array_append_new(host_devs, json_integer(self.host_devices[i]));
  char runtime[96];
  container_describe(&agent.engine, runtime, sizeof runtime);
  return json_pack("{s:s,s:s,s:s,s:s,s:o,s:O,s:s,s:i,s:o,s:I}", "agent_id", agent_id,
                   "container_runtime", runtime, "instance_type", opts.instance_type, "address",
                   self.address, "copies",
                   copies, "failures", agent.failed_reports, "version", version, "wait_ms",
                   SYNC_WAIT_MS, "accelerator_devices", host_devs, "accelerator_memory_mb",
                   (json_int_t)self.res.dev_mem_mb);
}

static int sync_status;
static size_t reported_failures;

static void on_sync_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                         void *ud) {
  (void)call;
  (void)ud;
  sync_status = status;
  sync_leader[0] = '\0';
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(h[i].name, "x-berth-leader") == 0)
      snprintf(sync_leader, sizeof sync_leader, "%s", h[i].value);
}

/* The current controller cannot be reached, or stands by: try the next
 * (or the leader it named) at once. */
/* A controller a standby named that --join did not list: followed only on
 * the terms --join's own URLs were taken on (the token stays off plain
 * HTTP across a network unless --insecure). */
static int may_follow(const controller_addr *a) {
  if (a->https) return https_client != NULL;
  return strncmp(a->host, "127.", 4) == 0 || opts.insecure;
}

static void next_controller(void) {
  if (joins.n < 2 && !sync_leader[0]) return;
  controllers_next(&joins, sync_leader, may_follow);
  use_controller();
  berth_log(BERTH_LOG_INFO, "trying the controller at %s", controllers_current(&joins)->url);
}

static void on_sync_body(berth_http_call *call, const char *data, size_t len, void *ud) {
  (void)call;
  (void)ud;
  berth_buf_append(&sync_body, data, len);
}

static void sync_now(void);

static void on_sync_timer(uv_timer_t *t) {
  (void)t;
  sync_now();
}

static void sync_after(uint64_t ms) {
  if (!stopping) uv_timer_start(&sync_timer, on_sync_timer, ms, 0);
}

static void on_sync_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  (void)ud;
  sync_in_flight = 0;
  sync_call = NULL;
  if (err == UV_ECANCELED) {
    sync_after(0); /* cancelled to report news */
    return;
  }
  if (err) {
    if (!warned_unreachable)
      berth_log(BERTH_LOG_WARN, "cannot reach the controller at %s: %s (retrying; copies keep "
                "running)", opts.join, uv_strerror(err));
    warned_unreachable = 1;
    next_controller();
    sync_after(SYNC_RETRY_MS);
    return;
  }
  if (warned_unreachable) berth_log(BERTH_LOG_INFO, "the controller at %s answers again", opts.join);
  warned_unreachable = 0;
  if (sync_status == 401) {
    json_t *why = json_loadb(sync_body.data ? sync_body.data : "", sync_body.len, 0, NULL);
    berth_log(BERTH_LOG_ERROR, "the controller at %s refused our token (%s): %s; exiting",
              opts.join, own_token ? "the one it issued us, in agent-token" : "--token",
              json_string_value(json_object_get(why, "message")) ?: "no reason given");
    json_decref(why);
    exit(1);
  }
  if (sync_status == 503 && (joins.n > 1 || sync_leader[0])) {
    next_controller(); /* a standby */
    sync_after(SYNC_RETRY_MS);
    return;
  }
  if (sync_status != 200) {
    berth_log(BERTH_LOG_WARN, "the controller answered %d: %.*s", sync_status,
            (int)sync_body.len, sync_body.data ? sync_body.data : "");
    sync_after(SYNC_RETRY_MS);
    return;
  }
  json_t *resp = json_loadb(sync_body.data, sync_body.len, 0, NULL);
  if (!resp) {
    sync_after(SYNC_RETRY_MS);
    return;
  }
  const char *issued = json_string_value(json_object_get(resp, "agent_token"));
  if (issued) keep_own_token(issued);
  int64_t id = (int64_t)json_integer_value(json_object_get(resp, "instance_id"));
  if (self.id != id) {
    self.id = id;
    berth_log(BERTH_LOG_INFO, "joined %s as instance %lld", opts.join, (long long)self.id);
  }
  snprintf(version, sizeof version, "%s", json_string_value(json_object_get(resp, "version")) ?: "");
  /* Only a pool instance ships: a local one writes the controller's store. */
  log_ship_set(shipper, json_is_true(json_object_get(resp, "ship_logs")), self.id);
  /* Failures up to what this sync carried are delivered. */
  while (reported_failures-- > 0) json_array_remove(agent.failed_reports, 0);
  reported_failures = 0;
  if (!stopping) follow(json_object_get(resp, "copies"));
  if (!stopping) adapters_follow(&agent, json_object_get(resp, "adapters"));
  json_decref(resp);
  sync_after(0);
}

static const berth_http_call_cb sync_cb = {on_sync_head, on_sync_body, on_sync_done};

static void sync_now(void) {
  if (sync_in_flight || stopping) return;
  json_t *body = report();
  json_object_set_new(body, "adapters", adapters_report(&agent)); /* per copy, loaded or not */
  news = 0;
  reported_failures = json_array_size(agent.failed_reports);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  berth_http_header h[2] = {{"content-type", "application/json"}, {"authorization", auth_header}};
  berth_http_request_opts o = {.host = controller_host, .port = controller_port, .method = "POST",
                               .target = "/agent/v1/sync", .headers = h, .n_headers = 2,
                               .body = text, .body_len = strlen(text),
                               .timeout_ms = SYNC_WAIT_MS + 5000, .tls = controller_tls,
                               .tls_name = controller_name};
  berth_buf_reset(&sync_body);
  sync_status = 0;
  if (berth_http_request(agent.client, &o, &sync_cb, NULL, &sync_call) == 0)
    sync_in_flight = 1;
  else
    sync_after(SYNC_RETRY_MS);
  free(text);
}

/* A copy changed state (ctl_kick in agent mode): tell the controller now
 * instead of when its held sync returns. */
static void on_news(ctl *c) {
  news = 1;
  adapters_step(c); /* a copy ready or gone: its adapters follow */
  if (sync_in_flight && sync_call) {
    berth_http_call_cancel(sync_call); /* on_sync_done(ECANCELED) syncs again */
    sync_call = NULL;
  }
}

static void on_stop_poll(uv_timer_t *t) {
  if (ctl_running_copies(&agent) > 0) return;
  uv_timer_stop(t);
  uv_signal_stop(&sigterm);
  uv_signal_stop(&sigint);
  berth_log(BERTH_LOG_INFO, "stopped");
  uv_stop(agent.loop);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (stopping) exit(1);
  stopping = 1;
  berth_log(BERTH_LOG_INFO, "signal %d: stopping copies", signum);
  ctl_stop_all(&agent);
  uv_timer_start(&sync_timer, on_stop_poll, 50, 50);
}

int agent_main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--join") == 0) slot = &opts.join;
    else if (strcmp(argv[i], "--token") == 0) slot = &opts.token;
    else if (strcmp(argv[i], "--instance-type") == 0) slot = &opts.instance_type;
    else if (strcmp(argv[i], "--data-dir") == 0) slot = &opts.data_dir;
    else if (strcmp(argv[i], "--advertise") == 0) slot = &opts.advertise;
    else if (strcmp(argv[i], "--log-level") == 0) slot = &opts.log_level;
    else if (strcmp(argv[i], "--bind-host") == 0) slot = &opts.bind_host;
    else if (strcmp(argv[i], "--shared-dir") == 0) slot = &opts.shared_dir;
    else if (strcmp(argv[i], "--ca-file") == 0) slot = &opts.ca_file;
    else if (strcmp(argv[i], "--health-interval") == 0) slot = &opts.health_interval;
    else if (strcmp(argv[i], "--artifact-cache-mb") == 0) slot = &cache_mb_flag;
    else if (strcmp(argv[i], "--log-retention-mb") == 0) slot = &log_retention_flag;
    else if (strcmp(argv[i], "--devices") == 0) slot = &devices_flag;
    else if (strcmp(argv[i], "--insecure") == 0) {
      opts.insecure = 1;
      continue;
    }
    else if (strcmp(argv[i], "--allow-exec") == 0 || strcmp(argv[i], "--copy-user") == 0 ||
             strcmp(argv[i], "--allow-artifact-dir") == 0)
      slot = &copy_flag; /* copy_policy_from_args reads them */
    else {
      fprintf(stderr, "berthd agent: unknown flag '%s'\nusage: berthd agent --join "
              "http://CONTROLLER:PORT --token TOKEN --instance-type TYPE [--data-dir DIR] "
              "[--advertise ADDRESS] [--bind-host ADDRESS] [--shared-dir DIR] [--log-level error|warn|info|debug]\n"
              "              [--allow-exec PATH]... [--allow-artifact-dir DIR]... [--copy-user USER]\n"
              "              [--ca-file FILE] [--insecure]\n"
              "              [--health-interval S] [--devices 4,5,6,7] [--artifact-cache-mb N]\n"
              "              [--log-retention-mb N]\n"
              "--log-retention-mb N: each IC's copy logs on this host at most N MiB (64)\n"
              "--join https://...: the controller's certificate is verified against --ca-file\n"
              "  (default: the system's CAs); plain http:// to an address that is not loopback\n"
              "  would send the token in clear text and needs --insecure\n"
              "(the token may come from BERTH_AGENT_TOKEN instead)\n"
              "--allow-exec PATH: a copy whose Image is a program (not berth-model) runs only\n"
              "  if it is PATH (a file) or lies under PATH (a directory); repeatable\n"
              "--allow-artifact-dir DIR: a container copy's ArtifactUrl may name a path on\n"
              "  this host only under DIR; repeatable\n"
              "--copy-user USER: as root, copies run as USER (default: berth if it exists,\n"
              "  else nobody), never as root\n"
              "--devices LIST: this instance's accelerators, physical indices (NVML's, or of\n"
              "  BERTH_LOCAL_ACCELERATORS); as many as its type has (default: the host's first)\n",
              argv[i]);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "berthd agent: %s needs a value\n", argv[i]);
      return 2;
    }
    *slot = argv[++i];
  }
  /* The environment keeps the token out of ps. */
  if ((!opts.token || !opts.token[0]) && getenv("BERTH_AGENT_TOKEN"))
    opts.token = getenv("BERTH_AGENT_TOKEN");
  if (!opts.join || !opts.token || !opts.instance_type) {
    fprintf(stderr, "berthd agent: --join, --token (or BERTH_AGENT_TOKEN) and --instance-type "
            "are required\n");
    return 2;
  }
  if (berth_log_setup("berthd agent", opts.log_level, "berthd agent")) return 2;
  char perr[1200];
  int prc = copy_policy_from_args(&agent.policy, argc, argv, perr, sizeof perr);
  if (prc < 0) {
    fprintf(stderr, "berthd agent: %s\n", perr);
    return 2;
  }
  if (prc > 0) berth_log(BERTH_LOG_WARN, "%s", perr);
  if (parse_join(opts.join)) return 2; /* it said why */
  ctl *c = &agent;
  if (opts.health_interval) {
    char *end;
    c->health_interval_s = strtod(opts.health_interval, &end);
    if (*end || end == opts.health_interval || c->health_interval_s < 0.1 ||
        c->health_interval_s > 3600) {
      fprintf(stderr, "berthd agent: --health-interval '%s' must be a number of seconds from 0.1 "
              "to 3600\n", opts.health_interval);
      return 2;
    }
  }
  if (cache_mb_flag) {
    char *end;
    c->artifact_cache_mb = strtod(cache_mb_flag, &end);
    if (*end || end == cache_mb_flag || c->artifact_cache_mb < 1 ||
        c->artifact_cache_mb > 1e9) {
      fprintf(stderr, "berthd agent: --artifact-cache-mb '%s' must be a number of MB from 1 to "
              "1000000000\n", cache_mb_flag);
      return 2;
    }
  }
  if (log_retention_flag) {
    char *end;
    long long mb = strtoll(log_retention_flag, &end, 10);
    if (*end || end == log_retention_flag || mb < 1 || mb > 1048576) {
      fprintf(stderr, "berthd agent: --log-retention-mb '%s' must be a whole number of MiB "
              "from 1 to 1048576\n", log_retention_flag);
      return 2;
    }
    c->log_retention_mb = mb;
  }
  c->agent_mode = 1;
  c->loop = uv_default_loop();
  c->loop->data = c;
  c->models = json_object();
  c->failed_reports = json_array();
  snprintf(c->bind_host, sizeof c->bind_host, "%s", opts.bind_host);
  c->on_kick = on_news;
  c->copy_awake = agent_copy_awake; /* copy_sleep.h's wakes end here */
  mkdir(opts.data_dir, 0755);
  if (ctl_set_data_dir(c, opts.data_dir)) return 1;
  char sub[1200];
  if (opts.shared_dir) {
    char *full = realpath(opts.shared_dir, NULL);
    if (!full || strlen(full) >= sizeof c->shared_dir - 100) {
      fprintf(stderr, "berthd agent: --shared-dir '%s' must be an existing directory\n",
              opts.shared_dir);
      free(full);
      return 2;
    }
    snprintf(c->shared_dir, sizeof c->shared_dir, "%s", full);
    free(full);
  }
  snprintf(sub, sizeof sub, "%.1100s/logs", c->shared_dir);
  mkdir(sub, 0755);
  snprintf(sub, sizeof sub, "%.1100s/artifacts", c->shared_dir);
  mkdir(sub, 0755);
  snprintf(sub, sizeof sub, "%.1100s/copies", c->data_dir);
  mkdir(sub, 0755);
  ctl_open_copy_dirs(c);
  ssize_t n = readlink("/proc/self/exe", c->self_exe, sizeof c->self_exe - 1);
  if (n <= 0) return 1;
  c->self_exe[n] = '\0';
  snprintf(c->model_exe, sizeof c->model_exe, "%.1000s", c->self_exe);
  char *slash = strrchr(c->model_exe, '/');
  snprintf(slash + 1, sizeof c->model_exe - (size_t)(slash + 1 - c->model_exe), "berth-model");
  char err[512];
  if (berth_catalog_load(NULL, &c->catalog, err, sizeof err)) {
    berth_log(BERTH_LOG_ERROR, "%s", err);
    return 1;
  }
  self.type = berth_catalog_find(&c->catalog, opts.instance_type);
  if (!self.type) {
    fprintf(stderr, "berthd agent: --instance-type %s is not in the catalog %s\n",
            opts.instance_type, berth_catalog_default_path());
    return 2;
  }
  self.res = sched_capacity(self.type);
  char dmsg[512];
  if (agent_devices_setup(&self, devices_flag, dmsg, sizeof dmsg) != 0) {
    fprintf(stderr, "berthd agent: %s\n", dmsg);
    return 2;
  }
  berth_log(BERTH_LOG_INFO, "%s", dmsg);
  if (opts.advertise)
    snprintf(self.address, sizeof self.address, "%s", opts.advertise);
  else
    guess_address(self.address, sizeof self.address);
  load_agent_id();
  snprintf(c->agent_id, sizeof c->agent_id, "%s", agent_id);
  /* This instance's own cache: agents sharing --shared-dir each keep theirs. */
  snprintf(sub, sizeof sub, "%.1100s/artifacts/%.60s", c->shared_dir, agent_id);
  int arc = artifact_open(c, sub, c->artifact_cache_mb, opts.ca_file);
  if (arc) {
    berth_log(BERTH_LOG_ERROR, "cannot open the artifact cache %s: %s", sub, strerror(-arc));
    return 1;
  }
  copy_limits_setup(c); /* says what is enforced, or why not */
  char runtime[96];
  if (container_detect(&c->engine) == 0) {
    container_describe(&c->engine, runtime, sizeof runtime);
    berth_log(BERTH_LOG_INFO, "agent %s: container images run with %s (%s)%s", agent_id,
              runtime, c->engine.path, c->engine.cdi ? ", GPUs through NVIDIA's CDI spec" : "");
  } else {
    berth_log(BERTH_LOG_INFO, "agent %s: no container engine (podman or docker): only "
              "berth-model and programs on this host run here", agent_id);
  }
  if (!load_own_token()) snprintf(auth_header, sizeof auth_header, "Bearer %s", opts.token);
  /* Copies inherit our environment: the token is not theirs to read. */
  unsetenv("BERTH_AGENT_TOKEN");
  opts.token = NULL;
  berth_buf_init(&sync_body, 1 << 24);
  signal(SIGPIPE, SIG_IGN);
  c->client = berth_http_client_new(c->loop, 4);
  uv_signal_init(c->loop, &sigterm);
  uv_signal_init(c->loop, &sigint);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_timer_init(c->loop, &sync_timer);
  log_ship_target ship_to = {c->client, controller_host, &controller_port, &controller_tls,
                             controller_name, auth_header};
  shipper = log_ship_new(c->loop, c->shared_dir, c->data_dir, &ship_to);
  berth_log(BERTH_LOG_INFO, "agent %s: %s at %s joining %s", agent_id, opts.instance_type,
          self.address, opts.join);
  adopt_copies();
  container_sweep(c);
  sync_after(0);
  uv_run(c->loop, UV_RUN_DEFAULT);
  copy_limits_close(c);
  copy_usage_close();
  artifact_close(c);
  berth_http_client_free(c->client);
  berth_buf_free(&sync_body);
  return 0;
}
