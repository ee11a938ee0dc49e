/* agent: copy processes on local instances.
 *
 * DESIGN: a copy owns up to three libuv handles (process, output pipe,
 * timer) and one health-check call. It is unlinked from its IC when it is
 * finished with (stopped, or forgotten before it ran) and freed only when
 * every handle has been closed, every call has ended (open_handles == 0)
 * and no router request points at it (inflight == 0), so no callback ever
 * sees freed memory. A dead copy's callbacks never touch its IC.
 *
 * A copy is its process group: when the main process exits, whatever it
 * left running (the server behind a shell wrapper) is killed with it, so
 * no orphan keeps a port, memory or a device, or answers for a copy that
 * is gone. Ready copies are pinged every --health-interval; a copy that
 * fails HEALTH_OUT checks in a row leaves rotation until it passes again,
 * and one that fails HEALTH_RESTART in a row is killed and restarted. */
#include "berth/log.h"
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent_devices.h"
#include "artifact.h"
#include "container.h"
#include "image_pull.h"
#include "copy_limits.h"
#include "copy_shim.h"
#include "copy_sleep.h"
#include "agent_state.h"
#include "metrics.h"

#define HEALTH_INTERVAL_MS 200
#define PING_TIMEOUT_MS 2000
#define STOP_GRACE_MS 30000
#define BACKOFF_MAX_MS 60000
#define HEALTH_OUT 3
#define HEALTH_RESTART 12
#define HEALTH_DEFAULT_INTERVAL_S 5.0

extern char **environ;

static void on_handle_closed(uv_handle_t *h);

static void maybe_free(copy *cp) {
  if (cp->dead && cp->open_handles == 0 && cp->inflight == 0) copy_free(cp);
}

static void close_handle(copy *cp, uv_handle_t *h) {
  if (!h || uv_is_closing(h)) return;
  h->data = cp;
  uv_close(h, on_handle_closed);
}

static void on_handle_closed(uv_handle_t *h) {
  copy *cp = h->data;
  free(h);
  cp->open_handles--;
  maybe_free(cp);
}

/* Unlinks the copy from its IC, releases its reservation and closes its
 * handles; memory goes when the last handle is closed. */
static void copy_remove(ctl *c, copy *cp) {
  ic *x = cp->owner;
  /* Only a router's requests point at a copy; the controller's count is
   * what routers report. */
  if (!c->router_mode) cp->inflight = 0;
  for (copy **pp = &x->copies; *pp; pp = &(*pp)->next)
    if (*pp == cp) {
      *pp = cp->next;
      break;
    }
  ctl_copy_release(cp); /* its need, or its memory while it sleeps */
  cp->inst = NULL;
  if (cp->ping) berth_http_call_cancel(cp->ping);
  if (cp->sleep_call) berth_http_call_cancel(cp->sleep_call);
  close_handle(cp, (uv_handle_t *)cp->timer);
  close_handle(cp, (uv_handle_t *)cp->out);
  cp->timer = NULL;
  cp->out = NULL;
  artifact_release(c, cp->model_dir); /* the cache may evict it now */
  cp->model_dir[0] = '\0';
  cp->dead = 1;
  maybe_free(cp);
  agent_state_save(c);
  ctl_kick(c);
}

