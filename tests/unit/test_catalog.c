/* Unit tests for catalog: the shipped file loads and holds the right figures,
 * "local" reads this machine, and each kind of bad file fails with a message
 * naming the file, the entry and the field. */
#include "berth/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

#define SHIPPED BERTH_SOURCE_DIR "/share/berth/instance-types.json"

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_shipped(void) {
  berth_catalog cat;
  char err[512];
  int rc = berth_catalog_load(SHIPPED, &cat, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  CHECK_INT(rc, 0);
  CHECK(cat.n >= 20);

  const berth_instance_type *t = berth_catalog_find(&cat, "ml.g5.2xlarge");
  CHECK(t != NULL);
  if (t) {
    CHECK_INT(t->vcpus, 8);
    CHECK_INT(t->memory_mib, 32768);
    CHECK_INT(t->accelerators, 1);
    CHECK_INT(t->accelerator_memory_mib, 24576);
    CHECK_STR(t->accelerator_kind, "nvidia");
    CHECK(t->price_per_hour > 1.5 && t->price_per_hour < 1.53);
  }
  t = berth_catalog_find(&cat, "ml.inf2.24xlarge");
  CHECK(t && t->accelerators == 6 && t->accelerator_memory_mib == 32768);
  CHECK(t && strcmp(t->accelerator_kind, "neuron") == 0);
  t = berth_catalog_find(&cat, "ml.p5.48xlarge");
  CHECK(t && t->accelerators == 8 && t->accelerator_memory_mib == 81920);
  t = berth_catalog_find(&cat, "berth.gpu.4");
  CHECK(t && t->vcpus == 8 && t->accelerators == 4 && t->accelerator_memory_mib == 16384);
  CHECK(t && t->price_per_hour == 2.0);
  t = berth_catalog_find(&cat, "berth.small");
  CHECK(t && t->vcpus == 2 && t->memory_mib == 4096 && t->accelerators == 0);

  static const char *const required[] = {
    "ml.t3.medium", "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge",
    "ml.c5.xlarge", "ml.c5.2xlarge", "ml.g5.xlarge", "ml.g5.2xlarge", "ml.g5.12xlarge",
    "ml.g5.48xlarge", "ml.g6.xlarge", "ml.g6.12xlarge", "ml.p4d.24xlarge",
    "ml.p5.48xlarge", "ml.inf2.xlarge", "ml.inf2.24xlarge", "local",
  };
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    t = berth_catalog_find(&cat, required[i]);
    if (!t) fprintf(stderr, "missing %s\n", required[i]);
    CHECK(t != NULL);
    if (t && strcmp(required[i], "local") != 0) CHECK(t->price_per_hour > 0);
  }
  CHECK(berth_catalog_find(&cat, "ml.nonexistent") == NULL);

  /* "local" is this machine: real, nonzero CPUs and memory, no devices. */
  t = berth_catalog_find(&cat, "local");
  CHECK(t && t->vcpus == (int)sysconf(_SC_NPROCESSORS_ONLN));
  CHECK(t && t->memory_mib > 0);
  CHECK(t && t->accelerators == 0 && t->price_per_hour == 0);
  berth_catalog_free(&cat);
  CHECK(cat.types == NULL && cat.n == 0);
}

static void test_local_declared_devices(void) {
  berth_catalog cat;
  char err[512];
  setenv("BERTH_LOCAL_ACCELERATORS", "2", 1);
  setenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB", "8192", 1);
  CHECK_INT(berth_catalog_load(SHIPPED, &cat, err, sizeof err), 0);
  const berth_instance_type *t = berth_catalog_find(&cat, "local");
  CHECK(t && t->accelerators == 2 && t->accelerator_memory_mib == 8192);
  CHECK(t && strcmp(t->accelerator_kind, "nvidia") == 0);
  berth_catalog_free(&cat);

  setenv("BERTH_LOCAL_ACCELERATORS", "two", 1);
  CHECK_INT(berth_catalog_load(SHIPPED, &cat, err, sizeof err), -EINVAL);
  CHECK(strstr(err, "BERTH_LOCAL_ACCELERATORS=\"two\"") != NULL);
  setenv("BERTH_LOCAL_ACCELERATORS", "17", 1);
  CHECK_INT(berth_catalog_load(SHIPPED, &cat, err, sizeof err), -EINVAL);
  unsetenv("BERTH_LOCAL_ACCELERATORS");
  unsetenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB");

  /* Nonzero file values for "local" win over the system's. */
  const char *p = write_tmp("local.json",
      "{\"instance_types\":[{\"name\":\"local\",\"vcpus\":3,\"memory_mib\":1000,"
      "\"price_per_hour\":0}]}");
  CHECK_INT(berth_catalog_load(p, &cat, err, sizeof err), 0);
  t = berth_catalog_find(&cat, "local");
  CHECK(t && t->vcpus == 3 && t->memory_mib == 1000);
  berth_catalog_free(&cat);
}

typedef struct bad_case {
  const char *json;
  int rc;
  const char *want[3];   /* substrings the message must contain */
} bad_case;

#define OK_ENTRY "{\"name\":\"ok\",\"vcpus\":2,\"memory_mib\":1024,\"price_per_hour\":0.1}"

