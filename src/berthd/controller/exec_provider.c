/* exec_provider: instances made and deleted by the operator's hooks (see
 * exec_provider.h). */
#include "exec_provider.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_tokens.h"
#include "berth/exec_hook.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "store.h"

extern char **environ;

typedef struct exec_provider exec_provider;

#define MAX_BACKOFFS 64
#define GRACE_MS 500          /* output still coming after the hook exited */
#define KILL_AFTER_MS 5000    /* SIGTERM, then SIGKILL this much later */
#define DELETE_RETRY_S 5.0

/* A record's life: CREATING (create hook runs) -> BOOTING (it succeeded,
 * the agent has not joined) -> JOINED; from any of them -> DELETING (the
 * delete hook runs or waits for a retry) -> DONE (reaped). RETURNING: a
 * joined instance loaded from the store, waiting for its agent to sync
 * again (-> JOINED), until the join deadline (-> DELETING). */
typedef enum {
  PHASE_CREATING, PHASE_BOOTING, PHASE_JOINED, PHASE_DELETING, PHASE_DONE, PHASE_RETURNING
} phase;

static const char *const phase_names[] = {"Creating", "Booting", "Joined", "Deleting", "Done",
                                          "Joined"};

typedef struct exec_instance exec_instance;

/* One hook run: freed once its three handles are closed. */
typedef struct hook {
  exec_instance *owner;         /* the record, which outlives the run */
  int create;                   /* the create hook (else the delete hook) */
  uv_process_t proc;
  uv_pipe_t out;                /* its stdout and stderr */
  uv_timer_t timer;             /* its deadline; after exit, the grace */
  int open;                     /* handles not yet closed */
  int exited, eof, term_sent, timed_out, finished;
  int64_t status;
  int term_signal;
  uint64_t started_ms;
  char buf[EXEC_OUTPUT_MAX + 1];
  size_t len;
  size_t dropped;               /* bytes past EXEC_OUTPUT_MAX */
} hook;

struct exec_instance {
  exec_instance *next;
  ctl *c;
  instance *inst;               /* NULL once the instance is gone */
  int64_t id;
  phase ph;
  char name[NAME_MAX_LEN + 32];
  char type[64];
  char endpoint[NAME_MAX_LEN + 1], variant[NAME_MAX_LEN + 1];
  char agent_id[64], address[64];
  char token[65];               /* the one-time join token; "" once spent */
  char secret[65];              /* the same, kept to cut it from output */
  double launched, deadline;    /* ctl_clock */
  char cloud_id[128];           /* instance-id= from the create hook */
  char create_output[EXEC_OUTPUT_MAX + 1];
  char reason[200];             /* why it is deleted */
  int delete_tries;
  double delete_at;             /* a delete retry is due (ctl_clock); 0: none */
  hook *running;
};

typedef struct backoff {
  char endpoint[NAME_MAX_LEN + 1], variant[NAME_MAX_LEN + 1]; /* "": a free slot */
  int failures;
  double retry_at;              /* ctl_clock */
  char why[640];
} backoff;

struct exec_provider {
  char *create_cmd, *delete_cmd;
  char join_url[512];
  double join_timeout_s, hook_timeout_s;
  void (*lose)(ctl *c, instance *in, const char *why);
  exec_instance *records;
  int n_records;
  backoff backoffs[MAX_BACKOFFS];
};

static int run_hook(exec_instance *r, int create);