static uv_timer_t *copy_timer(ctl *c, copy *cp) {
  if (!cp->timer) {
    cp->timer = berth_xcalloc(1, sizeof *cp->timer);
    uv_timer_init(c->loop, cp->timer);
    cp->timer->data = cp;
    cp->open_handles++;
  }
  return cp->timer;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* ---- output capture ---- */

static void log_output(copy *cp, const char *data, size_t len) {
  /* The tail keeps the last bytes for failure reasons. */
  if (len >= sizeof cp->tail) {
    memcpy(cp->tail, data + len - sizeof cp->tail, sizeof cp->tail);
    cp->tail_len = sizeof cp->tail;
  } else {
    size_t keep = sizeof cp->tail - len;
    if (cp->tail_len > keep) {
      memmove(cp->tail, cp->tail + cp->tail_len - keep, keep);
      cp->tail_len = keep;
    }
    memcpy(cp->tail + cp->tail_len, data, len);
    cp->tail_len += len;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[16384];
  buf->base = slab;
  buf->len = sizeof slab;
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  copy *cp = s->data;
  if (n > 0 && !cp->dead) log_output(cp, buf->base, (size_t)n);
  if (n < 0) uv_read_stop(s);
}

/* The last lines of output, for a FailureReason. */
static void tail_lines(const copy *cp, char *out, size_t outsz) {
  size_t len = cp->tail_len;
  while (len && (cp->tail[len - 1] == '\n' || cp->tail[len - 1] == '\r')) len--;
  size_t start = len;
  int lines = 0;
  while (start > 0 && len - start < 600) {
    if (cp->tail[start - 1] == '\n' && ++lines == 5) break;
    start--;
  }
  snprintf(out, outsz, "%.*s", (int)(len - start), cp->tail + start);
  for (char *p = out; *p; p++)
    if (*p == '\n') *p = '|';
}

/* ---- lifecycle ---- */

static void launch(ctl *c, copy *cp);
static void schedule_health(ctl *c, copy *cp);

static void fail_start(ctl *c, copy *cp, const char *what) {
  char tail[700], why[1800];
  tail_lines(cp, tail, sizeof tail);
  snprintf(why, sizeof why, "Copy %lld of inference component %s %s.%s%s%s", (long long)cp->id,
           cp->owner->name, what, tail[0] ? " Last output: \"" : "", tail,
           tail[0] ? "\"" : "");
  berth_log(BERTH_LOG_ERROR, "%s", why);
  /* The controller decides what a failure means; it hears on the next
   * sync. */
  json_array_append_new(c->failed_reports,
                        json_pack("{s:I,s:s}", "id", (json_int_t)cp->id, "message", why));
}

static void on_backoff_done(uv_timer_t *t) {
  copy *cp = t->data;
  ctl *c = cp->ctl;
  if (cp->state != COPY_BACKOFF) return;
  launch(c, cp);
}

static void restart_later(ctl *c, copy *cp) {
  uint64_t delay = 1000;
  for (int i = 0; i < cp->restarts && delay < BACKOFF_MAX_MS; i++) delay *= 2;
  if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
  cp->restarts++;
  cp->state = COPY_BACKOFF;
  berth_log(BERTH_LOG_WARN, "%s: copy %lld restarts in %llu ms (restart %d)", cp->owner->name,
          (long long)cp->id, (unsigned long long)delay, cp->restarts);
  uv_timer_start(copy_timer(c, cp), on_backoff_done, delay, 0);
  ctl_kick(c);
}

static void container_of(ctl *c, const copy *cp, const char **image, const char **artifact,
                         json_t **env);

/* podman and docker exit 125 when they could not run the container at all
 * (its Image was pulled before, image_pull.h): their "Error: " line says
 * why. */
static int engine_failure(ctl *c, copy *cp, int64_t status, char *out, size_t n) {
  if (!cp->container[0] || status != 125) return 0;
  const char *image, *artifact;
  json_t *env;
  container_of(c, cp, &image, &artifact, &env);
  char tail[sizeof cp->tail + 1];
  memcpy(tail, cp->tail, cp->tail_len);
  tail[cp->tail_len] = '\0';
  const char *err = NULL;
  for (const char *p = strstr(tail, "Error: "); p; p = strstr(p + 1, "Error: ")) err = p + 7;
  char line[800] = "no reason given";
  if (err) snprintf(line, sizeof line, "%.*s", (int)strcspn(err, "\r\n"), err);
  snprintf(out, n, "could not start its Image \"%s\" (%s: %s)", image ? image : "",
           c->engine.name, line);
  if (err) cp->tail_len = 0; /* the reason quotes it: no "Last output" */
  return 1;
}

/* The shim of a copy exited with the server's status (its parent sees it
 * directly; an adopting agent reads it from the exit file). */
static void copy_exited(ctl *c, copy *cp, int64_t status, int sig) {
  /* The group outlives its leader only through orphans: end them too. */
  if (cp->pid) uv_kill(-cp->pid, SIGKILL);
  cp->pid = 0;
  /* A killed engine may leave its container running: it goes too (a
   * restart makes a new one). */
  container_remove(c, cp->container);
  if (cp->watch) {
    close_handle(cp, (uv_handle_t *)cp->watch); /* stops polling before the fd goes */
    cp->watch = NULL;
    close(cp->pidfd);
  }
  cp->exit_status = (int)status;
  cp->term_signal = sig;
  cp->adopted = 0;
  if (cp->ping) berth_http_call_cancel(cp->ping);
  if (cp->timer) uv_timer_stop(cp->timer);
  if (cp->out) {
    close_handle(cp, (uv_handle_t *)cp->out);
    cp->out = NULL;
  }
  agent_state_save(c);
  char what[320];
  if (sig)
    snprintf(what, sizeof what, "was killed by signal %d", sig);
  else
    snprintf(what, sizeof what, "exited with status %lld", (long long)status);
  /* An engine exits 137 for a container killed with SIGKILL. */
  copy_limits_exited(c, cp, cp->container[0] && status == 137 ? SIGKILL : sig, what,
                     sizeof what); /* names an OOM kill */
  switch (cp->state) {
  case COPY_STARTING: {
    char msg[1200];
    if (!engine_failure(c, cp, status, msg, sizeof msg))
      snprintf(msg, sizeof msg, "%s before it passed the health check (GET /ping)", what);
    if (cp->fail_fast) {
      fail_start(c, cp, msg);
      cp->state = COPY_STOPPING;
      copy_remove(c, cp);
    } else {
      berth_log(BERTH_LOG_WARN, "%s: copy %lld %s", cp->owner->name, (long long)cp->id, msg);
      restart_later(c, cp);
    }
    break;
  }
  case COPY_READY:
    berth_log(BERTH_LOG_WARN, "%s: copy %lld %s while serving", cp->owner->name,
            (long long)cp->id, what);
    restart_later(c, cp);
    break;
  case COPY_SLEEPING:
    copy_sleep_forget(c, cp);
    berth_log(BERTH_LOG_WARN, "%s: copy %lld %s while asleep", cp->owner->name,
              (long long)cp->id, what);
    restart_later(c, cp);
    break;
  case COPY_DRAINING:
  case COPY_STOPPING:
    cp->state = COPY_STOPPING;
    if (cp->inflight == 0) copy_remove(c, cp);
    break;
  default:
    break;
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  copy *cp = p->data;
  close_handle(cp, (uv_handle_t *)p);
  cp->proc = NULL;
  copy_exited(cp->ctl, cp, status, sig);
}

/* An adopted copy's shim exited: its status is in the exit file. */
static void on_adopted_exit(uv_poll_t *w, int status, int events) {
  (void)status;
  (void)events;
  copy *cp = w->data;
  char path[1400];
  copy_exit_path(cp->ctl, cp->id, path, sizeof path);
  long long code = 0;
  int sig = SIGKILL; /* no exit file: it was killed before it could write one */
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%lld %d", &code, &sig) != 2) sig = SIGKILL;
    fclose(f);
  }
  copy_exited(cp->ctl, cp, code, sig);
}

static void on_ping_done(berth_http_call *call, int status, void *ud);
static void on_health_timer(uv_timer_t *t);

static double health_interval_s(const ctl *c) {
  return c->health_interval_s > 0 ? c->health_interval_s : HEALTH_DEFAULT_INTERVAL_S;
}

static void schedule_ready_check(ctl *c, copy *cp) {
  uv_timer_start(copy_timer(c, cp), on_health_timer, (uint64_t)(health_interval_s(c) * 1000), 0);
}

/* The outcome of a ready copy's periodic /ping. */
static void ready_checked(ctl *c, copy *cp, int ok, int err) {
  if (ok) {
    if (cp->unhealthy)
      berth_log(BERTH_LOG_INFO, "%s: copy %lld passes its health check again: back in rotation",
              cp->owner->name, (long long)cp->id);
    int was_out = cp->unhealthy;
    cp->unhealthy = 0;
    cp->ping_failures = 0;
    schedule_ready_check(c, cp);
    if (was_out) ctl_kick(c);
    return;
  }
  cp->ping_failures++;
  if (cp->ping_failures == HEALTH_OUT) {
    cp->unhealthy = 1;
    berth_log(BERTH_LOG_WARN, "%s: copy %lld failed %d health checks in a row (%s): out of "
            "rotation until GET /ping answers 200 again", cp->owner->name, (long long)cp->id,
            HEALTH_OUT, err ? uv_strerror(err) : "status not 200");
    ctl_kick(c);
  }
  if (cp->ping_failures >= HEALTH_RESTART && cp->pid) {
    berth_log(BERTH_LOG_WARN, "%s: copy %lld failed %d health checks in a row: restarting it",
            cp->owner->name, (long long)cp->id, HEALTH_RESTART);
    uv_kill(-cp->pid, SIGKILL); /* on_exit_cb restarts it (it was ready) */
    return;
  }
  schedule_ready_check(c, cp);
}


static void on_ping_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                         void *ud) {
  (void)call;
  (void)h;
  (void)n;
  copy *cp = ud;
  cp->ping_status = status;
}

static void on_ping_body(berth_http_call *call, const char *d, size_t n, void *ud) {
  (void)call;
  (void)d;
  (void)n;
  (void)ud;
}

static const berth_http_call_cb ping_cb = {on_ping_head, on_ping_body, on_ping_done};

static void send_ping(ctl *c, copy *cp) {
  uint64_t timeout = PING_TIMEOUT_MS;
  if (cp->state == COPY_READY && health_interval_s(c) * 1000 < timeout)
    timeout = (uint64_t)(health_interval_s(c) * 1000);
  berth_http_request_opts o = {.host = "127.0.0.1", .port = cp->port, .method = "GET",
                               .target = "/ping", .timeout_ms = timeout};
  if (berth_http_request(c->client, &o, &ping_cb, cp, &cp->ping) == 0)
    cp->open_handles++;
  else if (cp->state == COPY_READY)
    schedule_ready_check(c, cp);
  else
    schedule_health(c, cp);
}

static void on_ping_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  copy *cp = ud;
  ctl *cc = cp->ctl;
  cp->ping = NULL;
  cp->open_handles--;
  int ok = err == 0 && cp->ping_status == 200;
  cp->ping_status = 0;
  if (cp->dead) {
    maybe_free(cp);
    return;
  }
  if (cp->state == COPY_READY) {
    ready_checked(cc, cp, ok, err);
    return;
  }
  if (cp->state != COPY_STARTING) return;
  if (ok) {
    cp->state = COPY_READY;
    cp->adopted = 0;
    cp->ready_ms = uv_now(cc->loop);
    berth_log(BERTH_LOG_INFO, "%s: copy %lld ready on port %d after %llu ms", cp->owner->name,
            (long long)cp->id, cp->port, (unsigned long long)(cp->ready_ms - cp->started_ms));
    if (cp->setup_started_ms) {
      /* Adopted copies have none: their setup happened under another agent. */
      berth_log(BERTH_LOG_INFO, "%s: copy %lld ModelSetupTime %llu ms (artifact, start and "
                "GET /ping)", cp->owner->name, (long long)cp->id,
                (unsigned long long)(cp->ready_ms - cp->setup_started_ms));
      metrics_copy_ready(cp->owner->metrics, (double)(cp->ready_ms - cp->setup_started_ms));
    }
    cp->ping_failures = 0;
    cp->unhealthy = 0;
    schedule_ready_check(cc, cp);
    ctl_kick(cc);
    return;
  }
  schedule_health(cc, cp);
}

