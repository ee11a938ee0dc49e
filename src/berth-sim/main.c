/* berth-sim: what would this traffic cost on Berth, on SageMaker inference
 * components, and on dedicated endpoints?
 *
 * Reads a scenario (docs/sim.md), computes the traffic's demand and its
 * fluid lower bound, runs the chosen policies on the same traffic with
 * Berth's own placement and autoscaling code, and prints a table; --csv and
 * --svg write the copy and instance time series. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/catalog.h"
#include "demand.h"
#include "report.h"
#include "scenario.h"
#include "sim.h"
#include "traffic.h"
#include "yardstick.h"

static struct {
  const char *scenario;
  const char *catalog;
  const char *csv, *svg;
  const char *trace;
  const char *requests;           /* --requests: write the request stream */
  int policies[SIM_N_POLICIES];   /* in run order */
  int n_policies;
  int per_model;
  int have_seed;
  double dedicated_window;        /* 0: the scenario's */
  unsigned long long seed;
} conf;

static void usage(FILE *f) {
  fprintf(f,
          "usage: berth-sim [options] SCENARIO.json\n"
          "Simulates a day (or any span) of traffic on a fleet, with Berth's own placement and\n"
          "autoscaling code, and reports cost, latency and failures per policy.\n\n"
          "  -p, --policy LIST   berth, sagemaker, dedicated or all (default all);\n"
          "                      a comma-separated list runs several\n"
          "      --csv FILE      write the time series (copies, instances per model) as CSV\n"
          "      --svg FILE      plot the time series as SVG\n"
          "  -m, --per-model     also print a table per model\n"
          "      --seed N        override the scenario's seed\n"
          "      --trace FILE    override the scenario's trace file\n"
          "      --requests FILE write the requests simulated (timestamp,model,input_tokens,\n"
          "                      output_tokens), a trace that --trace and load generators replay\n"
          "      --dedicated-window S  size dedicated for the peak S-second mean demand\n"
          "                      (default: in hindsight, the fewest copies that keep 99.9%%\n"
          "                      within SLO; dedicated.sizing PEAK uses peak_window_s, 60)\n"
          "      --catalog FILE  instance-type catalog (default: %s)\n"
          "  -h, --help          this help\n\n"
          "Scenarios and their documented results are in bench/sim/; the model is in docs/sim.md.\n",
          berth_catalog_default_path());
}

static int add_policy(const char *name) {
  static const struct { const char *n; sim_policy p; } map[] = {
      {"dedicated", POLICY_DEDICATED}, {"sagemaker", POLICY_SAGEMAKER}, {"berth", POLICY_BERTH}};
  if (strcmp(name, "all") == 0) {
    for (size_t i = 0; i < 3; i++)
      if (add_policy(map[i].n)) return -1;
    return 0;
  }
  for (size_t i = 0; i < 3; i++)
    if (strcmp(map[i].n, name) == 0) {
      for (int j = 0; j < conf.n_policies; j++)
        if (conf.policies[j] == (int)map[i].p) return 0;
      conf.policies[conf.n_policies++] = (int)map[i].p;
      return 0;
    }
  fprintf(stderr, "berth-sim: unknown policy \"%s\": use berth, sagemaker, dedicated or all\n", name);
  return -1;
}

static int parse_policies(const char *list) {
  char buf[128];
  if (strlen(list) >= sizeof buf) {
    fprintf(stderr, "berth-sim: --policy list is too long\n");
    return -1;
  }
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (add_policy(tok)) return -1;
  return 0;
}

static int parse_args(int argc, char **argv) {
  enum { OPT_CSV = 256, OPT_SVG, OPT_SEED, OPT_TRACE, OPT_CATALOG, OPT_REQUESTS, OPT_DEDICATED };
  static const struct option opts[] = {
      {"policy", required_argument, NULL, 'p'}, {"csv", required_argument, NULL, OPT_CSV},
      {"svg", required_argument, NULL, OPT_SVG}, {"per-model", no_argument, NULL, 'm'},
      {"seed", required_argument, NULL, OPT_SEED}, {"trace", required_argument, NULL, OPT_TRACE},
      {"catalog", required_argument, NULL, OPT_CATALOG}, {"help", no_argument, NULL, 'h'},
      {"requests", required_argument, NULL, OPT_REQUESTS},
      {"dedicated-window", required_argument, NULL, OPT_DEDICATED},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "p:mh", opts, NULL)) != -1) {
    switch (c) {
    case 'p':
      if (parse_policies(optarg)) return 2;
      break;
    case 'm': conf.per_model = 1; break;
    case OPT_CSV: conf.csv = optarg; break;
    case OPT_SVG: conf.svg = optarg; break;
    case OPT_TRACE: conf.trace = optarg; break;
    case OPT_CATALOG: conf.catalog = optarg; break;
    case OPT_REQUESTS: conf.requests = optarg; break;
    case OPT_DEDICATED: {
      char *end;
      errno = 0;
      long v = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end || v < 10 || v > 3600 || v % 10) {
        fprintf(stderr, "berth-sim: --dedicated-window \"%s\" must be a multiple of 10 from 10 to 3600 "
                "(seconds)\n", optarg);
        return 2;
      }
      conf.dedicated_window = (double)v;
      break;
    }
    case OPT_SEED: {
      char *end;
      errno = 0;
      conf.seed = strtoull(optarg, &end, 10);
      if (errno || end == optarg || *end || optarg[0] == '-') {
        fprintf(stderr, "berth-sim: --seed \"%s\" is not a non-negative whole number\n", optarg);
        return 2;
      }
      conf.have_seed = 1;
      break;
    }
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  conf.scenario = argv[optind];
  if (!conf.n_policies) add_policy("all");
  return 0;
}

