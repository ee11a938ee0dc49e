/* endpoint_update: SageMaker.UpdateEndpoint, moving an endpoint to a new
 * endpoint config (instance type, instance count, routing) without losing
 * availability, and rolling it back when the new instances cannot take
 * its copies.
 *
 * DESIGN: the update is a state (ep->update, stored with the endpoint as
 * "Update") that reconcile_endpoint hands to endpoint_update_step on each
 * pass until it is done; a controller that restarts mid-update reloads it
 * and carries on (or on with the rollback). The endpoint takes the new
 * config at once (so routing changes apply at once), instances of the new
 * type are launched, then the instances that go are marked evacuating:
 * the consolidation machinery of ic.c moves their copies make before
 * break (a replacement serves before the old copy drains). When the
 * instances that go hold no copies they are released and the endpoint is
 * InService again. Rollback is the same move backwards: the old config
 * comes back and the new instances are evacuated onto the old ones, which
 * were never released. */
#ifndef BERTHD_ENDPOINT_UPDATE_H
#define BERTHD_ENDPOINT_UPDATE_H

#include "ctl.h"
#include "valid.h"

/* SageMaker.UpdateEndpoint: validates, commits the update state and the
 * new config, answers {EndpointArn}. */
int endpoint_update_call(ctl *c, json_t *req, json_t **resp, api_error *e);

/* One reconcile pass of an endpoint with ep->update set: launches, marks,
 * releases, detects failure and finishes (then ep->update is NULL and the
 * endpoint InService). Called from reconcile_endpoint instead of its
 * instance sizing. */
void endpoint_update_step(ctl *c, endpoint *ep);

/* DescribeEndpoint's extra members: PendingDeploymentSummary while an
 * update runs, LastDeploymentConfig once one was given. */
void endpoint_update_describe(const endpoint *ep, json_t *out);

#endif
