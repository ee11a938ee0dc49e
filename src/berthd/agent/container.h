/* container: runs a copy whose Image is an OCI reference as a container,
 * through podman (or docker where the host has only docker).
 *
 * The copy's shim runs `podman run` in the foreground like any server
 * (copy_shim.h), so output, exit status, adoption after an agent restart
 * and stopping (TERM to the group: podman forwards it to the container)
 * work as for a process copy. This module finds the engine, builds its
 * command line and removes containers nothing owns any more. */
#ifndef BERTHD_CONTAINER_H
#define BERTHD_CONTAINER_H

#include "ctl.h"

/* Finds podman or docker ($BERTH_CONTAINER_ENGINE wins) at agent start.
 * 0, or -ENOENT when the host has neither. */
int container_detect(container_engine *e);
/* "podman 4.3.1", or "none". */
void container_describe(const container_engine *e, char *out, size_t n);
/* Whether an Image names a container image rather than berth-model or a
 * program on the host (an absolute path). */
int container_is_image(const char *image);
/* 0 when image is a well-formed container image reference (so that no
 * Image can pass for an engine option); else -EINVAL with why naming the
 * field's value and the rule. */
int container_reference_check(const char *image, char *why, size_t n);
/* The container's name for copy id on this agent. */
void container_name(const ctl *c, int64_t copy_id, char *out, size_t n);

/* What a copy's container gets beyond its Image. */
typedef struct container_spec {
  const char *image;
  const char *name;
  const char *model_dir;        /* mounted read-only at /opt/ml/model */
  const char *cgroup_parent;    /* the copy's groups hold the limits; NULL:
                                   cpus and memory_mb are the engine's */
  const char *cpus;             /* cpuset, "" for none */
  long memory_mb;               /* 0: no limit */
  const int *devices;           /* physical accelerator indices */
  int n_devices;
  int neuron;                   /* devices are Neuron, not NVIDIA */
  const char *bind_host;        /* where a published port listens */
  int port;                     /* the copy's port */
  int container_port;           /* >0: publish it (own network) on port */
  const char *entrypoint;       /* NULL: the image's */
  const char *shm_size;         /* /dev/shm ("16g"); NULL: the engine's */
  char *const *args;            /* NULL-terminated; NULL: "serve" */
  char *const *env_names;       /* passed from the engine's environment */
  const char *labels[4][2];     /* endpoint, IC, copy, agent */
} container_spec;

/* The engine's command line (argv[0] is the engine) into argv (max entries
 * with the NULL), its strings in buf. The count, or -E2BIG. */
int container_command(const container_engine *e, const container_spec *s, char **argv, int max,
                      char *buf, size_t len);
/* Removes a copy's container (stopped or not) without waiting. */
void container_remove(ctl *c, const char *name);
/* At agent start, after adoption: removes every container labelled with
 * this agent's id that no adopted copy owns. */
void container_sweep(ctl *c);

#endif
