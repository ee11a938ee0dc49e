/* Unit tests for cgroup: CPU lists (parse, format, round trip), the choice
 * of whole cores (distinct per agent first, then away from other agents),
 * the layout detection and the OOM kill count, on fake cgroup trees in a
 * temporary directory (the real ones are the integration test's,
 * tests/integration/copy_limits.test.mjs). */
#include "cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static void pick(const char *allowed, const int *own, const int *other, int need,
                 const char *want) {
  cpu_set_t a, out;
  char got[256];
  CHECK_INT(cgroup_cpus_parse(allowed, &a), 0);
  cgroup_cpus_pick(&a, own, other, need, &out);
  CHECK_INT(cgroup_cpus_format(&out, got, sizeof got), 0);
  CHECK_STR(got, want);
}

int main(void) {
  static const struct {
    const char *in, *out;
    int rc;
  } lists[] = {
    {"0", "0", 0},
    {"0-3", "0-3", 0},
    {"0,2", "0,2", 0},
    {"3,0-1,2", "0-3", 0},
    {"0-1,4-5,7\n", "0-1,4-5,7", 0},
    {"", "", 0},
    {"\n", "", 0},
    {"1-0", NULL, -EINVAL},
    {"a", NULL, -EINVAL},
    {"1,", NULL, -EINVAL},
    {"-1", NULL, -EINVAL},
    {"0 1", NULL, -EINVAL},
    {"99999", NULL, -EINVAL},
  };
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
    cpu_set_t set;
    char out[256];
    CHECK_INT(cgroup_cpus_parse(lists[i].in, &set), lists[i].rc);
    if (lists[i].rc) continue;
    CHECK_INT(cgroup_cpus_format(&set, out, sizeof out), 0);
    CHECK_STR(out, lists[i].out);
  }
  { /* too small a buffer is an error, not a cut list */
    cpu_set_t set;
    char out[4];
    CHECK_INT(cgroup_cpus_parse("0,2,4,6", &set), 0);
    CHECK_INT(cgroup_cpus_format(&set, out, sizeof out), -ENOSPC);
    CHECK_STR(out, "");
  }
  /* Property: format(parse(x)) parses back to the same set. */
  uint64_t seed = 7;
  for (int round = 0; round < 200; round++) {
    cpu_set_t a, b;
    CPU_ZERO(&a);
    for (int k = 0; k < 20; k++) CPU_SET((size_t)(check_random(&seed) % 64), &a);
    char text[512];
    CHECK_INT(cgroup_cpus_format(&a, text, sizeof text), 0);
    CHECK_INT(cgroup_cpus_parse(text, &b), 0);
    CHECK(CPU_EQUAL(&a, &b));
  }

  static int own[CPU_SETSIZE], other[CPU_SETSIZE];
  pick("0-3", own, other, 1, "0");
  pick("0-3", own, other, 2, "0-1");
  pick("0-1", own, other, 3, "0-1"); /* more than there are: all of them */
  pick("2,5", own, other, 1, "2");    /* only allowed cores */
  own[0] = 1;
  pick("0-3", own, other, 1, "1");    /* distinct from this agent's copies */
  pick("0-3", own, other, 2, "1-2");
  other[1] = 2;
  other[2] = 1;
  pick("0-3", own, other, 1, "3");    /* then away from other agents' */
  pick("0-1", own, other, 1, "1");    /* own copies weigh first */
  own[1] = 1;
  own[2] = own[3] = 1;
  pick("0-3", own, other, 1, "0");    /* all taken: the least loaded */
  memset(own, 0, sizeof own);
  memset(other, 0, sizeof other);

  /* Layouts, on fake trees. */
  char root[] = "/tmp/berth-cgroup-test-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char path[700], why[1200];
  CHECK_INT(cgroup_detect(root, why, sizeof why), CGROUP_NONE);
  CHECK(strstr(why, "no cgroup v2 hierarchy") != NULL);
  snprintf(path, sizeof path, "%s/cgroup.controllers", root);
  write_text(path, "cpu io memory pids\n");
  CHECK_INT(cgroup_detect(root, why, sizeof why), CGROUP_NONE);
  CHECK(strstr(why, "not both cpuset and memory") != NULL);
  write_text(path, "cpuset cpu io memory hugetlb pids\n");
  CHECK_INT(cgroup_detect(root, why, sizeof why), CGROUP_V2);
  unlink(path);
  snprintf(path, sizeof path, "%s/cpuset", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/cpuset/cpuset.cpus", root);
  write_text(path, "0-1\n");
  CHECK_INT(cgroup_detect(root, why, sizeof why), CGROUP_NONE); /* no memory hierarchy */
  snprintf(path, sizeof path, "%s/memory", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/memory/memory.limit_in_bytes", root);
  write_text(path, "9223372036854771712\n");
  CHECK_INT(cgroup_detect(root, why, sizeof why), CGROUP_V1);

  /* The OOM kill count of a v1 group and of a v2 group. */
  cgroup_copy g;
  cgroup_copy_init(&g, CGROUP_V1, root, "berth/a/copy-1");
  CHECK_INT(g.n, 2);
  snprintf(path, sizeof path, "%s/cpuset/berth/a/copy-1/cgroup.procs", root);
  CHECK_STR(g.procs[0], path);
  CHECK_INT(cgroup_copy_oom_kills(&g), 0); /* no group: 0 */
  snprintf(path, sizeof path, "%s/memory/berth", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/memory/berth/a", root);
  mkdir(path, 0755);
  mkdir(g.memory_dir, 0755);
  snprintf(path, sizeof path, "%s/memory.oom_control", g.memory_dir);
  write_text(path, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  CHECK_INT(cgroup_copy_oom_kills(&g), 3);
  cgroup_copy v2;
  cgroup_copy_init(&v2, CGROUP_V2, root, "berth/a/copy-1");
  CHECK_INT(v2.n, 1);
  snprintf(path, sizeof path, "%s/berth", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/berth/a", root);
  mkdir(path, 0755);
  mkdir(v2.dir[0], 0755);
  snprintf(path, sizeof path, "%s/memory.events", v2.dir[0]);
  write_text(path, "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 1\n");
  CHECK_INT(cgroup_copy_oom_kills(&v2), 1);
  CHECK_INT(cgroup_copy_populated(&v2), 0);

  /* A sleeping copy without a sleep API: v2 freezes through cgroup.freeze
   * (the file the kernel makes; here a plain file), v1 has no freezer. */
  CHECK_INT(cgroup_copy_freeze(&g, 1), -ENOTSUP);
  snprintf(path, sizeof path, "%s/cgroup.freeze", v2.dir[0]);
  CHECK_INT(cgroup_copy_freeze(&v2, 1), -ENOENT); /* the kernel's file is missing */
  write_text(path, "0\n");
  CHECK_INT(cgroup_copy_freeze(&v2, 1), 0);
  char got[8] = "";
  FILE *ff = fopen(path, "r");
  CHECK(ff != NULL);
  if (ff) {
    CHECK(fgets(got, sizeof got, ff) != NULL);
    fclose(ff);
  }
  CHECK_INT(got[0], '1');
  CHECK_INT(cgroup_copy_freeze(&v2, 0), 0);
  ff = fopen(path, "r");
  if (ff) {
    CHECK(fgets(got, sizeof got, ff) != NULL);
    fclose(ff);
  }
  CHECK_INT(got[0], '0');

  char cmd[800];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK_INT(system(cmd), 0);
  CHECK_DONE();
}