int exec_provider_init(ctl *c, const exec_config *cfg) {
  if (!cfg->create_cmd || !cfg->create_cmd[0] || !cfg->delete_cmd || !cfg->delete_cmd[0]) {
    fprintf(stderr, "berthd: --provider exec needs --instance-create CMD and --instance-delete "
            "CMD (docs/providers.md)\n");
    return -EINVAL;
  }
  exec_provider *p = berth_xcalloc(1, sizeof *p);
  p->create_cmd = strdup(cfg->create_cmd);
  p->delete_cmd = strdup(cfg->delete_cmd);
  if (!p->create_cmd || !p->delete_cmd) abort();
  snprintf(p->join_url, sizeof p->join_url, "%s", cfg->join_url ? cfg->join_url : c->control_url);
  p->join_timeout_s = cfg->join_timeout_s > 0 ? cfg->join_timeout_s : EXEC_JOIN_TIMEOUT_S;
  p->hook_timeout_s = cfg->hook_timeout_s > 0 ? cfg->hook_timeout_s : EXEC_HOOK_TIMEOUT_S;
  p->lose = cfg->lose;
  c->exec = p;
  if (strstr(p->join_url, "://127.") || strstr(p->join_url, "://localhost"))
    berth_log(BERTH_LOG_WARN, "exec provider: agents are told to join %s, a loopback address: "
              "agents on other hosts need --agent-listen on an address they reach (or "
              "--instance-join-url)", p->join_url);
  return 0;
}

static void record_free(exec_instance *r) {
  berth_secret_wipe(r->token, sizeof r->token);
  berth_secret_wipe(r->secret, sizeof r->secret);
  free(r);
}

void exec_provider_free(ctl *c) {
  exec_provider *p = c->exec;
  if (!p) return;
  /* The loop has stopped: hooks still running are left to finish alone. */
  while (p->records) {
    exec_instance *r = p->records;
    p->records = r->next;
    free(r->running); /* its instance is ctl_free_state's */
    record_free(r);
  }
  free(p->create_cmd);
  free(p->delete_cmd);
  free(p);
  c->exec = NULL;
}

/* ---- launch failures: each variant's next launch waits ---- */

static backoff *backoff_find(exec_provider *p, const char *ep, const char *variant_name) {
  for (int i = 0; i < MAX_BACKOFFS; i++)
    if (p->backoffs[i].endpoint[0] && strcmp(p->backoffs[i].endpoint, ep) == 0 &&
        strcmp(p->backoffs[i].variant, variant_name) == 0)
      return &p->backoffs[i];
  return NULL;
}

static void backoff_fail(exec_provider *p, const exec_instance *r, const char *why) {
  backoff *b = backoff_find(p, r->endpoint, r->variant);
  if (!b) {
    /* A free slot, else the one whose wait ends first. */
    b = &p->backoffs[0];
    for (int i = 0; i < MAX_BACKOFFS; i++) {
      if (!p->backoffs[i].endpoint[0]) {
        b = &p->backoffs[i];
        break;
      }
      if (p->backoffs[i].retry_at < b->retry_at) b = &p->backoffs[i];
    }
    memset(b, 0, sizeof *b);
    snprintf(b->endpoint, sizeof b->endpoint, "%s", r->endpoint);
    snprintf(b->variant, sizeof b->variant, "%s", r->variant);
  }
  b->failures++;
  double wait = berth_exec_backoff_s(b->failures, EXEC_BACKOFF_MIN_S, EXEC_BACKOFF_MAX_S);
  b->retry_at = ctl_clock() + wait;
  snprintf(b->why, sizeof b->why, "%s", why);
  berth_log(BERTH_LOG_WARN, "%s/%s: failed launch %d in a row: %s; the next launch in %.0f s",
            r->endpoint, r->variant, b->failures, why, wait);
}

void exec_provider_why(ctl *c, const char *ep, const char *variant_name, char *why, size_t whysz) {
  why[0] = '\0';
  backoff *b = c->exec ? backoff_find(c->exec, ep, variant_name) : NULL;
  double now = ctl_clock();
  if (b && b->retry_at > now)
    snprintf(why, whysz, "%.300s (exec provider: the next launch in %.0f s)", b->why,
             b->retry_at - now + 0.5);
}

/* ---- output ---- */

static void describe_exit(const hook *h, double timeout_s, char *out, size_t outsz) {
  if (h->timed_out)
    snprintf(out, outsz, "ran past --instance-hook-timeout (%.0f s) and was stopped", timeout_s);
  else if (h->term_signal)
    snprintf(out, outsz, "was killed by signal %d", h->term_signal);
  else
    snprintf(out, outsz, "exited %lld", (long long)h->status);
}

/* ---- the records ---- */

