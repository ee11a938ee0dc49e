/* ctl: the in-memory state each role process keeps, in the same shapes:
 * the controller's (desired state from the store, copies as agents report
 * them), an agent's (its copies), a router's (the mirror of the routing
 * snapshot).
 *
 * DESIGN: the SQLite store holds desired state (endpoint configs, endpoints,
 * inference components, local instances) as JSON documents; copies are
 * observed (from agents) and adopted after a restart. Each process touches
 * its state only from its one loop thread. Objects live in intrusive singly linked lists; counts
 * are small (endpoints, ICs, instances per controller are in the hundreds). */
#ifndef BERTHD_CTL_H
#define BERTHD_CTL_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/catalog.h"
#include "berth/http_client.h"
#include "berth/http_server.h"
#include "berth/prefix.h"
#include "berth/route.h"
#include "berth/sched.h"
#include "berth/scale.h"
#include "berth/sleep.h"

#include "copy_policy.h"

#define NAME_MAX_LEN 63
#define MAX_VARIANTS 10

typedef struct store store;
typedef struct ctl ctl;
typedef struct image_pull_job image_pull_job;

/* The container engine an agent found at start (container.h). */
typedef struct container_engine {
  char path[256];               /* "" when the host has none */
  char name[16];                /* "podman" or "docker" */
  char version[64];
  int runc;                     /* podman: run with --runtime runc */
  int cdi;                      /* NVIDIA's CDI spec is installed */
  int cgroupfs;                 /* cgroups by path (not systemd slices) */
} container_engine;
typedef struct ic_metrics ic_metrics;
typedef struct invocation invocation;

/* Autoscaling of one IC: its Application Auto Scaling scalable target and
 * policies (doc, as stored) and the pure scaler's config and memory. */
typedef struct scaling {
  json_t *doc;                  /* {"Target":{...},"Policies":[...]} */
  scale_config cfg;
  scale_state st;
} scaling;


/* One of a variant's InstancePools (docs/fleet.md, "Instance pools"). */
#define MAX_INSTANCE_POOLS 5
typedef struct variant_pool {
  char instance_type[64];
  int priority;                 /* 1 highest */
} variant_pool;

typedef struct variant {
  char name[NAME_MAX_LEN + 1];
  char instance_type[64];       /* InstanceType, or the Priority 1 pool's */
  variant_pool pools[MAX_INSTANCE_POOLS]; /* InstancePools, in request order */
  int n_pools;                  /* 0: InstanceType only */
  int provision_timeout_s;      /* VariantInstanceProvisionTimeoutInSeconds; 0: none */
  int initial_instances;
  int managed_scaling;          /* ManagedInstanceScaling.Status ENABLED */
  int min_instances, max_instances;
  int consolidation;            /* ScaleInPolicy.Strategy CONSOLIDATION */
  int max_step;                 /* ScaleInPolicy.MaximumStepSize */
  int cooldown_min;             /* ScaleInPolicy.CooldownInMinutes */
  berth_route_strategy routing;
  berth_prefix_config prefix;   /* RoutingConfig.PrefixAwareRoutingConfig
                                   (PREFIX_AWARE only; else zeros) */
} variant;

typedef struct endpoint_config {
  struct endpoint_config *next;
  char name[NAME_MAX_LEN + 1];
  double created;
  json_t *doc;                  /* the stored request, with CreationTime */
  variant variants[MAX_VARIANTS];
  int n_variants;
} endpoint_config;

typedef enum {
  INSTANCE_RUNNING = 0,
  INSTANCE_STOPPING = 1
} instance_state;

typedef struct instance {
  struct instance *next;
  int64_t id;
  char endpoint[NAME_MAX_LEN + 1];
  char variant[NAME_MAX_LEN + 1];
  const berth_instance_type *type;
  sched_instance res;           /* capacity and reservations */
  instance_state state;
  double created;
  double idle_since;            /* when it last became empty (ctl_clock); 0 while busy */
  int evacuating;               /* consolidation is moving its copies away */
  int leaving;                  /* an UpdateEndpoint replaces it: marked
                                   evacuating by endpoint_update.c (so a move
                                   called off for lack of room is seen) */
  /* pool instances: an agent on another host (berthd agent --join) */
  int remote;
  char agent_id[64];
  char address[64];             /* where its copies are reached */
  char container_runtime[64];   /* what its agent runs images with: "podman
                                   4.3.1", "none"; "" until it syncs */
  double last_seen;             /* its last sync (ctl_clock) */
  int synced;                   /* has synced since this controller started */
  struct local_agent *agent;    /* local provider: the agent we started */
  struct exec_instance *exec;   /* exec provider: its hooks' record
                                   (exec_provider.h); NULL otherwise */
  char token[65];               /* local provider: what its agent presents */
  /* Its physical accelerators (this host's indices, NVML's or declared):
   * a copy's logical device i is host_devices[i]. 0: none known (no
   * devices on the host: logical indices only, simulated). */
  int n_host_devices;
  int host_devices[SCHED_MAX_DEVICES];
} instance;

