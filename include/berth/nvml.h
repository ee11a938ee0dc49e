/* nvml: discovery of NVIDIA GPUs through NVML loaded at run time. */
#ifndef BERTH_NVML_H
#define BERTH_NVML_H

#define BERTH_NVML_MAX_DEVICES 64

/* One GPU as NVML sees it. index is NVML's (PCI bus order, the order
 * CUDA uses with CUDA_DEVICE_ORDER=PCI_BUS_ID and nvidia-smi shows). */
typedef struct berth_gpu {
  int index;
  long memory_mib;            /* total memory */
  char name[96];              /* "NVIDIA H100 80GB HBM3"; "" if NVML has none */
  char uuid[96];              /* "GPU-8c2f..."; "" if NVML has none */
} berth_gpu;

/* Lists this machine's GPUs into out (at most max). Returns how many, or
 * -1 when NVML is not installed or fails. The library is
 * $BERTH_NVML_LIBRARY when set (a driver in an unusual place; tests use a
 * stand-in), else libnvidia-ml.so.1. Blocks while NVML initializes: call
 * it at start-up, not on a loop thread that serves. */
int berth_nvml_list(berth_gpu *out, int max);

/* NVML kept open for readings (the library as berth_nvml_list loads it). */
typedef struct berth_nvml berth_nvml;
typedef struct berth_gpu_usage {
  unsigned busy_percent;        /* time a kernel ran over NVML's last sample period */
  long memory_used_mib;
} berth_gpu_usage;
/* NULL when NVML is absent or fails to initialize. Blocks while NVML
 * initializes (once). */
berth_nvml *berth_nvml_open(void);
/* Device index (NVML's) now: 0, or -1 when NVML cannot read it. */
int berth_nvml_usage(berth_nvml *n, int index, berth_gpu_usage *out);
void berth_nvml_close(berth_nvml *n);

#endif
