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
/* Path of the default catalog file. */
const char *berth_catalog_default_path(void);

#endif