/* Each record is stored ("exec-instance", by its id) so that a controller
 * that starts later (a restart, a standby taking the lead) still deletes
 * what the create hook made. The join token is never stored. */
static void save(exec_instance *r) {
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)r->id);
  json_t *doc = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f}", "InstanceId",
                          (json_int_t)r->id, "InstanceName", r->name, "InstanceType", r->type,
                          "EndpointName", r->endpoint, "VariantName", r->variant, "Phase",
                          phase_names[r->ph], "CloudInstanceId", r->cloud_id, "CreateOutput",
                          r->create_output, "AgentId", r->agent_id, "AgentAddress", r->address,
                          "DeleteReason", r->reason, "LaunchTime", ctl_now() - (ctl_clock() - r->launched));
  if (store_put(r->c->db, "exec-instance", key, doc))
    berth_log(BERTH_LOG_WARN, "instance %lld: its exec record could not be queued for the store",
              (long long)r->id);
  json_decref(doc);
}

static void unsave(exec_instance *r) {
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)r->id);
  store_delete(r->c->db, "exec-instance", key);
}

static void start_delete(exec_instance *r);

/* A launch failed: the variant waits, the instance goes (with its copies),
 * and the delete hook runs when run_delete is set. */
static void fail_launch(exec_instance *r, const char *why, int run_delete) {
  exec_provider *p = r->c->exec;
  backoff_fail(p, r, why);
  berth_secret_wipe(r->token, sizeof r->token);
  snprintf(r->reason, sizeof r->reason, "%.190s", why);
  r->ph = PHASE_DELETING;
  if (r->inst) p->lose(r->c, r->inst, why); /* calls exec_provider_forget */
  if (run_delete) {
    start_delete(r);
  } else {
    r->ph = PHASE_DONE;
    unsave(r);
  }
}

static void create_done(exec_instance *r, hook *h) {
  exec_provider *p = r->c->exec;
  char how[160], line[1100];
  describe_exit(h, p->hook_timeout_s, how, sizeof how);
  berth_exec_instance_id(h->buf, r->cloud_id, sizeof r->cloud_id);
  snprintf(r->create_output, sizeof r->create_output, "%s", h->buf);
  berth_exec_one_line(h->buf, line, sizeof line);
  int ok = !h->timed_out && !h->term_signal && h->status == 0;
  double took = (double)(uv_now(r->c->loop) - h->started_ms) / 1000.0;
  berth_log(ok ? BERTH_LOG_INFO : BERTH_LOG_WARN, "instance %lld (%s): the create hook %s after "
            "%.1f s%s%s%s: %s", (long long)r->id, r->type, how, took,
            r->cloud_id[0] ? " (instance-id " : "", r->cloud_id, r->cloud_id[0] ? ")" : "",
            line[0] ? line : "(no output)");
  if (r->ph == PHASE_DELETING) { /* its deadline passed, or it was released, meanwhile */
    start_delete(r);
    return;
  }
  if (ok) {
    if (r->ph == PHASE_CREATING) r->ph = PHASE_BOOTING;
    save(r); /* with its instance-id */
    return;
  }
  if (r->ph == PHASE_JOINED) {
    berth_log(BERTH_LOG_WARN, "instance %lld: its agent has joined already: kept", (long long)r->id);
    return;
  }
  char why[640];
  snprintf(why, sizeof why, "instance %lld (%s): the create hook %s: %.200s", (long long)r->id,
           r->type, how, line[0] ? line : "(no output)");
  /* Something may exist when the hook printed its id: it is deleted. */
  fail_launch(r, why, r->cloud_id[0] != '\0');
}

