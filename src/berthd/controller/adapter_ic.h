/* adapter_ic: adapter (LoRA) inference components on the controller.
 *
 * An IC whose Specification names a BaseInferenceComponentName (and no
 * ComputeResourceRequirements) is an adapter: it has no copies of its own
 * and is never placed; every ready copy of its base loads it (the agent's
 * side is agent/adapters.h). The agent sync answer lists, per instance,
 * the adapters its base copies should have; the agent reports per copy
 * which are loaded. The adapter is Creating until every ready base copy
 * has it loaded, then InService; Failed with the model server's message
 * when a load fails. Routers see it as an IC whose copies are the base
 * copies that have it loaded. */
#ifndef BERTHD_ADAPTER_IC_H
#define BERTHD_ADAPTER_IC_H

#include "ctl.h"
#include "valid.h"

/* Whether a CreateInferenceComponent request (or stored doc) names a
 * Specification.BaseInferenceComponentName. */
int adapter_ic_is(json_t *req);
/* Validates an adapter's request (against the base when check_endpoint)
 * and fills the typed fields of out (desired 0). 0 or -1 with e. */
int adapter_ic_parse(ctl *c, json_t *req, ic *out, int check_endpoint, api_error *e);
/* One reconciliation pass over an adapter (its status from the agents'
 * reports). Returns 1 when a deleted adapter may be freed. */
int adapter_ic_reconcile(ctl *c, ic *x);
/* The agent sync answer's "adapters" for instance in: [{"name", "base",
 * "artifact_url", "caching"}] for each base with a copy there. New ref. */
json_t *adapter_ic_wanted(ctl *c, const instance *in);
/* Applies an agent's "adapters" report ([{"copy", "adapter", "state",
 * "message"}]) for the copies on in. */
void adapter_ic_apply_report(ctl *c, const instance *in, json_t *loads);
/* Fills an adapter's routing-snapshot entry: "base", its "copies" (the
 * base copies that have it loaded) and "coming". No-op for other ICs. */
void adapter_ic_route(ctl *c, const ic *x, json_t *entry);
/* DeleteInferenceComponent of x: refused (-1 with e naming them) while
 * adapters name x as their base. */
int adapter_ic_refuse_delete(ctl *c, const ic *x, api_error *e);

#endif
