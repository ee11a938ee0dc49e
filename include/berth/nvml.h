/* nvml: discovery of NVIDIA GPUs through NVML loaded at run time. */
#ifndef BERTH_NVML_H
#define BERTH_NVML_H

/* Fills the number of GPUs and the memory of the smallest (MiB). Returns 0,
 * or -1 when NVML is not installed or fails (both then 0). */
int berth_nvml_probe(int *devices, long *memory_mib);

#endif
