/* agent_state: the agent's own record of the copies it runs
 * (DATA_DIR/copies.json), so that a restarted agent finds them again.
 *
 * DESIGN: rewritten (write to a temporary file, then rename) whenever a
 * copy's shim starts or goes away; small, and written only in agent mode.
 * A listed copy is adopted only when its pid still runs `berthd copy-exec
 * --copy ID`, so a reused pid is never mistaken for a copy. */
#ifndef BERTHD_AGENT_STATE_H
#define BERTHD_AGENT_STATE_H

#include <jansson.h>

#include "ctl.h"

/* Where the shim of copy id writes its exit status. */
void copy_exit_path(const ctl *c, int64_t id, char *out, size_t outsz);
/* What the shim wrote there when its server exited: "STATUS SIGNAL
 * [OOM_KILLS MEMORY_MAX_MB]" (the kernel's OOM kills in the copy's cgroup
 * and its limit, copy_limits.h). */
typedef struct copy_exit {
  long long status;
  int sig;
  int oom_kills;
  long long memory_max_mb;
} copy_exit;
/* 0, or -1 when there is no exit file (the shim was killed). */
int copy_exit_read(const ctl *c, int64_t id, copy_exit *e);
/* Records every copy with a running shim (no-op outside agent mode). */
void agent_state_save(ctl *c);
/* The recorded copies whose shims still run: [{id, ic, pid, port,
 * model_dir, devices, dev_milli_each, container, cpus}]; an empty array when none. */
json_t *agent_state_load(const ctl *c);

#endif
