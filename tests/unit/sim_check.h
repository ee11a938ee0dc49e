/* sim_check.h: berth-sim unit tests' scenario helpers: a scenario from a
 * JSON string, and one policy's run of it. Include after check.h. */
#ifndef BERTH_TEST_SIM_CHECK_H
#define BERTH_TEST_SIM_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "berth/catalog.h"
#include "demand.h"
#include "scenario.h"
#include "sim.h"

static berth_catalog sim_check_catalog;

/* Loads json (written to a temp file, as berth-sim reads one) into s. */
static int sim_check_load(const char *json, scenario *s, char *err, size_t errsz) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/berth-test-sim-%d.json", (int)getpid());
  FILE *f = fopen(path, "w");
  if (!f) return -EIO;
  fputs(json, f);
  fclose(f);
  int rc = scenario_load(path, &sim_check_catalog, s, err, errsz);
  unlink(path);
  return rc;
}

/* Runs policy p on json; fills r and s. Returns 0 or -1 (checked). */
static int sim_check_run(const char *json, sim_policy p, sim_result *r, scenario *s) {
  sim_demand d;
  char err[1024];
  if (sim_check_load(json, s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return -1;
  }
  CHECK_INT(demand_compute(s, &d, err, sizeof err), 0);
  int rc = sim_run(s, &d, p, r, err, sizeof err);
  CHECK_INT(rc, 0);
  demand_free(&d);
  return rc ? -1 : 0;
}

#endif
