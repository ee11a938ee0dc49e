/* nvml: lists this machine's NVIDIA GPUs (index, memory, name, UUID)
 * through NVML, loaded with dlopen so that Berth builds and runs where no
 * driver exists (the library is simply absent, and the count is 0). */
#include "berth/nvml.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct {
  unsigned long long total, free, used;
} nvml_memory;

typedef int (*fn_init)(void);
typedef int (*fn_count)(unsigned int *);
typedef int (*fn_handle)(unsigned int, void **);
typedef int (*fn_memory)(void *, nvml_memory *);
typedef int (*fn_text)(void *, char *, unsigned int);
typedef int (*fn_shutdown)(void);

int berth_nvml_list(berth_gpu *out, int max) {
  const char *path = getenv("BERTH_NVML_LIBRARY");
  void *lib = dlopen(path && path[0] ? path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  fn_init init = (fn_init)dlsym(lib, "nvmlInit_v2");
  fn_count count = (fn_count)dlsym(lib, "nvmlDeviceGetCount_v2");
  fn_handle handle = (fn_handle)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
  fn_memory memory = (fn_memory)dlsym(lib, "nvmlDeviceGetMemoryInfo");
  fn_shutdown shutdown = (fn_shutdown)dlsym(lib, "nvmlShutdown");
  /* Name and UUID only describe a device: older drivers may lack them. */
  fn_text name = (fn_text)dlsym(lib, "nvmlDeviceGetName");
  fn_text uuid = (fn_text)dlsym(lib, "nvmlDeviceGetUUID");
  int rc = -1;
  unsigned int n = 0;
  if (!init || !count || !handle || !memory || !shutdown || init() != 0) goto out;
  if (count(&n) == 0) {
    rc = 0;
    for (unsigned int i = 0; i < n && rc < max; i++) {
      void *h;
      nvml_memory m;
      /* A device NVML cannot read (lost, or in a bad state) is not
       * offered: a copy given it would fail anyway. */
      if (handle(i, &h) != 0 || memory(h, &m) != 0) continue;
      berth_gpu *g = &out[rc++];
      g->index = (int)i;
      g->memory_mib = (long)(m.total / (1024 * 1024));
      g->name[0] = g->uuid[0] = '\0';
      if (name && name(h, g->name, sizeof g->name) != 0) g->name[0] = '\0';
      if (uuid && uuid(h, g->uuid, sizeof g->uuid) != 0) g->uuid[0] = '\0';
      g->name[sizeof g->name - 1] = g->uuid[sizeof g->uuid - 1] = '\0';
    }
  }
  shutdown();
out:
  dlclose(lib);
  return rc;
}

typedef struct {
  unsigned int gpu, memory;
} nvml_utilization;
typedef int (*fn_utilization)(void *, nvml_utilization *);

struct berth_nvml {
  void *lib;
  fn_handle handle;
  fn_memory memory;
  fn_utilization utilization;
  fn_shutdown shutdown;
};

berth_nvml *berth_nvml_open(void) {
  const char *path = getenv("BERTH_NVML_LIBRARY");
  void *lib = dlopen(path && path[0] ? path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return NULL;
  fn_init init = (fn_init)dlsym(lib, "nvmlInit_v2");
  berth_nvml *n = calloc(1, sizeof *n);
  if (!n) goto fail;
  n->lib = lib;
  n->handle = (fn_handle)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
  n->memory = (fn_memory)dlsym(lib, "nvmlDeviceGetMemoryInfo");
  n->utilization = (fn_utilization)dlsym(lib, "nvmlDeviceGetUtilizationRates");
  n->shutdown = (fn_shutdown)dlsym(lib, "nvmlShutdown");
  if (!init || !n->handle || !n->memory || !n->utilization || !n->shutdown || init() != 0)
    goto fail;
  return n;
fail:
  free(n);
  dlclose(lib);
  return NULL;
}

int berth_nvml_usage(berth_nvml *n, int index, berth_gpu_usage *out) {
  void *h;
  nvml_memory m;
  nvml_utilization u;
  if (!n || index < 0 || n->handle((unsigned int)index, &h) != 0 || n->memory(h, &m) != 0 ||
      n->utilization(h, &u) != 0)
    return -1;
  out->busy_percent = u.gpu > 100 ? 100 : u.gpu;
  out->memory_used_mib = (long)(m.used / (1024 * 1024));
  return 0;
}

void berth_nvml_close(berth_nvml *n) {
  if (!n) return;
  n->shutdown();
  dlclose(n->lib);
  free(n);
}
