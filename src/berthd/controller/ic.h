/* ic: inference-component lifecycle. Converges each IC's copies to its
 * desired count: adds pending copies, places them (sched), asks the agent to
 * start them, drains surplus ones, and derives the IC's status. */
#ifndef BERTHD_IC_H
#define BERTHD_IC_H

#include "ctl.h"

#define NO_CAPACITY_REASON                                                          \
  "There is not enough hardware resources on the instances for this endpoint to " \
  "create a copy of the inference component."

int ic_save(ctl *c, ic *x);
int ic_ready_copies(const ic *x);
/* Sets the desired copy count (committed before it returns 0). */
int ic_set_desired(ctl *c, ic *x, int n, const char *cause);
/* The copies' ContainerStartupHealthCheckTimeoutInSeconds and
 * ModelDataDownloadTimeoutInSeconds: the IC's StartupParameters, else its
 * ProductionVariant's, else 600. */
int ic_startup_timeout_s(ctl *c, const ic *x);
int ic_download_timeout_s(ctl *c, const ic *x);
/* Instances a variant should have now. */
int ic_desired_instances(ctl *c, const endpoint *ep, const variant *v);
/* Fewer copies placed than its minimum (critical copies go first). */
int ic_below_minimum(const ic *x);
/* One reconciliation pass over an IC. Returns 1 when it may be freed. */
int ic_reconcile(ctl *c, ic *x);
/* Gives cp what revision rev of x runs (its document and reservation):
 * the rollout's old one, else x's current one. */
void ic_copy_revision(ic *x, copy *cp, int rev);
/* A copy failed to start (exited or missed its health check deadline). */
void ic_copy_failed(ctl *c, copy *cp, const char *why);
/* Frees an IC that has no copies left. */
/* Frees x now (shutdown, after the loop): nothing may point at it. */
void ic_free(ic *x);
/* References from requests that outlive a deletion: a deleted IC (after
 * ic_unlink) is freed when the last reference goes. */
void ic_hold(ic *x);
void ic_drop(ic *x);
/* x was taken out of ctl's list: free it now or at its last ic_drop. */
void ic_unlink(ic *x);

#endif