static void delete_done(exec_instance *r, hook *h) {
  exec_provider *p = r->c->exec;
  char how[160], line[1100];
  describe_exit(h, p->hook_timeout_s, how, sizeof how);
  berth_exec_one_line(h->buf, line, sizeof line);
  int ok = !h->timed_out && !h->term_signal && h->status == 0;
  r->delete_tries++;
  double took = (double)(uv_now(r->c->loop) - h->started_ms) / 1000.0;
  if (ok) {
    berth_log(BERTH_LOG_INFO, "instance %lld (%s%s%s): the delete hook exited 0 after %.1f s "
              "(%s): %s", (long long)r->id, r->type, r->cloud_id[0] ? ", instance-id " : "",
              r->cloud_id, took, r->reason, line[0] ? line : "(no output)");
    r->ph = PHASE_DONE;
    unsave(r);
  } else if (r->delete_tries < EXEC_DELETE_TRIES) {
    berth_log(BERTH_LOG_WARN, "instance %lld (%s): the delete hook %s (try %d of %d; again in "
              "%.0f s): %s", (long long)r->id, r->type, how, r->delete_tries, EXEC_DELETE_TRIES,
              DELETE_RETRY_S * r->delete_tries, line[0] ? line : "(no output)");
    r->delete_at = ctl_clock() + DELETE_RETRY_S * r->delete_tries;
  } else {
    berth_log(BERTH_LOG_ERROR, "instance %lld (%s%s%s, %s): the delete hook %s %d times: it may "
              "still exist, delete it by hand: %s", (long long)r->id, r->type,
              r->cloud_id[0] ? "instance-id " : "no instance-id", r->cloud_id, r->name, how,
              r->delete_tries, line[0] ? line : "(no output)");
    r->ph = PHASE_DONE;
    unsave(r);
  }
}

static void start_delete(exec_instance *r) {
  r->ph = PHASE_DELETING;
  save(r);
  if (r->running) {
    /* The create hook still runs: it is stopped, and its end (create_done)
     * starts the delete with what it printed. */
    if (r->running->create && !r->running->term_sent) {
      r->running->term_sent = 1;
      if (kill(-r->running->proc.pid, SIGTERM) != 0) uv_process_kill(&r->running->proc, SIGTERM);
    }
    return;
  }
  if (run_hook(r, 0) != 0) r->delete_at = ctl_clock() + DELETE_RETRY_S;
}

instance *exec_provider_launch(ctl *c, const char *ep, const char *variant_name,
                               const berth_instance_type *t, char *why, size_t whysz) {
  exec_provider *p = c->exec;
  char scratch[8];
  if (!why) {
    why = scratch;
    whysz = sizeof scratch;
  }
  why[0] = '\0';
  if (!p) return NULL;
  exec_provider_why(c, ep, variant_name, why, whysz);
  if (why[0]) return NULL;
  if (p->n_records >= EXEC_MAX_INSTANCES) {
    snprintf(why, whysz, "the exec provider tracks %d instances and deletes already (its "
             "limit): no launch until some are deleted", EXEC_MAX_INSTANCES);
    return NULL;
  }
  instance *in = berth_xcalloc(1, sizeof *in);
  in->id = ++c->next_instance_id;
  in->remote = 1;
  in->type = t;
  in->res = sched_capacity(t);
  snprintf(in->endpoint, sizeof in->endpoint, "%s", ep);
  snprintf(in->variant, sizeof in->variant, "%s", variant_name);
  in->created = ctl_now();
  in->last_seen = ctl_clock();
  exec_instance *r = berth_xcalloc(1, sizeof *r);
  r->c = c;
  r->inst = in;
  r->id = in->id;
  r->ph = PHASE_CREATING;
  snprintf(r->name, sizeof r->name, "berth-%s-%lld", ep, (long long)in->id);
  snprintf(r->type, sizeof r->type, "%s", t->name);
  snprintf(r->endpoint, sizeof r->endpoint, "%s", ep);
  snprintf(r->variant, sizeof r->variant, "%s", variant_name);
  if (berth_secret_random(r->token, 64, BERTH_HEX_DIGITS)) abort(); /* no randomness */
  memcpy(r->secret, r->token, sizeof r->secret);
  r->launched = ctl_clock();
  r->deadline = r->launched + p->join_timeout_s;
  in->exec = r;
  if (run_hook(r, 1) != 0) {
    snprintf(why, whysz, "instance %lld (%s): the create hook could not be started",
             (long long)in->id, t->name);
    backoff_fail(p, r, why);
    record_free(r);
    free(in);
    return NULL;
  }
  r->next = p->records;
  p->records = r;
  p->n_records++;
  save(r);
  instance **pp = &c->instances;
  while (*pp) pp = &(*pp)->next;
  *pp = in;
  berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld (%s) launching: the create hook runs (its agent "
            "joins within %.0f s)", ep, variant_name, (long long)in->id, t->name, p->join_timeout_s);
  return in;
}

