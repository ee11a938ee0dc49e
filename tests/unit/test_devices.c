/* Unit tests for the host's accelerator devices (lib/devices.c, lib/nvml.c
 * through the fake NVML library) and the agent's mapping of logical to
 * physical devices (src/berthd/agent/agent_devices.c). */
#include "berth/devices.h"

#include <errno.h>
#include <stdlib.h>

#include "agent_devices.h"
#include "berth/catalog.h"
#include "check.h"

#define SHIPPED BERTH_SOURCE_DIR "/share/berth/instance-types.json"

static void clear_env(void) {
  unsetenv("BERTH_LOCAL_ACCELERATORS");
  unsetenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB");
  unsetenv("BERTH_FAKE_NVML");
  setenv("BERTH_NVML_LIBRARY", FAKE_NVML, 1);
}

static void test_parse_format(void) {
  static const struct {
    const char *in;
    int n;                /* count, or -EINVAL */
    const char *again;    /* formatted back */
  } cases[] = {
    {"4,5,6,7", 4, "4,5,6,7"}, {"0", 1, "0"}, {"63", 1, "63"}, {"3,1", 2, "3,1"},
    {"", -EINVAL, NULL}, {"64", -EINVAL, NULL}, {"-1", -EINVAL, NULL}, {" 1", -EINVAL, NULL},
    {"1,", -EINVAL, NULL}, {",1", -EINVAL, NULL}, {"1,,2", -EINVAL, NULL},
    {"1,1", -EINVAL, NULL}, {"a", -EINVAL, NULL}, {"1;2", -EINVAL, NULL},
    {"0,1,2,3,4", -EINVAL, NULL}, /* more than max (4) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int idx[4];
    char err[256] = "", back[64];
    int n = berth_devices_parse(cases[i].in, idx, 4, err, sizeof err);
    if (n != cases[i].n) fprintf(stderr, "case \"%s\"\n", cases[i].in);
    CHECK_INT(n, cases[i].n);
    if (n > 0) {
      berth_devices_format(idx, n, back, sizeof back);
      CHECK_STR(back, cases[i].again);
    } else {
      CHECK(strstr(err, cases[i].in) != NULL); /* the message quotes the list */
    }
  }
  char out[8];
  int many[] = {10, 11, 12};
  berth_devices_format(many, 3, out, sizeof out); /* truncates, stays terminated */
  CHECK(strlen(out) < sizeof out);
  berth_devices_format(many, 0, out, sizeof out);
  CHECK_STR(out, "");
}

static void test_pick(void) {
  berth_devices h = {.n = 8, .source = BERTH_DEVICES_DECLARED};
  for (int i = 0; i < 8; i++) h.dev[i].index = i;
  unsigned char taken[BERTH_MAX_HOST_DEVICES] = {0};
  int out[8];
  CHECK_INT(berth_devices_pick(&h, taken, 4, out), 0);
  CHECK(out[0] == 0 && out[1] == 1 && out[2] == 2 && out[3] == 3);
  for (int i = 0; i < 4; i++) taken[i] = 1;
  CHECK_INT(berth_devices_pick(&h, taken, 4, out), 0);
  CHECK(out[0] == 4 && out[3] == 7);
  for (int i = 4; i < 8; i++) taken[i] = 1;
  out[0] = -1;
  CHECK_INT(berth_devices_pick(&h, taken, 1, out), -ENOSPC);
  CHECK_INT(out[0], -1); /* untouched */
  /* A hole is filled first: the first free ones, in host order. */
  taken[2] = taken[6] = 0;
  CHECK_INT(berth_devices_pick(&h, taken, 2, out), 0);
  CHECK(out[0] == 2 && out[1] == 6);
  CHECK_INT(berth_devices_pick(&h, taken, 3, out), -ENOSPC);
  /* Physical indices are the host's, not positions (NVML may skip one). */
  berth_devices g = {.n = 2, .source = BERTH_DEVICES_NVML};
  g.dev[0].index = 1;
  g.dev[1].index = 3;
  unsigned char none[BERTH_MAX_HOST_DEVICES] = {0};
  CHECK_INT(berth_devices_pick(&g, none, 2, out), 0);
  CHECK(out[0] == 1 && out[1] == 3);
  CHECK(berth_devices_find(&g, 3) == &g.dev[1]);
  CHECK(berth_devices_find(&g, 0) == NULL);
}

