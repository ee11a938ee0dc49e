/* fake_nvml: a stand-in for NVIDIA's libnvidia-ml.so.1 with the calls
 * lib/nvml.c makes, so the NVML path (berthd reading a host's GPUs) runs
 * on machines without a GPU. Point BERTH_NVML_LIBRARY at this library and
 * list the GPUs' memory in BERTH_FAKE_NVML, in MiB: "81559,81559" is two
 * GPUs of 81559 MiB. Unset, nvmlInit_v2 fails as with no driver loaded.
 * Every device reads BERTH_FAKE_NVML_BUSY percent busy (default 0) with
 * BERTH_FAKE_NVML_USED_MIB MiB in use (default 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define MAX_GPUS 64

typedef struct {
  unsigned long long total, free, used;
} fake_memory;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h);
int nvmlDeviceGetMemoryInfo(void *h, fake_memory *m);
int nvmlDeviceGetName(void *h, char *name, unsigned int len);
int nvmlDeviceGetUUID(void *h, char *uuid, unsigned int len);
typedef struct {
  unsigned int gpu, memory;
} fake_utilization;
int nvmlDeviceGetUtilizationRates(void *h, fake_utilization *u);

static unsigned long long env_number(const char *name) {
  const char *s = getenv(name);
  return s ? strtoull(s, NULL, 10) : 0;
}

static unsigned long long mib[MAX_GPUS];
static unsigned int count;
static int handles[MAX_GPUS]; /* a handle is a pointer to one of these */

int nvmlInit_v2(void) {
  const char *s = getenv("BERTH_FAKE_NVML");
  if (!s) return NVML_ERROR_DRIVER_NOT_LOADED;
  count = 0;
  while (*s && count < MAX_GPUS) {
    char *end;
    mib[count] = strtoull(s, &end, 10);
    handles[count] = (int)count;
    count++;
    if (*end != ',') break;
    s = end + 1;
  }
  return NVML_SUCCESS;
}

int nvmlShutdown(void) { return NVML_SUCCESS; }

int nvmlDeviceGetCount_v2(unsigned int *n) {
  *n = count;
  return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
  if (i >= count) return NVML_ERROR_INVALID_ARGUMENT;
  *h = &handles[i];
  return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *h, fake_memory *m) {
  int i = *(int *)h;
  m->total = mib[i] * 1024 * 1024;
  m->used = env_number("BERTH_FAKE_NVML_USED_MIB") * 1024 * 1024;
  if (m->used > m->total) m->used = m->total;
  m->free = m->total - m->used;
  return NVML_SUCCESS;
}

int nvmlDeviceGetName(void *h, char *name, unsigned int len) {
  snprintf(name, len, "Fake GPU %d", *(int *)h);
  return NVML_SUCCESS;
}

int nvmlDeviceGetUUID(void *h, char *uuid, unsigned int len) {
  snprintf(uuid, len, "GPU-fake-%04d", *(int *)h);
  return NVML_SUCCESS;
}

int nvmlDeviceGetUtilizationRates(void *h, fake_utilization *u) {
  (void)h;
  unsigned long long busy = env_number("BERTH_FAKE_NVML_BUSY");
  u->gpu = busy > 100 ? 100 : (unsigned int)busy;
  u->memory = 0;
  return NVML_SUCCESS;
}
