/* berthd: the Berth daemon, one binary for every role.
 *
 *   berthd up [--data-dir DIR] [--control-listen HOST:PORT]
 *             [--runtime-listen HOST:PORT] [--catalog FILE] ...
 *
 * `berthd up` is the supervisor (supervisor.c): it runs `berthd controller`
 * and `berthd router` with the same flags and restarts them if they die.
 * The controller (controller/, api/) owns the store and the decisions and
 * starts one `berthd agent` (agent/) per local instance; the router
 * (router/) serves the runtime API from the controller's routing snapshot.
 * `berthd copy-exec` is the per-copy shim (agent/copy_shim.c);
 * `berthd artifact-fetch` downloads and unpacks an artifact for an agent
 * (agent/artifact_fetch.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/forecast.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "berth/tls.h"
#include "agent.h"
#include "alarms.h"
#include "api.h"
#include "console.h"
#include "copy_shim.h"
#include "artifact_fetch.h"
#include "autoscale.h"
#include "reconcile.h"
#include "keys.h"
#include "leader.h"
#include "local_agent.h"
#include "pool.h"
#include "exec_provider.h"
#include "router.h"
#include "router_sync.h"
#include "router_threads.h"
#include "access_log.h"
#include "routing.h"
#include "store.h"
#include "supervisor.h"

#define BERTH_VERSION "0.1.0"
#define SHUTDOWN_GRACE_MS 40000
#define MIN_BUFFERED_BYTES (7u << 20) /* --max-buffered-mb 7: one 6 MiB body and more */

static struct {
  const char *data_dir;
  const char *store;            /* postgresql://...: shared with standby controllers */
  const char *advertise_url;    /* how clients reach this controller's control API */
  const char *control_listen;
  const char *runtime_listen;
  const char *catalog;
  const char *scale_profile;
  const char *scale_in_window;
  const char *wake_queue;
  const char *wake_timeout;
  const char *instance_cooldown;
  const char *provider;
  const char *agent_token;
  const char *invocation_timeout;
  const char *stream_timeout;
  const char *health_interval;
  const char *body_timeout;
  const char *max_buffered_mb;
  const char *max_connections;
  const char *max_connections_per_client;
  const char *log_level;
  const char *controller_url;   /* berthd router */
  const char *router_token;
  const char *auth;             /* sigv4 (default) or none */
  const char *tls_cert, *tls_key;
  const char *ca_file;          /* router: verifies an https --controller */
  const char *agent_listen;     /* agents' and routers' own listener */
  const char *router_threads;   /* router: its event loops (default: the cores) */
  int insecure_listen;
} config = {.data_dir = "berth-data", .control_listen = "127.0.0.1:8070",
            .runtime_listen = "127.0.0.1:8080", .scale_profile = "fast",
            .scale_in_window = "300", .wake_queue = "256", .wake_timeout = "300",
            .instance_cooldown = "0", .provider = "local", .invocation_timeout = "60",
            .stream_timeout = "480", .health_interval = "5", .body_timeout = "60",
            .max_buffered_mb = "128", .log_level = "info"};

typedef enum { ROLE_CONTROLLER, ROLE_ROUTER } role;

/* Connection budgets of the two listeners, from the descriptor limit. */
static struct {
  size_t runtime, runtime_per_client, control;
} budget;

static ctl controller;
static uv_signal_t sigterm, sigint, sighup;
static berth_tls_server *tls;   /* --tls-cert/--tls-key, both listeners */
static berth_tls_client *ca;    /* the router's view of an https controller */
static uv_timer_t shutdown_timer;
static int servers_open;
static uint64_t shutdown_started;