void agent_copy_awake(ctl *c, copy *cp) {
  cp->state = COPY_READY;
  cp->unhealthy = 0;
  cp->ping_failures = 0;
  schedule_ready_check(c, cp);
  ctl_kick(c);
}

static void on_health_timer(uv_timer_t *t) {
  copy *cp = t->data;
  ctl *c = cp->ctl;
  if (cp->ping) return;
  if (cp->state == COPY_READY) {
    send_ping(c, cp);
    return;
  }
  if (cp->state != COPY_STARTING) return;
  uint64_t deadline = (uint64_t)cp->owner->startup_timeout_s * 1000;
  if (uv_now(c->loop) - cp->started_ms > deadline) {
    char msg[160];
    snprintf(msg, sizeof msg, "did not pass the health check (GET /ping answering 200) within "
             "ContainerStartupHealthCheckTimeoutInSeconds (%d s)", cp->owner->startup_timeout_s);
    cp->state = COPY_STOPPING;
    fail_start(c, cp, msg);
    if (cp->pid) uv_kill(-cp->pid, SIGKILL);
    return;
  }
  send_ping(c, cp);
}

static void schedule_health(ctl *c, copy *cp) {
  uv_timer_start(copy_timer(c, cp), on_health_timer, HEALTH_INTERVAL_MS, 0);
}