static const bad_case bad_cases[] = {
  {"{\"instance_types\":[" OK_ENTRY ",{\"vcpus\":2,\"memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"instance_types[1]", "\"name\"", "missing"}},
  {"{\"instance_types\":[{\"name\":\"big\",\"vcpus\":-2,\"memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"instance_types[0] (\"big\")", "\"vcpus\"", "got -2"}},
  {"{\"instance_types\":[{\"name\":\"x\",\"vcpus\":2.5,\"memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"(\"x\")", "\"vcpus\"", "got 2.5"}},
  {"{\"instance_types\":[{\"name\":\"g\",\"vcpus\":2,\"memory_mib\":1,\"accelerators\":17,"
   "\"accelerator_memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"(\"g\")", "\"accelerators\"", "got 17"}},
  {"{\"instance_types\":[{\"name\":\"g\",\"vcpus\":2,\"memory_mib\":1,\"accelerators\":2,"
   "\"price_per_hour\":1}]}",
   -EINVAL, {"(\"g\")", "\"accelerator_memory_mib\"", "missing"}},
  {"{\"instance_types\":[{\"name\":\"p\",\"vcpus\":2,\"memory_mib\":1,\"price_per_hour\":-1}]}",
   -EINVAL, {"(\"p\")", "\"price_per_hour\"", "got -1"}},
  {"{\"instance_types\":[{\"name\":\"p\",\"vcpus\":2,\"memory_mib\":1,\"price_per_hour\":\"1\"}]}",
   -EINVAL, {"(\"p\")", "\"price_per_hour\"", "got the string \"1\""}},
  {"{\"instance_types\":[{\"name\":\"z\",\"vcpus\":0,\"memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"(\"z\")", "\"vcpus\"", "from 1"}},
  {"{\"instance_types\":[{\"name\":\"0123456789012345678901234567890123456789"
   "012345678901234567890123\",\"vcpus\":2,\"memory_mib\":1,\"price_per_hour\":1}]}",
   -EINVAL, {"instance_types[0]", "\"name\"", "1 to 63 characters"}},
  {"{\"instance_types\":[" OK_ENTRY "," OK_ENTRY "]}",
   -EINVAL, {"instance_types[1]", "\"ok\"", "already used"}},
  {"{\"instance_types\":[" OK_ENTRY ", 7]}",
   -EINVAL, {"instance_types[1]", "must be an object", "got 7"}},
  {"{\"instance_types\":[]}", -EINVAL, {"non-empty array", "instance_types", NULL}},
  {"[1,2]", -EINVAL, {"top-level object", NULL, NULL}},
  {"{\"instance_types\":[" OK_ENTRY, -EINVAL, {"not valid JSON", ":1:", NULL}},
};

static void test_bad_files(void) {
  for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) {
    const bad_case *bc = &bad_cases[k];
    char name[32];
    snprintf(name, sizeof name, "bad%zu.json", k);
    const char *p = write_tmp(name, bc->json);
    berth_catalog cat;
    char err[512];
    CHECK_INT(berth_catalog_load(p, &cat, err, sizeof err), bc->rc);
    CHECK(cat.types == NULL && cat.n == 0);
    CHECK(strstr(err, name) != NULL); /* names the file */
    for (int j = 0; j < 3 && bc->want[j]; j++)
      if (!strstr(err, bc->want[j]))
        CHECK_FAIL_("case %zu: \"%s\" not in message: %s", k, bc->want[j], err);
  }

  berth_catalog cat;
  char err[512];
  char missing[128];
  snprintf(missing, sizeof missing, "%s/none.json", tmpdir);
  CHECK_INT(berth_catalog_load(missing, &cat, err, sizeof err), -ENOENT);
  CHECK(strstr(err, "none.json") && strstr(err, "BERTH_CATALOG"));

  /* Unknown fields are ignored so newer catalogs still load. */
  const char *p = write_tmp("extra.json",
      "{\"version\":2,\"instance_types\":[{\"name\":\"e\",\"vcpus\":1,\"memory_mib\":512,"
      "\"price_per_hour\":0,\"network_gbps\":10}]}");
  CHECK_INT(berth_catalog_load(p, &cat, err, sizeof err), 0);
  CHECK_INT(cat.n, 1);
  berth_catalog_free(&cat);
}

static void test_default_path(void) {
  setenv("BERTH_CATALOG", "/some/where.json", 1);
  CHECK_STR(berth_catalog_default_path(), "/some/where.json");
  unsetenv("BERTH_CATALOG");
  /* Tests run from BUILD/tests: the catalog configure copied to
   * BUILD/share/berth, found relative to the program (nothing compiled in). */
  const char *p = berth_catalog_default_path();
  CHECK(strstr(p, "/share/berth/instance-types.json") != NULL);
  CHECK(access(p, R_OK) == 0);
  berth_catalog cat;
  char err[512];
  int rc = berth_catalog_load(NULL, &cat, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  CHECK_INT(rc, 0);
  berth_catalog_free(&cat);
}

static void cleanup(void) {
  static const char *const names[] = {"local.json", "extra.json"};
  char path[128];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
    unlink(path);
  }
  for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) {
    snprintf(path, sizeof path, "%s/bad%zu.json", tmpdir, k);
    unlink(path);
  }
  rmdir(tmpdir);
}

int main(void) {
  unsetenv("BERTH_CATALOG");
  unsetenv("BERTH_LOCAL_ACCELERATORS");
  snprintf(tmpdir, sizeof tmpdir, "/tmp/berth-catalog-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_shipped();
  test_local_declared_devices();
  test_bad_files();
  test_default_path();
  cleanup();
  CHECK_DONE();
}