/* ---- a controller that starts on records of an earlier one ---- */

static void take(char *dst, size_t dstsz, json_t *doc, const char *key) {
  snprintf(dst, dstsz, "%s", json_string_value(json_object_get(doc, key)) ?: "");
}

static int load_one(const char *name, json_t *doc, void *ud) {
  (void)name;
  ctl *c = ud;
  exec_provider *p = c->exec;
  const char *ph = json_string_value(json_object_get(doc, "Phase"));
  json_int_t id = json_integer_value(json_object_get(doc, "InstanceId"));
  if (!ph || strcmp(ph, "Done") == 0 || id <= 0 || p->n_records >= EXEC_MAX_INSTANCES) return 0;
  exec_instance *r = berth_xcalloc(1, sizeof *r);
  r->c = c;
  r->id = (int64_t)id;
  take(r->name, sizeof r->name, doc, "InstanceName");
  take(r->type, sizeof r->type, doc, "InstanceType");
  take(r->endpoint, sizeof r->endpoint, doc, "EndpointName");
  take(r->variant, sizeof r->variant, doc, "VariantName");
  take(r->cloud_id, sizeof r->cloud_id, doc, "CloudInstanceId");
  take(r->create_output, sizeof r->create_output, doc, "CreateOutput");
  take(r->agent_id, sizeof r->agent_id, doc, "AgentId");
  take(r->address, sizeof r->address, doc, "AgentAddress");
  take(r->reason, sizeof r->reason, doc, "DeleteReason");
  r->launched = ctl_clock();
  if (strcmp(ph, "Joined") == 0 && r->agent_id[0]) {
    r->ph = PHASE_RETURNING; /* its agent syncs again with its own token */
    r->deadline = ctl_clock() + p->join_timeout_s;
  } else {
    /* A launch in progress (its join token is gone: its agent can never
     * join) or a delete not finished: the delete hook runs (again). */
    r->ph = PHASE_DELETING;
    if (!r->reason[0])
      snprintf(r->reason, sizeof r->reason, "its launch was in progress when the controller "
               "stopped");
    r->delete_at = ctl_clock();
  }
  if (r->id > c->next_instance_id) c->next_instance_id = r->id;
  r->next = p->records;
  p->records = r;
  p->n_records++;
  return 0;
}

int exec_provider_load(ctl *c) {
  if (!c->exec) return 0;
  int rc = store_each(c->db, "exec-instance", load_one, c);
  if (!rc && c->exec->n_records)
    berth_log(BERTH_LOG_INFO, "exec provider: %d instance(s) from before this start: joined ones "
              "wait %.0f s for their agents, the rest are deleted", c->exec->n_records,
              c->exec->join_timeout_s);
  return rc;
}

void exec_provider_adopt(ctl *c, instance *in) {
  if (!c->exec) return;
  for (exec_instance *r = c->exec->records; r; r = r->next) {
    if (r->ph != PHASE_RETURNING || r->inst || strcmp(r->agent_id, in->agent_id) != 0) continue;
    in->id = r->id; /* the id its hooks know it by; above every id handed out since */
    in->exec = r;
    r->inst = in;
    r->ph = PHASE_JOINED;
    /* Back on its endpoint, whose fleet releases it when it is not needed
     * (no endpoint: exec_provider_check deletes it). */
    if (ctl_find_endpoint(c, r->endpoint)) {
      snprintf(in->endpoint, sizeof in->endpoint, "%s", r->endpoint);
      snprintf(in->variant, sizeof in->variant, "%s", r->variant);
    }
    snprintf(r->address, sizeof r->address, "%s", in->address);
    berth_log(BERTH_LOG_INFO, "instance %lld (%s%s%s): agent %s, launched before this controller "
              "started, is back", (long long)r->id, r->type, r->cloud_id[0] ? ", instance-id " : "",
              r->cloud_id, in->agent_id);
    save(r);
    return;
  }
}