/* EndpointStatus values Berth uses; endpoint_status_name gives the wire
 * name. */
typedef enum {
  ENDPOINT_CREATING = 0,
  ENDPOINT_IN_SERVICE,
  ENDPOINT_UPDATING,
  ENDPOINT_DELETING,
  ENDPOINT_FAILED
} endpoint_status;

/* InferenceComponentStatus values; ic_status_name gives the wire name. */
typedef enum {
  IC_CREATING = 0,
  IC_IN_SERVICE,
  IC_UPDATING,
  IC_DELETING,
  IC_FAILED
} ic_status;

const char *endpoint_status_name(endpoint_status s);
const char *ic_status_name(ic_status s);
/* The status named s (as stored), or dflt when s is NULL or unknown. */
ic_status ic_status_parse(const char *s, ic_status dflt);

typedef struct endpoint {
  struct endpoint *next;
  char name[NAME_MAX_LEN + 1];
  char config_name[NAME_MAX_LEN + 1];
  endpoint_status status;
  char failure[512];
  double created, modified;
  endpoint_config cfg;          /* the config as it was at CreateEndpoint;
                                   cfg.doc is owned by the endpoint */
  json_t *tags;                 /* its Tags (tags.h), owned; NULL: none */
  int desired_instances[MAX_VARIANTS];
  int started[MAX_VARIANTS];    /* initial instances created */
  int blocked[MAX_VARIANTS];    /* pending copies held back by MaxInstanceCount
                                   or by an instance that could not start */
  char launch_failure[512];     /* why managed scaling could not add an
                                   instance (local_agent_launch); "" */
  double launch_failing_since[MAX_VARIANTS]; /* first failed launch of the
                                   current shortage (ctl_clock); 0: none */
  double last_scale_in[MAX_VARIANTS];
  int mark;                     /* router: in the snapshot being applied */
  json_t *update;               /* UpdateEndpoint in progress, stored as the
                                   endpoint's "Update" (endpoint_update.h);
                                   NULL when none. Owned. */
  json_t *last_deployment;      /* LastDeploymentConfig; NULL when none. Owned. */
} endpoint;

typedef enum {
  COPY_PENDING = 0,   /* wants an instance */
  COPY_STARTING,      /* process launched, health check not yet passed */
  COPY_READY,         /* serving */
  COPY_DRAINING,      /* no new requests; stops when in-flight reaches 0 */
  COPY_STOPPING,      /* SIGTERM sent, waiting for exit */
  COPY_BACKOFF,       /* crashed after being ready; restarts after a delay */
  COPY_SLEEPING       /* idle: out of rotation, its server asleep (or going to
                         sleep, or waking); docs/sleep.md */
} copy_state;

typedef struct ic ic;

/* A copy's resource use: the agent measures it (agent/copy_usage.c) and
 * sends it with its sync; the controller keeps the last (controller/usage.c).
 * has: cpu_cores and memory_mb are set; has_gpu: the GPU figures are. */
typedef struct copy_usage {
  int has, has_gpu;
  double cpu_cores;             /* cores busy, mean since the last reading */
  double memory_mb;             /* resident now */
  double gpu_percent;           /* its devices busy, mean percent */
  double gpu_memory_mb;         /* used on its devices (its share) */
  double cpu_s, at_s;           /* agent: CPU seconds and clock at the last reading */
} copy_usage;