static void test_probe(void) {
  berth_devices d;
  char err[256];
  /* Nothing declared and no GPU: none, simulated. */
  clear_env();
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), 0);
  CHECK_INT(d.n, 0);
  CHECK_INT(d.source, BERTH_DEVICES_NONE);
  setenv("BERTH_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), 0);
  CHECK_INT(d.n, 0);

  /* NVML's GPUs, with their own memory, name and UUID. */
  clear_env();
  setenv("BERTH_FAKE_NVML", "81559,40960,81559", 1);
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), 0);
  CHECK_INT(d.source, BERTH_DEVICES_NVML);
  CHECK_INT(d.n, 3);
  CHECK_INT(d.dev[1].index, 1);
  CHECK_INT(d.dev[1].memory_mib, 40960);
  CHECK_STR(d.dev[2].name, "Fake GPU 2");
  CHECK_STR(d.dev[2].uuid, "GPU-fake-0002");
  berth_gpu gpus[2];
  CHECK_INT(berth_nvml_list(gpus, 2), 2); /* at most max */

  /* "local" is the machine: NVML's count and its smallest device. */
  berth_catalog cat;
  CHECK_INT(berth_catalog_load(SHIPPED, &cat, err, sizeof err), 0);
  const berth_instance_type *t = berth_catalog_find(&cat, "local");
  CHECK(t && t->accelerators == 3 && t->accelerator_memory_mib == 40960);
  CHECK(t && strcmp(t->accelerator_kind, "nvidia") == 0);
  berth_catalog_free(&cat);

  /* Declared devices win over NVML. */
  setenv("BERTH_LOCAL_ACCELERATORS", "8", 1);
  setenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB", "8192", 1);
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), 0);
  CHECK_INT(d.source, BERTH_DEVICES_DECLARED);
  CHECK_INT(d.n, 8);
  CHECK_INT(d.dev[7].index, 7);
  CHECK_INT(d.dev[7].memory_mib, 8192);
  CHECK_STR(berth_devices_source_name(d.source), "BERTH_LOCAL_ACCELERATORS");
  unsetenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB");
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), 0);
  CHECK_INT(d.dev[0].memory_mib, 16384); /* the default */

  /* A malformed declaration names the variable and its value. */
  setenv("BERTH_LOCAL_ACCELERATORS", "17", 1);
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), -EINVAL);
  CHECK(strstr(err, "BERTH_LOCAL_ACCELERATORS=\"17\"") != NULL);
  setenv("BERTH_LOCAL_ACCELERATORS", "2", 1);
  setenv("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB", "0", 1);
  CHECK_INT(berth_devices_probe(&d, err, sizeof err), -EINVAL);
  CHECK(strstr(err, "BERTH_LOCAL_ACCELERATOR_MEMORY_MIB=\"0\"") != NULL);
  clear_env();
}

static const berth_instance_type gpu4 = {.name = "berth.gpu.4", .vcpus = 8, .memory_mib = 32768,
                                         .accelerators = 4, .accelerator_memory_mib = 16384,
                                         .accelerator_kind = "nvidia"};

static int setup(instance *self, const berth_instance_type *t, const char *flag, char *msg,
                 size_t msgsz) {
  memset(self, 0, sizeof *self);
  self->type = t;
  self->res = sched_capacity(t);
  return agent_devices_setup(self, flag, msg, msgsz);
}

static void test_agent_setup(void) {
  instance self;
  char msg[512];
  clear_env();
  /* No devices on the host: logical indices, the type's memory. */
  CHECK_INT(setup(&self, &gpu4, NULL, msg, sizeof msg), 0);
  CHECK_INT(self.n_host_devices, 0);
  CHECK(strstr(msg, "simulated") != NULL);

  setenv("BERTH_FAKE_NVML", "81559,81559,12288,12288,12288,12288", 1);
  /* --devices: exactly those, memory the smaller of the type's and theirs. */
  CHECK_INT(setup(&self, &gpu4, "2,3,4,5", msg, sizeof msg), 0);
  CHECK_INT(self.n_host_devices, 4);
  CHECK(self.host_devices[0] == 2 && self.host_devices[3] == 5);
  CHECK_INT(self.res.dev_mem_mb, 12288);
  CHECK(strstr(msg, "2,3,4,5") != NULL && strstr(msg, "NVML") != NULL);
  /* Without: the host's first ones; bigger devices leave the type's. */
  CHECK_INT(setup(&self, &gpu4, NULL, msg, sizeof msg), 0);
  CHECK(self.n_host_devices == 4 && self.host_devices[0] == 0 && self.host_devices[3] == 3);
  CHECK_INT(self.res.dev_mem_mb, 12288);
  CHECK(strstr(msg, "--devices") != NULL); /* says how to choose others */

  /* Refusals say what was wrong. */
  CHECK_INT(setup(&self, &gpu4, "0,1", msg, sizeof msg), -1);
  CHECK(strstr(msg, "names 2 devices") && strstr(msg, "berth.gpu.4 has 4"));
  CHECK_INT(setup(&self, &gpu4, "0,1,2,9", msg, sizeof msg), -1);
  CHECK(strstr(msg, "no device 9") != NULL);
  CHECK_INT(setup(&self, &gpu4, "0,1,x,2", msg, sizeof msg), -1);
  CHECK(strstr(msg, "0,1,x,2") != NULL);
  berth_instance_type cpu = {.name = "berth.small", .vcpus = 2, .memory_mib = 4096};
  CHECK_INT(setup(&self, &cpu, "0", msg, sizeof msg), -1);
  CHECK(strstr(msg, "no accelerators") != NULL);
  CHECK_INT(setup(&self, &cpu, NULL, msg, sizeof msg), 0);
  CHECK_INT(self.n_host_devices, 0);
  setenv("BERTH_FAKE_NVML", "81559,81559", 1);
  CHECK_INT(setup(&self, &gpu4, NULL, msg, sizeof msg), -1);
  CHECK(strstr(msg, "only 2") != NULL);
  clear_env();
}

