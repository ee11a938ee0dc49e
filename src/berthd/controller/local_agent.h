/* local_agent: the local provider's instances. Each is a `berthd agent`
 * process that this controller starts on this host, with a token of its
 * own, speaking the same agent protocol as a pool agent on another host.
 * The controller never starts a copy itself.
 *
 * DESIGN: an instance is recorded in the store (kind "instance": id,
 * endpoint, variant, type, token, the agent's pid) before its agent
 * starts. The agent runs in its own session, so it outlives a controller
 * that dies; a new controller finds it by pid (checking its command line
 * names this instance's data dir and this control URL) and watches it
 * through a pidfd, or starts a new one, which adopts the copies the old
 * one left (agent_state.h). An agent that exits is started again with
 * backoff (LOCAL_AGENT_BACKOFF_MIN_MS doubling to ..._MAX_MS).
 *
 * Accelerators: when this host has devices (berth/devices.h: declared or
 * NVML's), each instance of a type with N accelerators takes N of them no
 * other local instance holds (the first free ones), recorded with the
 * instance ("Devices") so a restarted controller keeps the mapping, and
 * given to its agent as --devices. Its per-device memory is the smaller
 * of the type's and the real devices'. A host with no devices keeps
 * logical indices (simulated accelerators). */
#ifndef BERTHD_LOCAL_AGENT_H
#define BERTHD_LOCAL_AGENT_H

#include "ctl.h"

#define LOCAL_AGENT_BACKOFF_MIN_MS 250
#define LOCAL_AGENT_BACKOFF_MAX_MS 30000

typedef struct local_agent local_agent;

/* A new instance for ep/v of type t: recorded, its agent started once the
 * control API listens (at once when it does already). NULL when this host
 * has too few free accelerator devices for t: then why says so (the type,
 * the devices it needs, which are free and who holds the rest). */
instance *local_agent_launch(ctl *c, const char *ep, const char *variant_name,
                             const berth_instance_type *t, char *why, size_t whysz);
/* The instance goes away (it holds no copies): its agent is stopped and
 * its record deleted. Frees in. */
void local_agent_release(ctl *c, instance *in);
/* Finds this host's accelerator devices and loads the recorded instances
 * (before the control API listens). */
int local_agent_load(ctl *c);
/* Starts or adopts every loaded instance's agent (once the control API
 * listens at c->control_url). */
void local_agent_start_all(ctl *c);
/* Shutdown: SIGTERM to every agent (each stops its copies and exits). */
void local_agent_stop_all(ctl *c);
/* Agent processes not yet exited (shutdown waits for 0). */
int local_agents_running(const ctl *c);
/* Frees what is left after the loop stopped. */
void local_agent_free_all(ctl *c);

#endif