typedef struct copy {
  struct copy *next;
  int64_t id;
  ic *owner;
  ctl *ctl;                     /* for callbacks that have no loop handle */
  instance *inst;               /* NULL while pending */
  sched_assignment assign;
  copy_state state;
  int port;
  int pid;
  uv_process_t *proc;           /* its shim, when this agent started it */
  uv_poll_t *watch;             /* its shim's pidfd, when adopted */
  int pidfd;
  uv_pipe_t *out;               /* the shim forwards the server's output */
  uv_timer_t *timer;            /* health checks, backoff, stop deadline */
  berth_http_call *ping;        /* health check in flight */
  uint64_t started_ms;          /* launch time (loop clock) */
  uint64_t ready_ms;
  int restarts;
  int moving;                   /* on an evacuating instance; stops once its
                                   replacement is ready (make before break) */
  int remove_when_stopped;      /* 1: the copy goes away; 0: it restarts */
  uint32_t inflight;            /* router requests now at this copy; each
                                   keeps the copy's memory alive */
  struct shared_count *load;    /* router: its requests outstanding on all
                                   threads (shared_count.h) */
  int unhealthy;                /* ready but failing /ping: out of rotation */
  int adopted;                  /* agent: taken over, /ping not passed yet */
  int mark;                     /* router: in the snapshot being applied */
  int ping_failures;            /* consecutive failed checks while ready */
  char tail[2048];              /* last bytes the process printed */
  size_t tail_len;
  int exit_status;
  int term_signal;
  int ping_status;              /* status of the health check in flight */
  int open_handles;             /* uv handles and calls not yet closed */
  int dead;                     /* unlinked; freed when open_handles and
                                   inflight are 0 */
  char model_dir[1024];         /* SM_MODEL_DIR once the artifact is ready */
  uint64_t setup_started_ms;    /* launch, before the artifact: ModelSetupTime */
  char cpus[256];               /* agent: its cpuset ("2-3"), "" when unpinned */
  char container[96];           /* agent: its container's name, "" for a process */
  int download_timeout_s;       /* agent: ModelDataDownloadTimeoutInSeconds */
  char detail[160];             /* controller: what its agent says it is doing
                                   while it starts ("pulling ...") */
  /* What it runs: its IC's document at the revision it was started with
   * (a rolling update runs two side by side; rollout.h) and what that
   * reserves. spec is a reference; NULL: its IC's current doc. */
  json_t *spec;
  int rev;
  sched_need need;
  int fail_fast;                /* agent: exiting before its first health
                                   check fails it (no restart): its IC is
                                   Creating, or it is a rollout's new copy */
  copy_usage usage;             /* what it uses (agent: measures; controller:
                                   the last its agent sent) */
  /* Sleeping (docs/sleep.md). Controller: copy_sleep_policy.h; agent:
   * copy_sleep.h. */
  double idle_since;            /* controller: ready with nothing in flight
                                   since (ctl_clock); 0: busy */
  double asleep_since;          /* controller: went to sleep at (ctl_clock) */
  int sleep_told;               /* controller: out of the routers' rotation:
                                   its agent is told to put it to sleep */
  int waking;                   /* controller: woken; ready once its agent
                                   reports it so */
  int no_sleep;                 /* it cannot sleep (no sleep API, no cgroup):
                                   never asked again */
  int sleep_phase;              /* agent: COPY_SLEEP_* (copy_sleep.h) */
  int sleep_via;                /* agent: COPY_SLEEP_VIA_* */
  int frozen;                   /* agent: its cgroup is frozen (a restarted
                                   agent thaws it: agent_state.h) */
  berth_http_call *sleep_call;  /* agent: /sleep or /wake_up in flight */
  int sleep_status;             /* agent: that call's HTTP status */
  uint64_t wake_ms;             /* agent: when its wake began (loop clock) */
  int reserved_asleep;          /* controller: its instance holds its memory
                                   only (berth_sleep_need), not its need */
} copy;

/* What an empty instance of type t offers on this host: the type's
 * capacity with each device's memory no more than this host's smallest
 * device has (the fleet plans with it). */
sched_instance ctl_instance_capacity(const ctl *c, const berth_instance_type *t);
/* The document a copy runs (its own revision's, else its IC's). */
json_t *copy_doc(const copy *cp);
/* Gives back what cp holds on cp->inst: its need, or only its memory while
 * it sleeps (reserved_asleep). cp->inst stays set. */
void ctl_copy_release(copy *cp);
/* Frees a copy's own memory (its handles are closed). */
void copy_free(copy *cp);