/* Splits an Image string "/path/prog --flag $VAR" on blanks (double quotes
 * group), expanding $VAR and ${VAR} from env. No shell is involved. */
static int split_command(const char *image, char **env, char **argv, int max_args,
                         char *store_buf, size_t store_len) {
  int argc = 0;
  size_t used = 0;
  const char *p = image;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    if (argc == max_args - 1 || used >= store_len) return -E2BIG;
    argv[argc++] = store_buf + used;
    int quoted = 0;
    while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
      if (*p == '"') {
        quoted = !quoted;
        p++;
        continue;
      }
      if (*p == '$') {
        const char *s = p + 1;
        int brace = *s == '{';
        if (brace) s++;
        const char *e = s;
        while (*e == '_' || (*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') ||
               (*e >= '0' && *e <= '9'))
          e++;
        if (e > s && (!brace || *e == '}')) {
          size_t klen = (size_t)(e - s);
          const char *val = "";
          for (char **ev = env; *ev; ev++)
            if (strncmp(*ev, s, klen) == 0 && (*ev)[klen] == '=') val = *ev + klen + 1;
          size_t vl = strlen(val);
          if (used + vl >= store_len) return -E2BIG;
          memcpy(store_buf + used, val, vl);
          used += vl;
          p = e + brace;
          continue;
        }
      }
      if (used + 1 >= store_len) return -E2BIG;
      store_buf[used++] = *p++;
    }
    store_buf[used++] = '\0';
  }
  argv[argc] = NULL;
  return argc;
}

static void env_add(berth_buf *names, char ***env, size_t *n, size_t *cap, const char *k,
                    const char *v) {
  (void)names;
  size_t klen = strlen(k);
  for (size_t i = 0; i < *n; i++)
    if (strncmp((*env)[i], k, klen) == 0 && (*env)[i][klen] == '=') {
      free((*env)[i]);
      (*env)[i] = NULL;
      berth_buf b;
      berth_buf_init(&b, 0);
      berth_buf_printf(&b, "%s=%s", k, v);
      (*env)[i] = berth_buf_steal(&b, NULL);
      return;
    }
  if (*n + 2 > *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *env = berth_xrealloc(*env, *cap * sizeof **env);
  }
  berth_buf b;
  berth_buf_init(&b, 0);
  berth_buf_printf(&b, "%s=%s", k, v);
  (*env)[(*n)++] = berth_buf_steal(&b, NULL);
  (*env)[*n] = NULL;
}

/* Image, artifact URL and Environment of the copy's container (from the IC
 * itself or from the Model it names). */
static void container_of(ctl *c, const copy *cp, const char **image, const char **artifact,
                         json_t **env) {
  json_t *spec = json_object_get(copy_doc(cp), "Specification");
  json_t *cont = json_object_get(spec, "Container");
  const char *model = json_string_value(json_object_get(spec, "ModelName"));
  json_t *mdoc = model ? ctl_find_model(c, model) : NULL;
  json_t *pc = json_object_get(mdoc, "PrimaryContainer");
  *image = json_string_value(json_object_get(cont, "Image"));
  if (!*image) *image = json_string_value(json_object_get(pc, "Image"));
  *artifact = json_string_value(json_object_get(cont, "ArtifactUrl"));
  if (!*artifact) *artifact = json_string_value(json_object_get(pc, "ModelDataUrl"));
  *env = json_object_get(cont, "Environment");
  if (!*env) *env = json_object_get(pc, "Environment");
}

#define MAX_PROG_ARGS 160

static const char *env_value(char **env, const char *k) {
  size_t klen = strlen(k);
  for (char **e = env; *e; e++)
    if (strncmp(*e, k, klen) == 0 && (*e)[klen] == '=') return *e + klen + 1;
  return NULL;
}

/* The engine's command that runs the copy's Image (container.h). env is
 * the shim's environment; the container gets the copy's part of it by
 * name. BERTH_CONTAINER_* are Berth's, not the server's. */