/* Writes the scenario's requests as a trace with a model column. */
static int write_requests(const char *path, const scenario *s, char *err, size_t errsz) {
  FILE *f = fopen(path, "w");
  if (!f) {
    int e = errno;
    snprintf(err, errsz, "cannot write the requests file %s: %s", path, strerror(e));
    return -e;
  }
  traffic *tr;
  int rc = traffic_open(&tr, s, err, errsz);
  if (rc) {
    fclose(f);
    return rc;
  }
  sim_request r;
  fprintf(f, "timestamp,model,input_tokens,output_tokens\n");
  while ((rc = traffic_next(tr, &r, err, errsz)) == 1)
    fprintf(f, "%.6f,%s,%u,%u\n", r.t, s->models[r.model].name, r.in_tokens, r.out_tokens);
  traffic_close(tr);
  if (ferror(f) && rc == 0) rc = -EIO;
  if (fclose(f) && rc == 0) rc = -errno;
  if (rc < 0 && !err[0]) snprintf(err, errsz, "writing the requests file %s failed: %s", path, strerror(-rc));
  return rc < 0 ? rc : 0;
}

/* The policies run on as many threads as there are CPUs; they share only
 * the scenario and the demand, which they read and never write. Workers take
 * policies from the end of the list: `all` lists berth, the slowest, last. */
typedef struct policy_runs {
  const scenario *s;
  const scenario *s_sagemaker;    /* s on the type a SageMaker user picks */
  const sim_demand *d;
  sim_result *res;
  int rc[SIM_N_POLICIES];
  char err[SIM_N_POLICIES][1024];
  int next; /* policies left to take, under lock */
  pthread_mutex_t lock;
} policy_runs;

static void *run_policies_worker(void *arg) {
  policy_runs *r = arg;
  for (;;) {
    pthread_mutex_lock(&r->lock);
    int i = --r->next;
    pthread_mutex_unlock(&r->lock);
    if (i < 0) return NULL;
    sim_policy p = (sim_policy)conf.policies[i];
    r->rc[i] = sim_run(p == POLICY_SAGEMAKER ? r->s_sagemaker : r->s, r->d, (sim_policy)conf.policies[i], &r->res[i], r->err[i], sizeof r->err[i]);
  }
}

/* Runs every chosen policy into res[i]; 0, or -1 after printing the first
 * failure. */
static int run_policies(const scenario *s, const scenario *s_sagemaker, const sim_demand *d,
                        sim_result *res) {
  static policy_runs r;
  memset(&r, 0, sizeof r);
  r.s = s;
  r.s_sagemaker = s_sagemaker;
  r.d = d;
  r.res = res;
  r.next = conf.n_policies;
  pthread_mutex_init(&r.lock, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  pthread_t threads[SIM_N_POLICIES];
  int n = 0;
  for (int i = 1; i < conf.n_policies && i < cpus; i++)
    if (pthread_create(&threads[n], NULL, run_policies_worker, &r) == 0) n++;
  run_policies_worker(&r);
  for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
  pthread_mutex_destroy(&r.lock);
  for (int i = 0; i < conf.n_policies; i++)
    if (r.rc[i]) {
      fprintf(stderr, "berth-sim: %s policy: %s\n", sim_policy_name((sim_policy)conf.policies[i]), r.err[i]);
      return -1;
    }
  return 0;
}

int main(int argc, char **argv) {
  int rc = parse_args(argc, argv);
  if (rc) return rc;
  char err[1024] = "";
  berth_catalog cat = {0};
  scenario s;
  sim_demand d;
  sim_result res[SIM_N_POLICIES];
  int n_done = 0, status = 1;
  memset(&d, 0, sizeof d);
  if (berth_catalog_load(conf.catalog, &cat, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    return 1;
  }
  if (scenario_load(conf.scenario, &cat, &s, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    berth_catalog_free(&cat);
    return 1;
  }
  if (conf.have_seed) s.seed = conf.seed;
  if (conf.dedicated_window > 0) {
    s.dedicated_peak_window_s = conf.dedicated_window;
    s.dedicated_sizing = DEDICATED_SIZING_PEAK;
  }
  if (conf.trace) {
    snprintf(s.trace_path, sizeof s.trace_path, "%s", conf.trace);
    s.traffic = TRAFFIC_TRACE;
  }
  if (conf.requests && write_requests(conf.requests, &s, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    goto out;
  }
  if (demand_compute(&s, &d, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    goto out;
  }
  for (int i = 0; i < conf.n_policies; i++)
    if (conf.policies[i] == POLICY_DEDICATED && yardstick_size_dedicated(&s, &d, err, sizeof err)) {
      fprintf(stderr, "berth-sim: %s\n", err);
      goto out;
    }
  /* The SageMaker baseline on its own user's type; the copy shares the
   * models and is never freed. */
  static scenario s_sm;
  s_sm = s;
  s_sm.endpoint_type = sagemaker_choose_type(&s);
  s.sagemaker_type = s_sm.endpoint_type;
  memset(res, 0, sizeof res);
  n_done = conf.n_policies; /* freeing a result that never ran is harmless */
  if (run_policies(&s, &s_sm, &d, res)) goto out;
  report_table(stdout, &s, &d, res, (size_t)n_done, conf.per_model);
  if (conf.csv && report_csv(conf.csv, &s, &d, res, (size_t)n_done, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    goto out;
  }
  if (conf.svg && report_svg(conf.svg, &s, &d, res, (size_t)n_done, err, sizeof err)) {
    fprintf(stderr, "berth-sim: %s\n", err);
    goto out;
  }
  status = 0;
out:
  for (int i = 0; i < n_done; i++) sim_result_free(&res[i]);
  demand_free(&d);
  scenario_free(&s);
  berth_catalog_free(&cat);
  return status;
}