static const char *env_of(const agent_device_env *e, const char *name) {
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->name[i], name) == 0) return e->value[i];
  return NULL;
}

static void test_agent_env(void) {
  instance in;
  memset(&in, 0, sizeof in);
  in.type = &gpu4;
  in.res = sched_capacity(&gpu4);
  int phys[] = {4, 5, 6, 7};
  memcpy(in.host_devices, phys, sizeof phys);
  in.n_host_devices = 4;
  ic owner;
  memset(&owner, 0, sizeof owner);
  copy cp;
  memset(&cp, 0, sizeof cp);
  cp.inst = &in;
  cp.owner = &owner;
  cp.assign.n_devices = 2;
  cp.assign.devices[0] = 1;
  cp.assign.devices[1] = 2;
  cp.assign.dev_milli_each = 1000;
  agent_device_env e;
  agent_devices_env(&cp, &e);
  CHECK_STR(env_of(&e, "CUDA_VISIBLE_DEVICES"), "5,6"); /* logical 1,2 of 4,5,6,7 */
  CHECK_STR(env_of(&e, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
  CHECK_STR(env_of(&e, "BERTH_ACCELERATOR_MEMORY_MB"), "16384");
  CHECK(env_of(&e, "BERTH_ACCELERATOR_SHARE") == NULL);
  CHECK_INT(agent_device(&cp, 3), 7);

  /* A quarter of a device: its share and its share of the memory... */
  cp.assign.n_devices = 1;
  cp.assign.devices[0] = 3;
  cp.assign.dev_milli_each = 250;
  agent_devices_env(&cp, &e);
  CHECK_STR(env_of(&e, "CUDA_VISIBLE_DEVICES"), "7");
  CHECK_STR(env_of(&e, "BERTH_ACCELERATOR_SHARE"), "0.250");
  CHECK_STR(env_of(&e, "BERTH_ACCELERATOR_MEMORY_MB"), "4096");
  /* ...or the memory the copy reserves. */
  cp.need.dev_mem_mb = 6000;
  agent_devices_env(&cp, &e);
  CHECK_STR(env_of(&e, "BERTH_ACCELERATOR_MEMORY_MB"), "6000");

  /* Simulated (no physical devices): logical indices, no device order. */
  in.n_host_devices = 0;
  cp.assign.dev_milli_each = 1000;
  agent_devices_env(&cp, &e);
  CHECK_STR(env_of(&e, "CUDA_VISIBLE_DEVICES"), "3");
  CHECK(env_of(&e, "CUDA_DEVICE_ORDER") == NULL);

  /* Neuron types name cores in their own variable. */
  berth_instance_type inf = gpu4;
  snprintf(inf.accelerator_kind, sizeof inf.accelerator_kind, "neuron");
  in.type = &inf;
  agent_devices_env(&cp, &e);
  CHECK_STR(env_of(&e, "NEURON_RT_VISIBLE_CORES"), "3");
  CHECK(env_of(&e, "CUDA_VISIBLE_DEVICES") == NULL);

  /* A copy without devices is told nothing. */
  cp.assign.n_devices = 0;
  agent_devices_env(&cp, &e);
  CHECK_INT(e.n, 0);
}

int main(void) {
  unsetenv("BERTH_CATALOG");
  test_parse_format();
  test_pick();
  test_probe();
  test_agent_setup();
  test_agent_env();
  CHECK_DONE();
}