static void usage(FILE *f) {
  fprintf(f,
          "usage: berthd up [--data-dir DIR] [--control-listen HOST:PORT]\n"
          "                 [--runtime-listen HOST:PORT] [--catalog FILE] ...\n"
          "       berthd controller [the same flags] [--router-token T]\n"
          "       berthd router --controller URL [the same flags] [--router-token T]\n"
          "       berthd agent --join URL --token T --instance-type TYPE\n"
          "       berthd version\n\n"
          "`berthd up` supervises the controller (`berthd controller`: control API,\n"
          "state, decisions, one `berthd agent` per local instance) and the router\n"
          "(`berthd router`: the runtime API) and restarts either if it dies.\n"
          "The router token (or BERTH_ROUTER_TOKEN) lets routers read the routing\n"
          "state; berthd up makes one per start.\n\n"
          "  --data-dir DIR            state (SQLite), logs and artifact cache (default %s)\n"
          "  --store postgresql://...  keep the state in PostgreSQL instead (libpq's URI or\n"
          "                            key=value string; a password better in PGPASSWORD or\n"
          "                            ~/.pgpass): several controllers on one database, one\n"
          "                            leads, the others stand by (docs/high-availability.md)\n"
          "  --advertise-url URL       with --store: the control API's URL that standbys\n"
          "                            name to clients (default: --control-listen's)\n"
          "  --control-listen H:P      SageMaker control API (default %s)\n"
          "  --runtime-listen H:P      SageMaker Runtime API (default %s)\n"
          "  --catalog FILE            instance-type catalog (default %s)\n"
          "  --scale-profile P         autoscaling timing: fast (default; acts within 10 s)\n"
          "                            or aws (SageMaker's 1-minute datapoints, 3/15 alarms)\n"
          "  --scale-in-window S       fast profile: seconds below target before scale-in (300)\n"
          "  --forecast on|off         pre-warm ICs from their own demand history (on)\n"
          "  --forecast-season S       the forecast's season: seconds in a day (86400; a week\n"
          "                            is 7 seasons); shorter for compressed time\n"
          "  --forecast-horizon S      how far ahead it warms (default: the IC's last copy\n"
          "                            start plus 10 s; docs/forecast.md)\n"
          "  --wake-queue N            requests held per IC while it wakes from zero (256)\n"
          "  --wake-timeout S          how long a held request waits for a copy (300)\n"
          "  --instance-cooldown S     managed instance scaling: seconds an instance stays\n"
          "                            idle before release (default: the ScaleInPolicy's\n"
          "                            CooldownInMinutes; for tests and compressed time)\n"
          "  --provider P              where instances come from: local agents (default),\n"
          "                            agents that join (berthd agent --join URL --token T),\n"
          "                            or hosts your hooks create and delete (exec);\n"
          "                            P is local, pool or exec\n"
          "  --instance-create CMD     exec: a sh command booting a host that runs\n"
          "                            berthd agent --join $BERTH_JOIN_URL --token\n"
          "                            $BERTH_JOIN_TOKEN --instance-type TYPE; it may\n"
          "                            print instance-id=ID (docs/providers.md)\n"
          "  --instance-delete CMD     exec: a sh command deleting one\n"
          "                            ($BERTH_CLOUD_INSTANCE_ID, $BERTH_INSTANCE_NAME)\n"
          "  --instance-join-timeout S exec: an instance whose agent has not joined S s\n"
          "                            after its launch is deleted: a failed launch (300)\n"
          "  --instance-hook-timeout S exec: a hook running past S s is stopped (300)\n"
          "  --instance-join-url URL   exec: what agents join (default: agent listener)\n"
          "  --agent-token T           the token joining agents must present (or\n"
          "                            BERTH_AGENT_TOKEN); required with --provider pool\n"
          "  --invocation-timeout S    InvokeEndpoint: a model's whole answer within S s (60)\n"
          "  --stream-timeout S        InvokeEndpointWithResponseStream: the whole stream (480)\n"
          "  --health-interval S       GET /ping of ready copies every S s (5)\n"
          "  --artifact-cache-mb N     each instance's artifact cache: at most N MB of\n"
          "                            artifacts no copy uses, least recently used go (10240)\n"
          "  --log-retention-mb N      each IC's copy logs (stdout and stderr, per copy) on a\n"
          "                            host at most N MiB, oldest segments go (64; docs/logs.md)\n"
          "  --access-log FILE|-       the router writes one line per invocation (IC, copy,\n"
          "                            status, model and overhead latency, bytes) to FILE\n"
          "                            (appended) or stdout (-); docs/logs.md\n"
          "  --body-timeout S          a request's whole body within S s of its head (60)\n"
          "  --max-buffered-mb N       request bodies buffered at once on the runtime port;\n"
          "                            past it: 503 ServiceUnavailable (128)\n"
          "  --max-connections N       runtime port connections (default: from the\n"
          "                            descriptor limit); past it the oldest idle close\n"
          "  --max-connections-per-client N  runtime connections per client address\n"
          "  --allow-exec PATH         a copy whose Image is a program (not berth-model) runs\n"
          "                            only if it is PATH (a file) or lies under PATH (a\n"
          "                            directory), symlinks resolved; repeatable\n"
          "  --allow-artifact-dir DIR  a container copy's ArtifactUrl may name a path on this\n"
          "                            host only under DIR (the container reads it as\n"
          "                            root); repeatable (default: none)\n"
          "  --copy-user USER          as root, copies run as USER (default: berth if it\n"
          "                            exists, else nobody), never as root\n"
          "  --log-level L             error, warn, info (default) or debug\n"
          "  --auth sigv4|none         every control and runtime call signed (SigV4) with a\n"
          "                            Berth access key (default; the admin key is made at\n"
          "                            first start in DATA_DIR/credentials), or none: no\n"
          "                            checks, loopback listeners only, for development\n"
          "  --tls-cert FILE --tls-key FILE  serve both APIs over TLS 1.2+ (PEM; SIGHUP\n"
          "                            reloads them without dropping connections)\n"
          "  --insecure-listen         allow plain HTTP on a non-loopback address\n"
          "  --agent-listen H:P        a listener of its own for agents and routers (the\n"
          "                            control listener then refuses them), e.g. a\n"
          "                            private network's address\n"
          "  --ca-file FILE            router: the CA that signed an https --controller's\n"
          "                            certificate; controller with --store: the CA of the\n"
          "                            other controllers' (default: the system's CAs)\n"
          "  --router-threads N        router: event loops serving the runtime API, each\n"
          "                            with its own listener on the port (1-64; default:\n"
          "                            one per core)\n",
          config.data_dir, config.control_listen, config.runtime_listen,
          berth_catalog_default_path());
}

/* Splits "host:port" or "[v6]:port". */
static int parse_listen(const char *flag, const char *s, char *host, size_t hostsz, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon) goto bad;
  size_t hl = (size_t)(colon - s);
  const char *h = s;
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl == 0 || hl >= hostsz) goto bad;
  memcpy(host, h, hl);
  host[hl] = '\0';
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || p < 0 || p > 65535) goto bad;
  *port = (int)p;
  return 0;
bad:
  fprintf(stderr, "berthd: %s '%s' must be HOST:PORT with PORT 0..65535 (e.g. 127.0.0.1:8070)\n",
          flag, s);
  return -1;
}