struct ic {
  struct ic *next;
  char name[NAME_MAX_LEN + 1];
  char endpoint[NAME_MAX_LEN + 1];
  char variant[NAME_MAX_LEN + 1];
  ic_status status;
  char failure[2048];
  double created, modified;
  json_t *doc;                  /* the stored request (Specification etc.) */
  int rev;                      /* its Specification's revision: each
                                   UpdateInferenceComponent adds one */
  struct rollout *rollout;      /* an update in progress (rollout.h) */
  int desired;
  sched_need need;
  sched_strategy strategy;
  int startup_timeout_s;
  copy *copies;
  int64_t next_copy_seq;
  uint64_t rr;                  /* routing state for RANDOM */
  int deleting;
  int failed_sticky;            /* a copy failed to start: stay Failed */
  ic_metrics *metrics;
  scaling *scaling;             /* NULL without a registered scalable target */
  struct ic_forecast *forecast; /* its demand history for pre-warming
                                   (controller/prewarm.h); NULL until then */
  invocation *wait_head, *wait_tail; /* requests held while a copy starts */
  int n_waiting;
  struct shared_count *held;    /* router: held on all threads (shared_count.h) */
  int refs;                     /* invocations that point at it (ic_hold) */
  int wakes;                    /* router: held requests wake it (it scales) */
  int mark;                     /* router: in the snapshot being applied */
  int coming;                   /* router: copies placed, not yet ready */
  int wake_pending;             /* router: tell the controller to wake it */
  int sleeping;                 /* router: copies asleep (a request wakes one) */
  berth_sleep_policy sleep;     /* Specification.BerthSleepPolicy */
  double last_request;          /* controller: when a router last reported a
                                   request for it (ctl_clock) */
  int unlinked;                 /* deleted from ctl's list; freed at refs 0 */
  /* An adapter IC (Specification.BaseInferenceComponentName) has no copies
   * of its own: it is loaded into its base's (adapters.h). */
  char base[NAME_MAX_LEN + 1];  /* its base IC; "" for an ordinary IC */
  json_t *adapter_loads;        /* controller: base copy id -> {"state",
                                   "message"} as agents report them */
};

struct ctl {
  uv_loop_t *loop;
  store *db;
  berth_catalog catalog;
  char data_dir[1024];
  char shared_dir[1024];        /* IC logs and the artifact cache (agents on
                                   one host may share them): data_dir unless
                                   --shared-dir */
  char self_exe[1024];          /* berthd, for copy-exec */
  char model_exe[1024];         /* the bundled berth-model */
  char agent_id[64];            /* agent: its id (container labels) */
  container_engine engine;      /* agent: podman or docker, if any */
  struct image_pull_job *image_pulls; /* agent: Images being made present */
  char region[32];
  char account[16];

  endpoint_config *configs;
  json_t *models;               /* ModelName -> stored CreateModel doc */
  endpoint *endpoints;
  ic *ics;
  instance *instances;
  int64_t next_instance_id;
  int64_t next_copy_id;