static int container_program(ctl *c, copy *cp, const char *image, json_t *icenv, char ***env,
                             size_t *n, size_t *cap, char **prog, char *buf, size_t len) {
  ic *x = cp->owner;
  const char *cport_s = env_value(*env, "BERTH_CONTAINER_PORT");
  int cport = cport_s ? atoi(cport_s) : 0;
  if (cport > 0 && cport < 65536) {
    /* Its own network: it listens on every address there, on its port. */
    char num[16];
    snprintf(num, sizeof num, "%d", cport);
    env_add(NULL, env, n, cap, "SAGEMAKER_BIND_TO_PORT", num);
    env_add(NULL, env, n, cap, "BERTH_PORT", num);
    env_add(NULL, env, n, cap, "BERTH_BIND_HOST", "0.0.0.0");
  } else {
    cport = 0;
  }
  static const char *const berth_vars[] = {
      "SAGEMAKER_BIND_TO_PORT", "BERTH_PORT", "BERTH_COPY_ID", "BERTH_INFERENCE_COMPONENT",
      "BERTH_ENDPOINT", "BERTH_BIND_HOST", "OMP_NUM_THREADS", "NEURON_RT_VISIBLE_CORES",
      "BERTH_ACCELERATOR_SHARE", "BERTH_ACCELERATOR_MEMORY_MB", "CUDA_DEVICE_ORDER"};
  char *names[128];
  int nn = 0;
  for (size_t i = 0; i < sizeof berth_vars / sizeof *berth_vars; i++)
    if (env_value(*env, berth_vars[i])) names[nn++] = (char *)berth_vars[i];
  const char *k;
  json_t *v;
  json_object_foreach(icenv, k, v) {
    if (strncmp(k, "BERTH_CONTAINER_", 16) == 0 || strcmp(k, "SM_MODEL_DIR") == 0) continue;
    /* A name only (the API checks the pattern): "AWS_*" would make the
     * engine pass every variable it has that matches. */
    if (!k[0] || k[strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] ||
        (k[0] >= '0' && k[0] <= '9'))
      continue;
    if (nn < (int)(sizeof names / sizeof *names) - 1) names[nn++] = (char *)k;
  }
  names[nn] = NULL;
  /* BERTH_CONTAINER_ARGS replaces `serve`, split as an Image command is. */
  char *args[MAX_PROG_ARGS / 2], argsbuf[4096];
  const char *args_s = env_value(*env, "BERTH_CONTAINER_ARGS");
  if (args_s && split_command(args_s, *env, args, MAX_PROG_ARGS / 2, argsbuf, sizeof argsbuf) < 0)
    return -E2BIG;
  char name[96], copy_s[24];
  container_name(c, cp->id, name, sizeof name);
  if (cp->restarts > 0) {
    /* A new name for each start: removing the last one's container, which
     * may still be under way, never meets this one. */
    size_t l = strlen(name);
    snprintf(name + l, sizeof name - l, "-r%d", cp->restarts);
  }
  snprintf(cp->container, sizeof cp->container, "%s", name);
  snprintf(copy_s, sizeof copy_s, "%lld", (long long)cp->id);
  int neuron = strcmp(cp->inst->type->accelerator_kind, "neuron") == 0;
  int phys[SCHED_MAX_DEVICES];
  for (int i = 0; i < cp->assign.n_devices && i < SCHED_MAX_DEVICES; i++)
    phys[i] = agent_device(cp, cp->assign.devices[i]);
  char parent[300];
  int grouped = c->engine.cgroupfs && copy_limits_cgroup_parent(c, cp, parent, sizeof parent);
  container_spec s = {
      .image = image, .name = name, .model_dir = cp->model_dir, .cpus = cp->cpus,
      .cgroup_parent = grouped ? parent : NULL,
      .memory_mb = (long)copy_limits_memory_max_mb(cp),
      .devices = phys,
      .n_devices = cp->inst->type->accelerators > 0 ? cp->assign.n_devices : 0,
      .neuron = neuron, .bind_host = c->bind_host[0] ? c->bind_host : "127.0.0.1",
      .port = cp->port, .container_port = cport,
      .entrypoint = env_value(*env, "BERTH_CONTAINER_ENTRYPOINT"),
      .shm_size = env_value(*env, "BERTH_CONTAINER_SHM_SIZE"),
      .args = args_s ? args : NULL, .env_names = names,
      .labels = {{"berth.endpoint", x->endpoint}, {"berth.inference-component", x->name},
                 {"berth.copy", copy_s}, {"berth.agent", c->agent_id}}};
  return container_command(&c->engine, &s, prog, MAX_PROG_ARGS, buf, len);
}

/* The agent's own credentials (for artifacts, docs/artifacts.md) are not
 * the model server's; an IC that needs some names them in its
 * Environment. */
static int agents_own(const char *kv) {
  static const char *const names[] = {"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
                                      "AWS_SESSION_TOKEN=", "AWS_SHARED_CREDENTIALS_FILE=",
                                      "AWS_PROFILE=", "AWS_CONFIG_FILE=", "BERTH_AGENT_TOKEN="};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strncmp(kv, names[i], strlen(names[i])) == 0) return 1;
  return 0;
}