static int parse_number(const char *flag, const char *s, double min, double max, double *out) {
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (errno || *end || end == s || d < min || d > max) {
    fprintf(stderr, "berthd up: %s '%s' must be a number from %.15g to %.15g\n", flag, s, min, max);
    return -1;
  }
  *out = d;
  return 0;
}

static void on_shutdown_poll(uv_timer_t *t) {
  ctl *c = &controller;
  /* Copies stop through their agents: local ones are waited for. */
  int copies = c->router_mode ? 0 : local_agents_running(c);
  int late = uv_now(c->loop) - shutdown_started > SHUTDOWN_GRACE_MS;
  if (servers_open > 0 || (copies > 0 && !late)) return;
  if (c->router_mode && router_threads_running() > 0) return; /* each finishes its requests */
  uv_timer_stop(t);
  if (!c->router_mode && c->leads) {
    uv_timer_stop(&c->tick);
    uv_timer_stop(&c->kick);
    autoscale_stop(c);
  } else {
    router_threads_join();
    router_sync_stop(c); /* the last report carries every thread's */
  }
  uv_signal_stop(&sigterm);
  uv_signal_stop(&sigint);
  uv_signal_stop(&sighup);
  berth_log(copies ? BERTH_LOG_WARN : BERTH_LOG_INFO, "stopped%s", copies ? " (some copies did not exit in time)" : "");
  uv_stop(c->loop);
}

static void on_server_closed(void *ud) {
  (void)ud;
  /* Joined agents' copies on a shared store outlive this controller: the
   * next leader adopts them. Local instances are this host's and stop. */
  if (--servers_open == 0 && !controller.router_mode &&
      !(controller.leader && controller.pool)) {
    ctl_stop_all(&controller);
    local_agent_stop_all(&controller); /* each stops its copies and exits */
  }
}

static void on_signal(uv_signal_t *s, int signum) {
  ctl *c = s->data;
  if (c->shutting_down) {
    berth_log(BERTH_LOG_WARN, "second signal %d: exiting now", signum);
    exit(1);
  }
  c->shutting_down = 1;
  shutdown_started = uv_now(c->loop);
  servers_open = 1 + (c->agent_listener != NULL);
  if (c->agent_listener) berth_http_server_close(c->agent_listener, on_server_closed, c);
  if (c->router_mode) {
    berth_log(BERTH_LOG_INFO, "signal %d: finishing in-flight requests", signum);
    for (ic *x = c->ics; x; x = x->next) router_expire_waiting(c, x); /* 503: retry */
    berth_http_server_close(c->runtime, on_server_closed, c);
    router_threads_stop();
  } else {
    berth_log(BERTH_LOG_INFO, "signal %d: stopping copies", signum);
    pool_wake(c, 1);    /* held agent syncs end now, not when their wait does */
    routing_wake(c, 1); /* and held router polls */
    berth_http_server_close(c->control, on_server_closed, c);
  }
  uv_timer_init(c->loop, &shutdown_timer);
  uv_timer_start(&shutdown_timer, on_shutdown_poll, 50, 50);
}

static void on_hup(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  if (!tls) return;
  char err[512];
  if (berth_tls_server_reload(tls, err, sizeof err) < 0)
    berth_log(BERTH_LOG_WARN, "SIGHUP: kept the TLS certificate in use: %s", err);
  else
    berth_log(BERTH_LOG_INFO, "SIGHUP: reloaded %s and %s for new connections", config.tls_cert,
              config.tls_key);
}

/* TLS contexts from the flags, before any listener opens. */
static int tls_setup(void) {
  char err[512];
  if (config.tls_cert && berth_tls_server_new(config.tls_cert, config.tls_key, &tls, err,
                                              sizeof err) < 0) {
    berth_log(BERTH_LOG_ERROR, "--tls-cert/--tls-key: %s", err);
    return -1;
  }
  /* A router's https controller, or the leader a standby passes calls to. */
  if (((config.controller_url && strncmp(config.controller_url, "https://", 8) == 0) ||
       config.store) &&
      berth_tls_client_new(config.ca_file, &ca, err, sizeof err) < 0) {
    berth_log(BERTH_LOG_ERROR, "--ca-file: %s", err);
    return -1;
  }
  return 0;
}

