/* nvml: counts this machine's NVIDIA GPUs and their memory through NVML,
 * loaded with dlopen so that Berth builds and runs where no driver exists
 * (the library is simply absent, and the count is 0). */
#include "berth/nvml.h"

#include <dlfcn.h>
#include <stddef.h>

typedef struct {
  unsigned long long total, free, used;
} nvml_memory;

typedef int (*fn_init)(void);
typedef int (*fn_count)(unsigned int *);
typedef int (*fn_handle)(unsigned int, void **);
typedef int (*fn_memory)(void *, nvml_memory *);
typedef int (*fn_shutdown)(void);

int berth_nvml_probe(int *devices, long *memory_mib) {
  *devices = 0;
  *memory_mib = 0;
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  fn_init init = (fn_init)dlsym(lib, "nvmlInit_v2");
  fn_count count = (fn_count)dlsym(lib, "nvmlDeviceGetCount_v2");
  fn_handle handle = (fn_handle)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
  fn_memory memory = (fn_memory)dlsym(lib, "nvmlDeviceGetMemoryInfo");
  fn_shutdown shutdown = (fn_shutdown)dlsym(lib, "nvmlShutdown");
  int rc = -1;
  unsigned int n = 0;
  if (!init || !count || !handle || !memory || !shutdown || init() != 0) goto out;
  if (count(&n) == 0) {
    /* The smallest device's memory: placement treats devices as equal. */
    unsigned long long smallest = 0;
    for (unsigned int i = 0; i < n; i++) {
      void *h;
      nvml_memory m;
      if (handle(i, &h) == 0 && memory(h, &m) == 0 && (smallest == 0 || m.total < smallest))
        smallest = m.total;
    }
    *devices = (int)n;
    *memory_mib = (long)(smallest / (1024 * 1024));
    rc = 0;
  }
  shutdown();
out:
  dlclose(lib);
  return rc;
}