static void spawn_copy(ctl *c, copy *cp) {
  ic *x = cp->owner;
  const char *image, *artifact;
  json_t *icenv;
  container_of(c, cp, &image, &artifact, &icenv);
  (void)artifact;
  char **env = NULL;
  size_t n = 0, cap = 0;
  for (char **e = environ; *e; e++) {
    if (agents_own(*e)) continue;
    if (n + 2 > cap) {
      cap = cap ? cap * 2 : 64;
      env = berth_xrealloc(env, cap * sizeof *env);
    }
    env[n++] = berth_xstrdup(*e);
    env[n] = NULL;
  }
  const char *k;
  json_t *v;
  json_object_foreach(icenv, k, v) env_add(NULL, &env, &n, &cap, k, json_string_value(v));
  char num[64];
  cp->port = free_port();
  snprintf(num, sizeof num, "%d", cp->port);
  env_add(NULL, &env, &n, &cap, "SAGEMAKER_BIND_TO_PORT", num);
  env_add(NULL, &env, &n, &cap, "BERTH_PORT", num);
  snprintf(num, sizeof num, "%lld", (long long)cp->id);
  env_add(NULL, &env, &n, &cap, "BERTH_COPY_ID", num);
  env_add(NULL, &env, &n, &cap, "BERTH_INFERENCE_COMPONENT", x->name);
  env_add(NULL, &env, &n, &cap, "BERTH_ENDPOINT", x->endpoint);
  env_add(NULL, &env, &n, &cap, "SM_MODEL_DIR", cp->model_dir);
  env_add(NULL, &env, &n, &cap, "BERTH_BIND_HOST", c->bind_host[0] ? c->bind_host : "127.0.0.1");
  long threads = (cp->need.cpu_milli + 999) / 1000;
  snprintf(num, sizeof num, "%ld", threads > 0 ? threads : 1);
  env_add(NULL, &env, &n, &cap, "OMP_NUM_THREADS", num);
  /* Its devices, physical where this host has them (agent_devices.h). */
  agent_device_env dev_env;
  agent_devices_env(cp, &dev_env);
  for (int i = 0; i < dev_env.n; i++)
    env_add(NULL, &env, &n, &cap, dev_env.name[i], dev_env.value[i]);

  char *argv[MAX_PROG_ARGS + 24 + COPY_LIMITS_MAX_ARGS], *prog[MAX_PROG_ARGS];
  char argbuf[16384], idarg[32], log_path[1400], exit_path[1400], program[PATH_MAX];
  char instance_arg[32], retention_arg[32];
  int bundled = strcmp(image, "berth-model") == 0;
  int boxed = container_is_image(image);
  const char *cmd = bundled ? c->model_exe : image;
  /* Its cores, before the container's command is made (--cpuset-cpus). */
  if (copy_limits_pick_cpus(c, cp, cp->cpus, sizeof cp->cpus) != 0) cp->cpus[0] = '\0';
  int argc = boxed ? container_program(c, cp, image, icenv, &env, &n, &cap, prog, argbuf,
                                       sizeof argbuf)
                   : split_command(cmd, env, prog, MAX_PROG_ARGS, argbuf, sizeof argbuf);
  if (argc <= 0) {
    fail_start(c, cp, boxed ? "has a container command (BERTH_CONTAINER_ARGS, Environment) with "
                              "too many or too long arguments"
                            : "has an Image with too many or too long arguments");
    goto fail;
  }
  /* The last word on what runs: the program as the Image resolved here. */
  if (boxed) {
    /* The engine is the operator's; the image is the boundary. */
    snprintf(program, sizeof program, "%s", c->engine.path);
  } else if (bundled) {
    snprintf(program, sizeof program, "%s", c->model_exe);
  } else if (copy_policy_check(&c->policy, prog[0], program, sizeof program) != 0) {
    char dir[PATH_MAX], via[PATH_MAX + 32] = "", msg[3 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s", program);
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir] = '\0';
    if (strcmp(prog[0], program) != 0) snprintf(via, sizeof via, " (which is '%s')", program);
    snprintf(msg, sizeof msg, "may not run Image program '%s'%s: it is not under a directory "
             "this agent allows (--allow-exec DIR); start berthd (or the pool agent, berthd "
             "agent) with --allow-exec %s to run it", prog[0], via, dir);
    fail_start(c, cp, msg);
    goto fail;
  }
  snprintf(idarg, sizeof idarg, "%lld", (long long)cp->id);
  /* The IC's log directory: one stream per copy (docs/logs.md). */
  snprintf(log_path, sizeof log_path, "%s/logs/%s", c->shared_dir, x->name);
  snprintf(instance_arg, sizeof instance_arg, "i-%lld", cp->inst ? (long long)cp->inst->id : 0LL);
  snprintf(retention_arg, sizeof retention_arg, "%lld",
           (long long)(c->log_retention_mb > 0 ? c->log_retention_mb : COPY_SHIM_LOG_RETENTION_MB));
  copy_exit_path(c, cp->id, exit_path, sizeof exit_path);
  /* The shim opens program as us and runs it as the copy user (--user)
   * in its model dir (--cwd). */
  int na = 0;
  char *shim[] = {c->self_exe, "copy-exec", "--copy", idarg, "--log", log_path,
                  "--instance", instance_arg, "--log-retention-mb", retention_arg,
                  "--exit-file", exit_path, "--exec", program, "--cwd", cp->model_dir};
  for (size_t i = 0; i < sizeof shim / sizeof *shim; i++) argv[na++] = shim[i];
  /* A rootful engine runs as root; the container's own user is the
   * image's. */
  if (boxed) {
    argv[na++] = "--container";
    argv[na++] = cp->container;
  } else if (c->policy.user[0]) {
    argv[na++] = "--user";
    argv[na++] = c->policy.user;
  }
  copy_limits_args limits;
  na += copy_limits_shim_args(c, cp, &limits, argv + na);
  argv[na++] = "--";
  for (int i = 0; i <= argc; i++) argv[na++] = prog[i]; /* with its NULL */

  /* One pipe for stdout and stderr so the log keeps their order. */
  uv_file fds[2];
  int prc = uv_pipe(fds, 0, 0);
  if (prc) {
    char msg[256];
    snprintf(msg, sizeof msg, "could not be started: pipe: %s", uv_strerror(prc));
    fail_start(c, cp, msg);
    goto fail;
  }
  cp->out = berth_xcalloc(1, sizeof *cp->out);
  uv_pipe_init(c->loop, cp->out, 0);
  uv_pipe_open(cp->out, fds[0]);
  cp->out->data = cp;
  cp->open_handles++;
  cp->proc = berth_xcalloc(1, sizeof *cp->proc);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = fds[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = fds[1];
  uv_process_options_t o = {0};
  o.exit_cb = on_exit_cb;
  o.file = c->self_exe;
  o.args = argv;
  o.env = env;
  o.stdio = stdio;
  o.stdio_count = 3;
  /* Own session and process group: TERM reaches its children, and the copy
   * outlives this agent (a new agent adopts it). */
  o.flags = UV_PROCESS_DETACHED;
  cp->proc->data = cp;
  cp->started_ms = uv_now(c->loop);
  cp->tail_len = 0;
  int rc = uv_spawn(c->loop, cp->proc, &o);
  close(fds[1]);
  if (rc) {
    char msg[256];
    snprintf(msg, sizeof msg, "could not be started: %s", uv_strerror(rc));
    cp->open_handles++;
    close_handle(cp, (uv_handle_t *)cp->proc);
    cp->proc = NULL;
    close_handle(cp, (uv_handle_t *)cp->out);
    cp->out = NULL;
    fail_start(c, cp, msg);
    goto fail;
  }
  cp->open_handles++;
  cp->pid = cp->proc->pid;
  cp->state = COPY_STARTING;
  uv_read_start((uv_stream_t *)cp->out, on_alloc, on_output);
  berth_log(BERTH_LOG_INFO, "%s: copy %lld started (pid %d, port %d, instance %lld)", x->name,
          (long long)cp->id, cp->pid, cp->port, (long long)cp->inst->id);
  agent_state_save(c);
  schedule_health(c, cp);
  for (size_t i = 0; i < n; i++) free(env[i]);
  free(env);
  return;
fail:
  for (size_t i = 0; i < n; i++) free(env[i]);
  free(env);
  cp->state = COPY_STOPPING;
  copy_remove(c, cp);
}

static void on_image_ready(void *ud, int err, const char *why) {
  copy *cp = ud;
  cp->open_handles--;
  if (cp->dead) {
    maybe_free(cp);
    return;
  }
  ctl *c = cp->ctl;
  if (cp->state == COPY_STOPPING) {
    copy_remove(c, cp); /* stopped while its Image was pulled: it never ran */
    return;
  }
  if (cp->state != COPY_STARTING) return;
  if (err) {
    cp->tail_len = 0; /* the reason quotes the engine */
    fail_start(c, cp, why);
    cp->state = COPY_STOPPING;
    copy_remove(c, cp);
    return;
  }
  spawn_copy(c, cp);
}

static void on_artifact_ready(void *ud, int err, const char *dir, const char *why) {
  copy *cp = ud;
  cp->open_handles--;
  /* Held for a copy that will not run it. */
  if (!err && (cp->dead || cp->state != COPY_STARTING)) artifact_release(cp->ctl, dir);
  if (cp->dead) {
    maybe_free(cp);
    return;
  }
  ctl *c = cp->ctl;
  if (cp->state == COPY_STOPPING) {
    /* Stopped while its artifact was being prepared: it never ran. */
    copy_remove(c, cp);
    return;
  }
  if (cp->state != COPY_STARTING) return;
  if (err) {
    char msg[1200];
    snprintf(msg, sizeof msg, "could not get its model artifact: %s", why);
    fail_start(c, cp, msg);
    cp->state = COPY_STOPPING;
    copy_remove(c, cp);
    return;
  }
  snprintf(cp->model_dir, sizeof cp->model_dir, "%s", dir);
  const char *image, *artifact;
  json_t *env;
  container_of(c, cp, &image, &artifact, &env);
  if (container_is_image(image) && strpbrk(dir, ":,")) {
    char msg[1300];
    snprintf(msg, sizeof msg, "cannot mount its model directory %s into a container: a "
             "volume's path may not contain ':' or ','", dir);
    fail_start(c, cp, msg);
    cp->state = COPY_STOPPING;
    copy_remove(c, cp);
    return;
  }
  if (container_is_image(image)) {
    /* The Image is part of the download, not of the start. */
    cp->open_handles++;
    image_pull(c, image, cp->download_timeout_s, on_image_ready, cp);
    return;
  }
  spawn_copy(c, cp);
}

/* Why a container copy may not have its artifact or Image: a rootful
 * container reads a host path as root, and an Image must be a reference,
 * never an engine option. 0, or -1 with why filled. */
static int container_refused(ctl *c, const char *image, const char *artifact, char *why,
                             size_t n) {
  char rule[600];
  if (container_reference_check(image, rule, sizeof rule) != 0) {
    snprintf(why, n, "cannot run %s", rule);
    return -1;
  }
  if (!artifact) return 0;
  const char *path = artifact[0] == '/' ? artifact
                   : strncmp(artifact, "file:///", 8) == 0 ? artifact + 7 : NULL;
  char resolved[PATH_MAX];
  if (!path || copy_policy_artifact_check(&c->policy, path, resolved, sizeof resolved) == 0)
    return 0;
  snprintf(why, n, "may not mount ArtifactUrl %s into container Image \"%s\": the container "
           "would read it as root, so a path on the instance must lie under a directory this "
           "agent allows (start berthd, or the pool agent, with --allow-artifact-dir DIR), or "
           "use an s3:// or https:// URL", artifact, image);
  return -1;
}

static void launch(ctl *c, copy *cp) {
  const char *image, *artifact;
  json_t *env;
  container_of(c, cp, &image, &artifact, &env);
  int boxed = container_is_image(image);
  char refused[1400];
  if (!image || (strcmp(image, "berth-model") != 0 && image[0] != '/' && !boxed) ||
      (boxed && !c->engine.path[0]) ||
      (boxed && container_refused(c, image, artifact, refused, sizeof refused))) {
    char msg[1500];
    if (boxed && c->engine.path[0])
      snprintf(msg, sizeof msg, "%s", refused);
    else if (boxed)
      snprintf(msg, sizeof msg, "cannot run container Image \"%s\": this instance has no "
               "container engine (install podman, or docker, on it and restart its agent)", image);
    else
      snprintf(msg, sizeof msg, "cannot run Image \"%s\": an Image is \"berth-model\", an "
               "absolute path to an executable (with arguments) or a container image reference",
               image ? image : "(none)");
    cp->state = COPY_STARTING;
    fail_start(c, cp, msg);
    cp->state = COPY_STOPPING;
    copy_remove(c, cp);
    return;
  }
  cp->state = COPY_STARTING;
  cp->started_ms = uv_now(c->loop);
  cp->setup_started_ms = cp->started_ms; /* ModelSetupTime: artifact, start, /ping */
  cp->open_handles++;
  if (cp->model_dir[0]) {
    /* A restart: the artifact it holds since its first start. */
    char dir[sizeof cp->model_dir];
    snprintf(dir, sizeof dir, "%s", cp->model_dir);
    on_artifact_ready(cp, 0, dir, NULL);
    return;
  }
  json_t *cache = json_object_get(json_object_get(copy_doc(cp), "Specification"),
                                  "DataCacheConfig");
  int caching = !json_is_false(json_object_get(cache, "EnableCaching"));
  artifact_prepare(c, artifact, caching, on_artifact_ready, cp);
}

int agent_adopt(ctl *c, copy *cp) {
  int fd = (int)syscall(SYS_pidfd_open, cp->pid, 0);
  if (fd < 0) return -errno;
  cp->pidfd = fd;
  cp->watch = berth_xcalloc(1, sizeof *cp->watch);
  uv_poll_init(c->loop, cp->watch, fd);
  cp->watch->data = cp;
  cp->open_handles++;
  uv_poll_start(cp->watch, UV_READABLE, on_adopted_exit);
  cp->state = COPY_STARTING;
  cp->adopted = 1;
  cp->started_ms = uv_now(c->loop);
  berth_log(BERTH_LOG_INFO, "%s: adopted copy %lld (pid %d, port %d): checking GET /ping",
            cp->owner->name, (long long)cp->id, cp->pid, cp->port);
  schedule_health(c, cp);
  return 0;
}

void agent_start(ctl *c, copy *cp) {
  cp->restarts = 0;
  if (cp->inst->remote) {
    /* Its agent starts it; the agent's next sync says when it is ready. */
    cp->state = COPY_STARTING;
    cp->started_ms = uv_now(c->loop);
    return;
  }
  launch(c, cp);
}

static void on_stop_deadline(uv_timer_t *t) {
  copy *cp = t->data;
  if (cp->pid) {
    berth_log(BERTH_LOG_WARN, "%s: copy %lld did not exit %d s after SIGTERM: killing it",
            cp->owner->name, (long long)cp->id, STOP_GRACE_MS / 1000);
    uv_kill(-cp->pid, SIGKILL);
  }
}

static void terminate(ctl *c, copy *cp) {
  cp->state = COPY_STOPPING;
  if (!cp->pid) {
    /* Remote copies stop when their agent no longer sees them wanted. */
    if (cp->inflight == 0) copy_remove(c, cp);
    return;
  }
  if (cp->ping) berth_http_call_cancel(cp->ping);
  uv_kill(-cp->pid, SIGTERM);
  uv_timer_start(copy_timer(c, cp), on_stop_deadline, STOP_GRACE_MS, 0);
}

void agent_stop(ctl *c, copy *cp) {
  switch (cp->state) {
  case COPY_SLEEPING:
    /* No router sends it anything; a frozen one is thawed so SIGTERM lands. */
    copy_sleep_forget(c, cp);
    terminate(c, cp);
    break;
  case COPY_READY:
    cp->state = COPY_DRAINING;
    /* The controller waits until no router sends it requests (routing.h). */
    if (cp->inflight == 0 && c->agent_mode) terminate(c, cp);
    break;
  case COPY_STARTING:
    if (cp->pid) {
      terminate(c, cp);
    } else if (image_pull_cancel(c, cp)) {
      cp->open_handles--; /* its pull will not call back */
      cp->state = COPY_STOPPING;
      copy_remove(c, cp);
    } else {
      cp->state = COPY_STOPPING; /* artifact still preparing: removed when it is */
    }
    break;
  case COPY_PENDING:
  case COPY_BACKOFF:
    agent_forget(c, cp);
    break;
  default:
    break;
  }
}

void agent_forget(ctl *c, copy *cp) {
  if (cp->timer) uv_timer_stop(cp->timer);
  cp->state = COPY_STOPPING;
  copy_remove(c, cp);
}

void agent_drained(ctl *c, copy *cp) {
  if (cp->inflight) return;
  if (cp->state == COPY_DRAINING)
    terminate(c, cp);
  else if (cp->state == COPY_STOPPING && !cp->pid && !cp->dead)
    copy_remove(c, cp);
}

void agent_request_done(ctl *c, copy *cp) {
  cp->inflight--;
  if (cp->dead) {
    maybe_free(cp);
    return;
  }
  if (cp->inflight) return;
  if (cp->state == COPY_DRAINING)
    terminate(c, cp);
  else if (cp->state == COPY_STOPPING && !cp->pid && !cp->dead)
    copy_remove(c, cp);
}