static int make_dirs(const char *dir) {
  char path[1200];
  const char *subs[] = {"", "/logs", "/artifacts"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", dir, subs[i]);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      berth_log(BERTH_LOG_ERROR, "cannot create %s: %s", path, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* Raises the soft descriptor limit to the hard one and splits it: the
 * runtime port gets the most, the control port a share of its own (so
 * /healthz, the API and agents get through whatever the runtime port
 * holds), and a reserve stays for copies' connections, pipes, logs and
 * the store. */
static void plan_descriptors(void) {
  struct rlimit rl;
  rlim_t n = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
    if (rl.rlim_cur < want) {
      rl.rlim_cur = want;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    n = rl.rlim_cur;
  }
  size_t usable = n > 128 ? (size_t)n - 64 : 64;
  /* Every runtime request also holds a connection to its copy. */
  budget.runtime = usable * 45 / 100;
  budget.control = usable / 10 < 16 ? 16 : usable / 10;
  if (budget.runtime > 65536) budget.runtime = 65536;
  if (budget.control > 4096) budget.control = 4096;
  budget.runtime_per_client = budget.runtime / 2;
}

/* port >= 0 replaces addr's (a router thread joins the port the first
 * one bound, which may have been 0); reuse_port: SO_REUSEPORT. */
static int listen_on(ctl *c, const char *flag, const char *addr, int port_given, int reuse_port,
                     berth_http_handler handler, berth_http_error_formatter fmt,
                     size_t max_conns, size_t per_client, uint64_t max_buffered,
                     berth_http_server **out) {
  char host[256];
  int port;
  if (parse_listen(flag, addr, host, sizeof host, &port)) return -1;
  if (port_given >= 0) port = port_given;
  berth_http_server_config sc = {0};
  sc.handler = handler;
  sc.ud = c;
  sc.format_error = fmt;
  sc.max_body_bytes = ROUTER_MAX_BODY;
  sc.body_timeout_ms = (uint64_t)(c->body_timeout_s * 1000);
  sc.max_connections = max_conns;
  sc.max_connections_per_peer = per_client;
  sc.max_buffered_bytes = max_buffered;
  sc.tls = tls;
  sc.plain_from_loopback = 1; /* the roles of this berthd, on this host */
  sc.reuse_port = reuse_port;
  int rc = berth_http_server_listen(c->loop, host, port, &sc, out);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot listen on %s (%s): %s", addr, flag, uv_strerror(rc));
    return -1;
  }
  return 0;
}

static uint64_t runtime_buffered;
static int listen_failed;
static int router_threads = 1;

/* One router thread's listener: the budgets are split between them, each
 * keeping room for one largest body (--max-buffered-mb's floor). */
static int listen_runtime(ctl *c, int port) {
  size_t n = (size_t)router_threads;
  uint64_t buffered = runtime_buffered / n;
  if (buffered < MIN_BUFFERED_BYTES) buffered = MIN_BUFFERED_BYTES;
  return listen_on(c, "--runtime-listen", config.runtime_listen, port, n > 1, router_on_request,
                   router_format_error, (budget.runtime + n - 1) / n,
                   (budget.runtime_per_client + n - 1) / n, buffered, &c->runtime);
}

/* The router serves once it has the controller's routing state. */
static void on_first_snapshot(ctl *c) {
  if (listen_runtime(c, -1) ||
      router_threads_start(c, router_threads - 1, berth_http_server_port(c->runtime),
                           listen_runtime)) {
    listen_failed = 1;
    uv_stop(c->loop);
    return;
  }
  supervised_ready();
  berth_log(BERTH_LOG_INFO, "version %s, runtime API on http://%s (%d thread%s), routing from %s",
            BERTH_VERSION, config.runtime_listen, router_threads, router_threads > 1 ? "s" : "",
            config.controller_url);
}

/* The router token: given (berthd up generates one per start), or kept in
 * DATA_DIR/router-token (0600) for routers started on their own. */
static int router_token_of(ctl *c, const char *given) {
  if (given && given[0]) {
    snprintf(c->router_token, sizeof c->router_token, "%s", given);
    return 0;
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/router-token", c->data_dir);
  if (berth_secret_read(path, c->router_token, sizeof c->router_token) > 0) return 0;
  int rc = -EIO;
  if (berth_secret_random(c->router_token, 48, BERTH_HEX_DIGITS) == 0)
    rc = berth_secret_write(path, c->router_token);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot make %s: %s", path, strerror(-rc));
    return -1;
  }
  berth_log(BERTH_LOG_INFO, "routers authenticate with the token in %s", path);
  return 0;
}

static int loopback(const char *host) {
  return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
         strcmp(host, "localhost") == 0;
}

/* What reaches this role's listener from outside: without TLS a
 * non-loopback address needs --insecure-listen (signatures protect
 * integrity, not the bodies), and --auth none needs loopback. */
static int check_listener(role r, const char *flag, const char *addr);

static int check_exposure(role r) {
  if (r == ROLE_CONTROLLER && config.agent_listen &&
      check_listener(r, "--agent-listen", config.agent_listen))
    return -1;
  char host[256];
  int port;
  const char *inner_flag = config.agent_listen ? "--agent-listen" : "--control-listen";
  const char *inner = config.agent_listen ? config.agent_listen : config.control_listen;
  if (r == ROLE_CONTROLLER && config.tls_cert &&
      (strcmp(config.provider, "local") == 0 || getenv("BERTH_SUPERVISOR_PID")) &&
      parse_listen(inner_flag, inner, host, sizeof host, &port) == 0 && host[0] &&
      !loopback(host) && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0) {
    /* They speak plain HTTP over loopback, which this listener never sees. */
    fprintf(stderr, "berthd: with --tls-cert, %s %s (a non-loopback address) leaves the router "
            "and the local agents no loopback way in: %s, or listen on 0.0.0.0\n", inner_flag,
            inner, config.agent_listen ? "give --agent-listen a loopback address"
                                       : "add --agent-listen 127.0.0.1:PORT for them");
    return -1;
  }
  return r == ROLE_ROUTER ? check_listener(r, "--runtime-listen", config.runtime_listen)
                          : check_listener(r, "--control-listen", config.control_listen);
}

static int check_listener(role r, const char *flag, const char *addr) {
  const char *who = r == ROLE_ROUTER ? "berthd router" : "berthd";
  char host[256];
  int port;
  if (parse_listen(flag, addr, host, sizeof host, &port)) return -1;
  if (!config.auth || strcmp(config.auth, "sigv4") == 0) {
    controller.auth_off = 0;
  } else if (strcmp(config.auth, "none") == 0) {
    if (!loopback(host)) {
      fprintf(stderr, "%s: --auth none serves everyone who reaches %s %s unchecked, so it "
              "runs only on a loopback address (127.0.0.1, ::1); drop --auth none to have "
              "every call signed\n", who, flag, addr);
      return -1;
    }
    controller.auth_off = 1;
  } else {
    fprintf(stderr, "%s: --auth '%s' must be sigv4 or none\n", who, config.auth);
    return -1;
  }
  if (!config.tls_cert != !config.tls_key) {
    fprintf(stderr, "%s: --tls-cert and --tls-key go together (the certificate chain and "
            "its private key, PEM)\n", who);
    return -1;
  }
  if (!loopback(host) && !config.tls_cert) {
    if (!config.insecure_listen) {
      fprintf(stderr, "%s: %s %s is not a loopback address and no --tls-cert/--tls-key are "
              "given: request bodies, answers and agent tokens would cross the network in "
              "clear text. Give --tls-cert FILE --tls-key FILE, or --insecure-listen to accept "
              "plain HTTP there\n", who, flag, addr);
      return -1;
    }
    berth_log(BERTH_LOG_WARN, "%s %s serves plain HTTP on a non-loopback address "
              "(--insecure-listen): anyone on the network can read requests and answers",
              flag, addr);
  }
  return 0;
}

/* Where --allow-exec and --copy-user values land while flags are read. */
static const char *copy_flag;
/* --artifact-cache-mb: local agents get it (local_agent.c). */
static const char *artifact_cache_mb_flag;
static const char *forecast_flag, *forecast_season_flag, *forecast_horizon_flag;
/* --log-retention-mb: local agents get it (local_agent.c). */
static const char *log_retention_mb_flag;
/* --access-log FILE|-: the router's (access_log.h); the controller ignores it. */
static const char *access_log_flag;
/* --provider exec: its hooks and deadlines (exec_provider.h). */
static struct {
  const char *create, *del, *join_timeout, *hook_timeout, *join_url;
} exec_flags;

/* Loads the state and starts deciding: at once on a store of its own, or
 * when this controller wins the lead of a shared one. */
static int lead(ctl *c) {
  if (keys_load(c) || ctl_load(c)) {
    berth_log(BERTH_LOG_ERROR, "cannot load state from %s",
              store_shared(c->db) ? "the PostgreSQL store" : "DATA_DIR/berth.db");
    return -1;
  }
  if (!c->auth_off && keys_first_start(c)) return -1;
  ctl_start(c);
  autoscale_start(c);
  c->leads = 1;
  berth_log(BERTH_LOG_INFO, "version %s, control API on http://%s, data in %s", BERTH_VERSION,
            config.control_listen, store_shared(c->db) ? "PostgreSQL" : c->data_dir);
  return 0;
}

/* What the other controllers tell clients this one is reached at: the
 * control listener, with a wildcard address made this host's loopback
 * (say --advertise-url for clients elsewhere: docs/high-availability.md). */
static void advertised_url(ctl *c, char *out, size_t outsz) {
  if (config.advertise_url) {
    snprintf(out, outsz, "%s", config.advertise_url);
    return;
  }
  char host[256];
  int port;
  parse_listen("--control-listen", config.control_listen, host, sizeof host, &port);
  if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
    snprintf(host, sizeof host, "127.0.0.1");
  snprintf(out, outsz, "%s://%.200s:%d", tls ? "https" : "http", host,
           berth_http_server_port(c->control));
}

static void on_lead(void *ud) {
  ctl *c = ud;
  if (c->shutting_down) return;
  berth_log(BERTH_LOG_INFO, "leads the controllers sharing its store: loading state");
  if (lead(c)) exit(1);
}

/* A controller that lost the lead holds state others now change: it
 * exits, and whoever runs it (berthd up, systemd) starts it again as a
 * standby. */
static void on_lost(void *ud) {
  (void)ud;
  berth_log(BERTH_LOG_ERROR, "lost the lead: another controller leads the store now (or it "
            "could not renew its lease for %d s); exiting to start again as a standby",
            LEADER_LEASE_S);
  _exit(3);
}

static void on_fenced(void *ud) {
  on_lost(ud);
}

static int cmd_role(role r, int argc, char **argv) {
  supervised_start();
  for (int i = 0; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--data-dir") == 0) slot = &config.data_dir;
    else if (strcmp(argv[i], "--store") == 0) slot = &config.store;
    else if (strcmp(argv[i], "--advertise-url") == 0) slot = &config.advertise_url;
    else if (strcmp(argv[i], "--control-listen") == 0) slot = &config.control_listen;
    else if (strcmp(argv[i], "--runtime-listen") == 0) slot = &config.runtime_listen;
    else if (strcmp(argv[i], "--catalog") == 0) slot = &config.catalog;
    else if (strcmp(argv[i], "--scale-profile") == 0) slot = &config.scale_profile;
    else if (strcmp(argv[i], "--scale-in-window") == 0) slot = &config.scale_in_window;
    else if (strcmp(argv[i], "--wake-queue") == 0) slot = &config.wake_queue;
    else if (strcmp(argv[i], "--wake-timeout") == 0) slot = &config.wake_timeout;
    else if (strcmp(argv[i], "--instance-cooldown") == 0) slot = &config.instance_cooldown;
    else if (strcmp(argv[i], "--provider") == 0) slot = &config.provider;
    else if (strcmp(argv[i], "--agent-token") == 0) slot = &config.agent_token;
    else if (strcmp(argv[i], "--instance-create") == 0) slot = &exec_flags.create;
    else if (strcmp(argv[i], "--instance-delete") == 0) slot = &exec_flags.del;
    else if (strcmp(argv[i], "--instance-join-timeout") == 0) slot = &exec_flags.join_timeout;
    else if (strcmp(argv[i], "--instance-hook-timeout") == 0) slot = &exec_flags.hook_timeout;
    else if (strcmp(argv[i], "--instance-join-url") == 0) slot = &exec_flags.join_url;
    else if (strcmp(argv[i], "--invocation-timeout") == 0) slot = &config.invocation_timeout;
    else if (strcmp(argv[i], "--stream-timeout") == 0) slot = &config.stream_timeout;
    else if (strcmp(argv[i], "--health-interval") == 0) slot = &config.health_interval;
    else if (strcmp(argv[i], "--artifact-cache-mb") == 0) slot = &artifact_cache_mb_flag;
    else if (strcmp(argv[i], "--forecast") == 0) slot = &forecast_flag;
    else if (strcmp(argv[i], "--forecast-season") == 0) slot = &forecast_season_flag;
    else if (strcmp(argv[i], "--forecast-horizon") == 0) slot = &forecast_horizon_flag;
    else if (strcmp(argv[i], "--log-retention-mb") == 0) slot = &log_retention_mb_flag;
    else if (strcmp(argv[i], "--access-log") == 0) slot = &access_log_flag;
    else if (strcmp(argv[i], "--body-timeout") == 0) slot = &config.body_timeout;
    else if (strcmp(argv[i], "--max-buffered-mb") == 0) slot = &config.max_buffered_mb;
    else if (strcmp(argv[i], "--max-connections") == 0) slot = &config.max_connections;
    else if (strcmp(argv[i], "--max-connections-per-client") == 0)
      slot = &config.max_connections_per_client;
    else if (strcmp(argv[i], "--log-level") == 0) slot = &config.log_level;
    else if (strcmp(argv[i], "--router-token") == 0) slot = &config.router_token;
    else if (strcmp(argv[i], "--allow-exec") == 0 || strcmp(argv[i], "--copy-user") == 0 ||
             strcmp(argv[i], "--allow-artifact-dir") == 0)
      slot = &copy_flag; /* copy_policy_from_args reads them */
    else if (strcmp(argv[i], "--auth") == 0) slot = &config.auth;
    else if (strcmp(argv[i], "--tls-cert") == 0) slot = &config.tls_cert;
    else if (strcmp(argv[i], "--tls-key") == 0) slot = &config.tls_key;
    else if (strcmp(argv[i], "--ca-file") == 0) slot = &config.ca_file;
    else if (strcmp(argv[i], "--agent-listen") == 0) slot = &config.agent_listen;
    else if (strcmp(argv[i], "--router-threads") == 0) slot = &config.router_threads;
    else if (strcmp(argv[i], "--insecure-listen") == 0) {
      config.insecure_listen = 1;
      continue;
    }
    else if (strcmp(argv[i], "--controller") == 0 && r == ROLE_ROUTER) slot = &config.controller_url;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "berthd up: unknown flag '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "berthd up: %s needs a value\n", argv[i]);
      return 2;
    }
    *slot = argv[++i];
  }
  ctl *c = &controller;
  if (berth_log_setup(r == ROLE_ROUTER ? "berthd router" : "berthd", config.log_level,
                      "berthd up"))
    return 2;
  if (check_exposure(r)) return 2;
  if (strcmp(config.scale_profile, "fast") == 0)
    c->profile = SCALE_PROFILE_FAST;
  else if (strcmp(config.scale_profile, "aws") == 0)
    c->profile = SCALE_PROFILE_AWS;
  else {
    fprintf(stderr, "berthd up: --scale-profile '%s' must be fast or aws\n", config.scale_profile);
    return 2;
  }
  if (parse_number("--scale-in-window", config.scale_in_window, 1, 86400, &c->scale_in_window_s) ||
      parse_number("--wake-timeout", config.wake_timeout, 1, 3600, &c->wake_timeout_s) ||
      parse_number("--instance-cooldown", config.instance_cooldown, 0, 86400,
                   &c->instance_cooldown_s) ||
      parse_number("--invocation-timeout", config.invocation_timeout, 1, 3600,
                   &c->invocation_timeout_s) ||
      parse_number("--stream-timeout", config.stream_timeout, 1, 86400, &c->stream_timeout_s) ||
      parse_number("--health-interval", config.health_interval, 0.1, 3600,
                   &c->health_interval_s) ||
      (artifact_cache_mb_flag && parse_number("--artifact-cache-mb", artifact_cache_mb_flag, 1,
                                              1e9, &c->artifact_cache_mb)) ||
      parse_number("--body-timeout", config.body_timeout, 1, 3600, &c->body_timeout_s))
    return 2;
  c->forecast_season_s = 86400;
  if (forecast_flag && strcmp(forecast_flag, "off") == 0)
    c->forecast_season_s = 0;
  else if (forecast_flag && strcmp(forecast_flag, "on") != 0) {
    fprintf(stderr, "berthd up: --forecast '%s' must be on or off\n", forecast_flag);
    return 2;
  }
  if ((c->forecast_season_s > 0 && forecast_season_flag &&
       parse_number("--forecast-season", forecast_season_flag, FORECAST_SEASON_MIN_S,
                    FORECAST_SEASON_MAX_S, &c->forecast_season_s)) ||
      (forecast_horizon_flag &&
       parse_number("--forecast-horizon", forecast_horizon_flag, 0, 86400, &c->forecast_horizon_s)))
    return 2;
  if (log_retention_mb_flag) {
    double mb;
    if (parse_number("--log-retention-mb", log_retention_mb_flag, 1, 1048576, &mb)) return 2;
    if (mb != (double)(int64_t)mb) {
      fprintf(stderr, "berthd up: --log-retention-mb '%s' must be a whole number of MiB\n",
              log_retention_mb_flag);
      return 2;
    }
    c->log_retention_mb = (int64_t)mb;
  }
  double buffered_mb;
  if (parse_number("--max-buffered-mb", config.max_buffered_mb, 7, 1048576, &buffered_mb))
    return 2;
  plan_descriptors();
  double v;
  if (config.max_connections) {
    if (parse_number("--max-connections", config.max_connections, 1, 1048576, &v)) return 2;
    budget.runtime = (size_t)v;
    budget.runtime_per_client = budget.runtime / 2;
  }
  if (config.max_connections_per_client) {
    if (parse_number("--max-connections-per-client", config.max_connections_per_client, 1,
                     1048576, &v))
      return 2;
    budget.runtime_per_client = (size_t)v;
  }
  /* Large buffers go back to the system when freed, so memory held for a
   * burst of big bodies is returned after it (glibc would otherwise raise
   * its mmap threshold and keep them in the heap). */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  int exec_provider = strcmp(config.provider, "exec") == 0;
  double join_timeout_s = EXEC_JOIN_TIMEOUT_S, hook_timeout_s = EXEC_HOOK_TIMEOUT_S;
  if (strcmp(config.provider, "pool") == 0 || exec_provider) {
    c->pool = 1; /* exec instances are joined agents too */
  } else if (strcmp(config.provider, "local") != 0) {
    fprintf(stderr, "berthd up: --provider '%s' must be local, pool or exec\n", config.provider);
    return 2;
  }
  if (exec_provider && r == ROLE_CONTROLLER &&
      ((exec_flags.join_timeout && parse_number("--instance-join-timeout",
                                                exec_flags.join_timeout, 1, 86400,
                                                &join_timeout_s)) ||
       (exec_flags.hook_timeout && parse_number("--instance-hook-timeout",
                                                exec_flags.hook_timeout, 1, 86400,
                                                &hook_timeout_s))))
    return 2;
  if (exec_provider && r == ROLE_CONTROLLER && (!exec_flags.create || !exec_flags.del)) {
    fprintf(stderr, "berthd up: --provider exec needs --instance-create CMD and "
            "--instance-delete CMD (docs/providers.md)\n");
    return 2;
  }
  const char *token = config.agent_token ? config.agent_token : getenv("BERTH_AGENT_TOKEN");
  if (token) snprintf(c->agent_token, sizeof c->agent_token, "%s", token);
  if (c->pool && !exec_provider && !c->agent_token[0]) {
    fprintf(stderr, "berthd up: --provider pool needs --agent-token (or BERTH_AGENT_TOKEN) so "
            "that only your agents can join\n");
    return 2;
  }
  double q;
  if (parse_number("--wake-queue", config.wake_queue, 0, 100000, &q)) return 2;
  c->wake_queue_max = (int)q;
  c->loop = uv_default_loop();
  c->loop->data = c;
  snprintf(c->region, sizeof c->region, "%s", getenv("AWS_REGION") ? getenv("AWS_REGION")
                                                                   : "us-east-1");
  snprintf(c->account, sizeof c->account, "000000000000");
  signal(SIGPIPE, SIG_IGN);
  c->client = berth_http_client_new(c->loop, 64);
  uv_signal_init(c->loop, &sigterm);
  uv_signal_init(c->loop, &sigint);
  sigterm.data = sigint.data = c;
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_init(c->loop, &sighup);
  uv_signal_start(&sighup, on_hup, SIGHUP);
  if (tls_setup()) return 1;
  const char *rtoken = config.router_token ? config.router_token : getenv("BERTH_ROUTER_TOKEN");
  if (r == ROLE_ROUTER) {
    if (!config.controller_url || !rtoken || !rtoken[0]) {
      fprintf(stderr, "berthd router: --controller http://HOST:PORT and --router-token (or "
              "BERTH_ROUTER_TOKEN) are required\n");
      return 2;
    }
    unsetenv("BERTH_ROUTER_TOKEN");
    runtime_buffered = (uint64_t)(buffered_mb * 1024 * 1024);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double threads = cores < 1 ? 1 : cores > ROUTER_MAX_THREADS ? ROUTER_MAX_THREADS : cores;
    if (config.router_threads &&
        parse_number("--router-threads", config.router_threads, 1, ROUTER_MAX_THREADS, &threads))
      return 2;
    if (threads != (int)threads) {
      fprintf(stderr, "berthd router: --router-threads '%s' must be a whole number\n",
              config.router_threads);
      return 2;
    }
    router_threads = (int)threads;
    int arc = access_log_flag ? access_log_open(access_log_flag) : 0;
    if (arc) {
      fprintf(stderr, "berthd router: --access-log '%s' cannot be opened for appending: %s\n",
              access_log_flag, strerror(-arc));
      return 2;
    }
    if (router_sync_start(c, config.controller_url, rtoken, ca, on_first_snapshot)) {
      fprintf(stderr, "berthd router: --controller '%s' must be http://HOST:PORT or "
              "https://HOST:PORT of the controller's control API\n", config.controller_url);
      return 2;
    }
    uv_run(c->loop, UV_RUN_DEFAULT);
    berth_http_client_free(c->client);
    return listen_failed ? 1 : 0;
  }
  {
    char perr[1200];
    int prc = copy_policy_from_args(&c->policy, argc, argv, perr, sizeof perr);
    if (prc < 0) {
      fprintf(stderr, "berthd: %s\n", perr);
      return 2;
    }
    if (prc > 0) berth_log(BERTH_LOG_WARN, "%s", perr);
  }
  if (make_dirs(config.data_dir)) return 1;
  if (ctl_set_data_dir(c, config.data_dir)) return 1;
  ctl_open_copy_dirs(c);
  if (router_token_of(c, rtoken)) return 1;
  unsetenv("BERTH_ROUTER_TOKEN"); /* copies must not inherit it */
  ssize_t n = readlink("/proc/self/exe", c->self_exe, sizeof c->self_exe - 1);
  if (n <= 0) {
    berth_log(BERTH_LOG_ERROR, "cannot find its own executable: %s", strerror(errno));
    return 1;
  }
  c->self_exe[n] = '\0';
  snprintf(c->model_exe, sizeof c->model_exe, "%.1000s", c->self_exe);
  char *slash = strrchr(c->model_exe, '/');
  snprintf(slash + 1, sizeof c->model_exe - (size_t)(slash + 1 - c->model_exe), "berth-model");
  char err[512];
  if (berth_catalog_load(config.catalog, &c->catalog, err, sizeof err)) {
    berth_log(BERTH_LOG_ERROR, "%s", err);
    return 1;
  }
  if (store_open(c->loop, config.store, c->data_dir, &c->db, err, sizeof err)) {
    berth_log(BERTH_LOG_ERROR, "%s", err);
    return 1;
  }
  c->control_tls = tls != NULL; /* the console's cookie is Secure then */
  if (listen_on(c, "--control-listen", config.control_listen, -1, 0, api_on_request,
                api_format_error, budget.control, 0, 0, &c->control))
    return 1;
  if (config.agent_listen &&
      listen_on(c, "--agent-listen", config.agent_listen, -1, 0, api_on_agent_request,
                api_format_error, budget.control, 0, 0, &c->agent_listener))
    return 1;
  {
    /* Local agents reach the controller here (their own listener if any). */
    char host[256];
    int port;
    const char *flag = config.agent_listen ? "--agent-listen" : "--control-listen";
    parse_listen(flag, config.agent_listen ? config.agent_listen : config.control_listen, host,
                 sizeof host, &port);
    if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
      snprintf(host, sizeof host, "127.0.0.1");
    snprintf(c->control_url, sizeof c->control_url, "http://%.64s:%d", host,
             berth_http_server_port(c->agent_listener ? c->agent_listener : c->control));
    snprintf(c->log_level, sizeof c->log_level, "%s", config.log_level);
  }
  if (exec_provider) {
    exec_config ec = {exec_flags.create, exec_flags.del, exec_flags.join_url, join_timeout_s,
                      hook_timeout_s, pool_lose};
    if (exec_provider_init(c, &ec)) return 2;
  }
  supervised_ready(); /* the control port listens */
  c->alarm_fired = alarms_fired; /* rolling updates ask it (rollout.h) */
  if (!store_shared(c->db)) {
    if (lead(c)) return 1;
  } else {
    char url[300];
    advertised_url(c, url, sizeof url);
    int leads = leader_start(c->loop, config.store, c->data_dir, url, c->db, on_lead, on_lost, c,
                             &c->leader, err, sizeof err);
    if (leads < 0) {
      berth_log(BERTH_LOG_ERROR, "%s", err);
      return 1;
    }
    store_on_fenced(c->db, on_fenced, c);
    c->peer_tls = ca;
    if (leads) {
      berth_log(BERTH_LOG_INFO, "leads the controllers sharing its store");
      if (lead(c)) return 1;
    } else {
      berth_log(BERTH_LOG_INFO, "version %s, control API on http://%s: a standby until it "
                "leads the controllers sharing its PostgreSQL store", BERTH_VERSION,
                config.control_listen);
    }
  }
  uv_run(c->loop, UV_RUN_DEFAULT);
  berth_http_client_free(c->client);
  store_close(c->db);
  leader_stop(c->leader); /* after the last commit: a standby leads at once */
  ctl_free_state(c);
  console_free(c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "up") == 0) {
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      fprintf(stderr, "berthd: cannot find its own executable: %s\n", strerror(errno));
      return 1;
    }
    self[n] = '\0';
    return supervisor_main(self, argc - 2, argv + 2);
  }
  if (strcmp(argv[1], "controller") == 0) return cmd_role(ROLE_CONTROLLER, argc - 2, argv + 2);
  if (strcmp(argv[1], "router") == 0) return cmd_role(ROLE_ROUTER, argc - 2, argv + 2);
  if (strcmp(argv[1], "copy-exec") == 0) return copy_shim_main(argc - 2, argv + 2);
  if (strcmp(argv[1], "artifact-fetch") == 0) return artifact_fetch_main(argc - 2, argv + 2);
  if (strcmp(argv[1], "agent") == 0) return agent_main(argc - 2, argv + 2);
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("berthd %s\n", BERTH_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "berthd: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
