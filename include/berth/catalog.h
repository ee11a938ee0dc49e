/* catalog: instance types (vCPUs, memory, accelerators, price) read from a
 * JSON file, share/berth/instance-types.json by default, so that capacity and
 * cost are always known. The type "local" stands for this machine as it is:
 * its CPUs and memory are read from the system at load time. */
#ifndef BERTH_CATALOG_H
#define BERTH_CATALOG_H

#include <stddef.h>

typedef struct berth_instance_type {
  char name[64];              /* "ml.g5.2xlarge" */
  int vcpus;
  long memory_mib;
  int accelerators;           /* devices per instance */
  long accelerator_memory_mib;/* per device */
  char accelerator_kind[16];  /* "nvidia", "neuron" or "" */
  double price_per_hour;      /* USD, on-demand */
  /* The host's share, never offered to copies: the OS, the instance agent
   * and the model server's runtime. From the entry's "host_reserve"
   * ({"cpu_milli", "memory_mib"}) or, when absent, berth_catalog_host_reserve.
   * Placement sees vcpus * 1000 - reserved_cpu_milli and memory_mib -
   * reserved_memory_mib (sched_capacity). */
  long reserved_cpu_milli;
  long reserved_memory_mib;
} berth_instance_type;

typedef struct berth_catalog {
  berth_instance_type *types;
  size_t n;
} berth_catalog;

/* Loads path (NULL: the installed default). On error returns a negative
 * errno code and writes a message naming the file and entry into err. */
int berth_catalog_load(const char *path, berth_catalog *cat, char *err, size_t errsz);
void berth_catalog_free(berth_catalog *cat);
const berth_instance_type *berth_catalog_find(const berth_catalog *cat, const char *name);
/* The default host reserve of an instance with vcpus CPUs and memory_mib
 * MiB. Memory, Kubernetes' (GKE's) allocatable rule: 25% of the first 4 GiB,
 * 20% of the next 4, 10% of the next 8, 6% of the next 112 and 2% of any
 * above 128 GiB, so a 16-GiB instance offers 13,721 MiB. CPU: none (a copy's
 * cores are a CFS quota and weight, and the host's agent and OS take a few
 * percent of one core, compressible; a 1-core copy fills a core as on
 * SageMaker). A catalog entry's "host_reserve" overrides both. */
void berth_catalog_host_reserve(long vcpus, long memory_mib, long *cpu_milli, long *reserved_mib);

/* Path of the default catalog file. */
const char *berth_catalog_default_path(void);

#endif