  berth_http_server *control;
  berth_http_server *agent_listener; /* --agent-listen: agents' and routers' own */
  berth_http_server *runtime;
  berth_http_client *client;
  uv_timer_t tick;              /* periodic reconciliation */
  uv_timer_t kick;              /* reconciliation soon after a change */
  int kicked;
  struct artifact_job *artifact_jobs; /* fetches in progress (artifact.c) */
  struct artifact_cache *artifact_cache; /* agent: its cache (artifact.c) */
  double artifact_cache_mb;     /* --artifact-cache-mb, given to local agents */
  int64_t log_retention_mb;     /* --log-retention-mb: each IC's copy logs on a
                                   host at most (docs/logs.md); 0: default */
  struct copy_limits *limits;   /* agent: how copies are limited (copy_limits.h) */
  int shutting_down;
  uint64_t request_seq;
  uint64_t random_state;
  scale_profile profile;
  double scale_in_window_s;     /* FAST profile scale-in window */
  double forecast_season_s;     /* --forecast-season; 0: --forecast off */
  double forecast_horizon_s;    /* --forecast-horizon; 0: measured per IC */
  int wake_queue_max;           /* per IC */
  double wake_timeout_s;
  double invocation_timeout_s;  /* InvokeEndpoint: whole answer within it */
  double stream_timeout_s;      /* InvokeEndpointWithResponseStream */
  double health_interval_s;     /* /ping of ready copies */
  double body_timeout_s;        /* a request's whole body after its head */
  double instance_cooldown_s;   /* > 0: overrides ScaleInPolicy cooldowns */
  int pool;                     /* provider "pool": instances are joined agents */
  struct exec_provider *exec;   /* provider "exec" (pool set too): hooks make
                                   and delete instances (exec_provider.h) */
  struct local_agent *local_agents; /* provider "local": agents we started */
  struct berth_devices *host_devices; /* provider "local": this host's
                                   accelerators (local_agent.c) */
  char control_url[128];        /* where local agents reach the control API */
  char log_level[16];           /* given to local agents */
  double adopt_until;           /* ctl_clock: until then, or until every
                                   loaded instance synced, nothing is placed
                                   (agents report what runs first) */
  struct longpoll *parked;      /* agent syncs held (longpoll.h) */
  char router_token[128];       /* routers must present it (routing.h) */
  struct router_sessions *sessions; /* router: sticky sessions (sessions.h) */
  struct auth_key *keys;        /* access keys (auth.h) */
  int auth_off;                 /* --auth none: loopback development only */
  struct console_sessions *console; /* web console sign-ins (console.h) */
  int control_tls;              /* the control port serves TLS */
  char snapshot_version[32];    /* the routing snapshot's, as last built */
  uint64_t snapshot_seq, snapshot_hash;
  char router_version[32];      /* the snapshot the router last reported on */
  double router_seen;           /* its last report (ctl_clock) */
  struct longpoll *polls;       /* router polls held */
  int router_mode;              /* this process is `berthd router` */
  struct leader *leader;        /* a shared store's lease (leader.h), else NULL */
  struct berth_tls_client *peer_tls; /* verifies an https leader (forward.h) */
  int leads;                    /* state loaded and deciding: never on a standby */
  void (*on_wake)(ctl *c, ic *x); /* router: a held request wants a copy */
  /* controller: a router holds a request for x: its sleeping copies wake
   * (set by ctl_start to copy_sleep_policy.h's; routing.c, below it in
   * the module graph, calls it) */
  void (*wake_sleepers)(ctl *c, ic *x);
  /* agent: a sleeping copy woke and passed GET /ping: ready again with
   * its health checks (set by agent_main to agent.h's; copy_sleep.h,
   * below agent in the module graph, calls it) */
  void (*copy_awake)(ctl *c, copy *cp);
  /* controller: whether the CloudWatch alarm named is in ALARM or went
   * there since `since` (ctl_now); set by main to alarms.c's (rollout.h
   * asks it, below alarms in the module graph) */
  int (*alarm_fired)(ctl *c, const char *name, double since);
  char agent_token[256];        /* agents must present it */
  int agent_mode;               /* this process is `berthd agent` */
  void (*on_kick)(ctl *c);      /* what ctl_kick does: the controller plans
                                   soon, an agent reports at once, a router
                                   nothing */
  char bind_host[64];           /* BERTH_BIND_HOST given to copies */
  copy_policy policy;           /* --allow-exec, --copy-user (copy_policy.h) */
  json_t *failed_reports;       /* agent mode: copy failures not yet reported */
  json_t *activities;           /* recent scaling activities, newest last */
  struct aas_state *aas;        /* variant targets, scheduled actions (aas.c) */
  struct alarm *alarms;         /* CloudWatch metric alarms (alarms.h) */
  uv_timer_t autoscale_tick;
};

/* Resolves and keeps the data directory (must exist). */
int ctl_set_data_dir(ctl *c, const char *dir);
/* When copies run as another user (c->policy): makes the shared dir and
 * its artifact cache traversable for them (nothing becomes
 * listable or readable: secrets in the data dir stay 0600) and warns when
 * a directory above them is closed to the copy user. */
void ctl_open_copy_dirs(ctl *c);
/* Wall-clock seconds as AWS returns timestamps. */
double ctl_now(void);
/* The clock decisions use (autoscaling, metric windows, instance scaling,
 * lost agents): monotonic, so a stepped wall clock never fires or stalls a
 * cooldown; in seconds from the wall time when the process started, so its
 * values read like timestamps. */
double ctl_clock(void);
void ctl_arn(const ctl *c, const char *kind, const char *name, char *out, size_t outsz);

endpoint_config *ctl_find_config(ctl *c, const char *name);
endpoint *ctl_find_endpoint(ctl *c, const char *name);
ic *ctl_find_ic(ctl *c, const char *name);
json_t *ctl_find_model(ctl *c, const char *name);
int ctl_save_endpoint(ctl *c, endpoint *ep);
const variant *ctl_endpoint_variant(const endpoint *ep, const char *variant_name);

/* Something changed: the controller plans soon (coalesced), an agent
 * reports at once (c->on_kick). */
void ctl_kick(ctl *c);
/* Whether agents may still report copies that ran before this start (then
 * nothing is placed and routers keep their snapshot). */
int ctl_adopting(ctl *c);
/* A copy's devices as the agent protocol carries them ([0, 1]), and back
 * (reading "devices" and "dev_milli_each" of o). */
json_t *ctl_devices_json(const sched_assignment *a);
void ctl_assignment_parse(json_t *o, sched_assignment *a);
/* /proc/PID/cmdline (arguments NUL-separated) into buf; its length, 0 when
 * the process is gone. */
size_t ctl_read_cmdline(int pid, char *buf, size_t bufsz);
/* Copies in the lists (an agent waits for 0 at shutdown). */
int ctl_running_copies(ctl *c);

#endif