instance *exec_provider_by_token(ctl *c, const char *token) {
  if (!c->exec) return NULL;
  double now = ctl_clock();
  instance *found = NULL;
  /* Each live token compared in constant time. */
  for (exec_instance *r = c->exec->records; r; r = r->next)
    if (r->inst && r->token[0] && now < r->deadline && berth_secret_equal(r->token, token) &&
        (r->ph == PHASE_CREATING || r->ph == PHASE_BOOTING))
      found = r->inst;
  return found;
}

void exec_provider_joined(ctl *c, instance *in) {
  exec_instance *r = in->exec;
  if (!r) return;
  berth_secret_wipe(r->token, sizeof r->token); /* spent: it admits no one else */
  if (r->ph == PHASE_CREATING || r->ph == PHASE_BOOTING) r->ph = PHASE_JOINED;
  snprintf(r->agent_id, sizeof r->agent_id, "%s", in->agent_id);
  snprintf(r->address, sizeof r->address, "%s", in->address);
  backoff *b = backoff_find(c->exec, r->endpoint, r->variant);
  if (b) memset(b, 0, sizeof *b); /* this variant launches again */
  save(r);
  berth_log(BERTH_LOG_INFO, "instance %lld (%s): agent %s joined from %s %.1f s after launch",
            (long long)in->id, r->type, in->agent_id, in->address, ctl_clock() - r->launched);
}

/* Detaches r from its instance; its agent's own token is dropped, so the
 * agent cannot come back as a free pool instance while the delete runs. */
static void detach(ctl *c, exec_instance *r) {
  if (r->inst) r->inst->exec = NULL;
  r->inst = NULL;
  if (r->agent_id[0]) agent_tokens_forget(c, r->agent_id);
}

void exec_provider_release(ctl *c, instance *in) {
  exec_instance *r = in->exec;
  if (!r) return;
  berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld released: the delete hook runs", in->endpoint,
            in->variant, (long long)in->id);
  detach(c, r);
  for (instance **pp = &c->instances; *pp; pp = &(*pp)->next)
    if (*pp == in) {
      *pp = in->next;
      break;
    }
  free(in);
  berth_secret_wipe(r->token, sizeof r->token);
  snprintf(r->reason, sizeof r->reason, "released");
  start_delete(r);
  ctl_kick(c);
}

void exec_provider_forget(ctl *c, instance *in, const char *why) {
  exec_instance *r = in->exec;
  if (!r) return;
  detach(c, r);
  if (r->ph == PHASE_DELETING || r->ph == PHASE_DONE) return; /* the provider's own doing */
  berth_secret_wipe(r->token, sizeof r->token);
  snprintf(r->reason, sizeof r->reason, "lost: %.180s", why);
  start_delete(r);
}

void exec_provider_check(ctl *c) {
  exec_provider *p = c->exec;
  if (!p) return;
  double now = ctl_clock();
  for (exec_instance *r = p->records; r; r = r->next) {
    if ((r->ph == PHASE_CREATING || r->ph == PHASE_BOOTING) && now >= r->deadline) {
      char why[640];
      snprintf(why, sizeof why, "instance %lld (%s): its agent did not join within %.0f s "
               "(--instance-join-timeout)%s", (long long)r->id, r->type, p->join_timeout_s,
               r->ph == PHASE_CREATING ? "; the create hook was still running" : "");
      fail_launch(r, why, 1);
    } else if (r->ph == PHASE_RETURNING && now >= r->deadline) {
      berth_log(BERTH_LOG_WARN, "instance %lld (%s, agent %s): its agent did not sync within %.0f "
                "s of this controller's start: deleting it", (long long)r->id, r->type,
                r->agent_id, p->join_timeout_s);
      snprintf(r->reason, sizeof r->reason, "its agent did not come back after a controller "
               "restart");
      start_delete(r);
    } else if (r->ph == PHASE_JOINED && r->inst && !r->inst->endpoint[0]) {
      /* Came back for an endpoint that is gone: nothing to keep it for. */
      p->lose(c, r->inst, "its endpoint is gone");
    } else if (r->ph == PHASE_DELETING && !r->running && r->delete_at > 0 && now >= r->delete_at) {
      r->delete_at = 0;
      start_delete(r);
    }
  }
  for (exec_instance **pp = &p->records; *pp;) {
    exec_instance *r = *pp;
    if (r->ph == PHASE_DONE && !r->running && !r->inst) {
      *pp = r->next;
      p->n_records--;
      record_free(r);
      continue;
    }
    pp = &r->next;
  }
}

/* ---- running a hook ---- */

static char *env_var(const char *name, const char *value) {
  size_t n = strlen(name) + strlen(value) + 2;
  char *s = malloc(n);
  if (!s) abort();
  snprintf(s, n, "%s=%s", name, value);
  return s;
}

/* Whether an inherited variable is left out: the controller's secrets, and
 * the names the hook gets from us. */
static int withheld(const char *e) {
  static const char *const prefixes[] = {"BERTH_AGENT_TOKEN=", "BERTH_ROUTER_TOKEN=",
                                         "BERTH_JOIN_", "BERTH_INSTANCE_", "BERTH_HOOK=",
                                         "BERTH_ENDPOINT=", "BERTH_VARIANT=", "BERTH_REGION=",
                                         "BERTH_CLOUD_INSTANCE_ID=", "BERTH_CREATE_OUTPUT=",
                                         "BERTH_AGENT_ID=", "BERTH_AGENT_ADDRESS=",
                                         "BERTH_DELETE_REASON="};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

static void on_closed(uv_handle_t *handle) {
  hook *h = handle->data;
  if (--h->open == 0) free(h);
}

static void finish(hook *h) {
  if (h->finished) return;
  h->finished = 1;
  uv_timer_stop(&h->timer);
  if (!h->eof) uv_read_stop((uv_stream_t *)&h->out);
  h->buf[h->len] = '\0';
  exec_instance *r = h->owner;
  berth_exec_redact(h->buf, r->secret, "[join token]");
  r->running = NULL;
  if (h->create)
    create_done(r, h);
  else
    delete_done(r, h);
  uv_close((uv_handle_t *)&h->timer, on_closed);
  uv_close((uv_handle_t *)&h->out, on_closed);
  uv_close((uv_handle_t *)&h->proc, on_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  static char chunk[16384]; /* one loop thread: the data is copied out at once */
  *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  hook *h = s->data;
  if (nread > 0) {
    size_t n = (size_t)nread, room = EXEC_OUTPUT_MAX - h->len;
    size_t take = n < room ? n : room;
    memcpy(h->buf + h->len, buf->base, take);
    h->len += take;
    h->dropped += n - take;
    return;
  }
  if (nread < 0) {
    h->eof = 1;
    uv_read_stop(s);
    if (h->exited) finish(h);
  }
}

static void on_grace(uv_timer_t *t) {
  finish(t->data);
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int term_signal) {
  hook *h = proc->data;
  h->exited = 1;
  h->status = status;
  h->term_signal = term_signal;
  if (h->eof) {
    finish(h);
    return;
  }
  /* Its output may still be in the pipe, or a child it left holds it. */
  uv_timer_stop(&h->timer);
  uv_timer_start(&h->timer, on_grace, GRACE_MS, 0);
}

static void on_deadline(uv_timer_t *t) {
  hook *h = t->data;
  int sig = h->term_sent ? SIGKILL : SIGTERM;
  if (!h->term_sent) h->timed_out = 1;
  h->term_sent = 1;
  /* Its whole process group: the shell and what it started. */
  if (kill(-h->proc.pid, sig) != 0) uv_process_kill(&h->proc, sig);
  uv_timer_start(&h->timer, on_deadline, KILL_AFTER_MS, 0);
}

static int run_hook(exec_instance *r, int create) {
  ctl *c = r->c;
  exec_provider *p = c->exec;
  hook *h = berth_xcalloc(1, sizeof *h);
  h->owner = r;
  h->create = create;
  const char *cmd = create ? p->create_cmd : p->delete_cmd;
  /* Its stderr goes where its stdout does: one bounded record of both. */
  size_t sn = strlen(cmd) + 16;
  char *script = malloc(sn);
  if (!script) abort();
  snprintf(script, sn, "exec 2>&1\n%s", cmd);
  char *args[] = {"/bin/sh", "-c", script, NULL};

  char id[32], timeout[32];
  snprintf(id, sizeof id, "%lld", (long long)r->id);
  snprintf(timeout, sizeof timeout, "%.0f", p->join_timeout_s);
  char *mine[16];
  size_t nm = 0;
  mine[nm++] = env_var("BERTH_HOOK", create ? "create" : "delete");
  mine[nm++] = env_var("BERTH_INSTANCE_ID", id);
  mine[nm++] = env_var("BERTH_INSTANCE_NAME", r->name);
  mine[nm++] = env_var("BERTH_INSTANCE_TYPE", r->type);
  mine[nm++] = env_var("BERTH_ENDPOINT", r->endpoint);
  mine[nm++] = env_var("BERTH_VARIANT", r->variant);
  mine[nm++] = env_var("BERTH_REGION", c->region);
  if (create) {
    mine[nm++] = env_var("BERTH_JOIN_URL", p->join_url);
    mine[nm++] = env_var("BERTH_JOIN_TOKEN", r->token);
    mine[nm++] = env_var("BERTH_JOIN_TIMEOUT", timeout);
  } else {
    mine[nm++] = env_var("BERTH_CLOUD_INSTANCE_ID", r->cloud_id);
    mine[nm++] = env_var("BERTH_CREATE_OUTPUT", r->create_output);
    mine[nm++] = env_var("BERTH_AGENT_ID", r->agent_id);
    mine[nm++] = env_var("BERTH_AGENT_ADDRESS", r->address);
    mine[nm++] = env_var("BERTH_DELETE_REASON", r->reason);
  }
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **env = berth_xcalloc(n + nm + 1, sizeof *env);
  size_t k = 0;
  for (char **e = environ; *e; e++)
    if (!withheld(*e)) env[k++] = *e;
  for (size_t i = 0; i < nm; i++) env[k++] = mine[i];

  uv_pipe_init(c->loop, &h->out, 0);
  h->out.data = h;
  uv_timer_init(c->loop, &h->timer);
  h->timer.data = h;
  h->proc.data = h;
  h->open = 3;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE), .data.stream = (uv_stream_t *)&h->out},
      {.flags = UV_IGNORE}};
  uv_process_options_t o = {0};
  o.exit_cb = on_exit_cb;
  o.file = args[0];
  o.args = args;
  o.env = env;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* its own process group, killed as one */
  int rc = uv_spawn(c->loop, &h->proc, &o);
  for (size_t i = 0; i < nm; i++) {
    if (strncmp(mine[i], "BERTH_JOIN_TOKEN=", 17) == 0) berth_secret_wipe(mine[i], strlen(mine[i]));
    free(mine[i]);
  }
  free(env);
  free(script);
  if (rc) {
    berth_log(BERTH_LOG_WARN, "instance %lld: the %s hook could not be started: %s",
              (long long)r->id, create ? "create" : "delete", uv_strerror(rc));
    h->finished = 1;
    uv_close((uv_handle_t *)&h->timer, on_closed);
    uv_close((uv_handle_t *)&h->out, on_closed);
    uv_close((uv_handle_t *)&h->proc, on_closed);
    return rc;
  }
  h->started_ms = uv_now(c->loop);
  r->running = h;
  uv_read_start((uv_stream_t *)&h->out, on_alloc, on_read);
  uv_timer_start(&h->timer, on_deadline, (uint64_t)(p->hook_timeout_s * 1000.0), 0);
  if (!create)
    berth_log(BERTH_LOG_INFO, "instance %lld (%s): the delete hook runs (%s)", (long long)r->id,
              r->type, r->reason);
  return 0;
}
