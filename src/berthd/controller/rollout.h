/* rollout: UpdateInferenceComponent's rolling deployment of a new
 * Specification, and its automatic rollback.
 *
 * DESIGN: an update gives the IC a new document and revision (ic.rev);
 * copies keep the revision they were started with (copy.rev, copy.spec),
 * so the old and the new run side by side and routers serve both. The
 * rollout asks for new copies one batch at a time (MaximumBatchSize) and
 * lets an old copy drain only once a new one serves in its place (make
 * before break); when a batch is all ready it bakes for
 * WaitIntervalInSeconds, then the next batch starts. Where a new copy finds
 * no room and no instance can be added for it, an old copy drains first
 * (the batch shrinks to what fits). A new copy that fails to start, an
 * AutoRollbackConfiguration alarm in ALARM or MaximumExecutionTimeoutInSeconds
 * rolls it back: the IC swaps back to the old document and the same
 * machinery replaces the new copies with old ones (RollbackMaximumBatchSize
 * at a time, no bake). The rollout's state is kept in the IC's stored
 * document ("Rollout") so a restarted controller carries on. */
#ifndef BERTHD_ROLLOUT_H
#define BERTHD_ROLLOUT_H

#include "ctl.h"
#include "valid.h"

typedef struct rollout {
  json_t *old_doc;              /* the document before the update */
  int old_rev;
  sched_need old_need;
  json_t *config;               /* DeploymentConfig as given, or the default */
  int batch_percent, batch;     /* MaximumBatchSize: percent of copies or a count */
  int rb_percent, rb_batch;     /* RollbackMaximumBatchSize */
  double wait_s, timeout_s;
  double started, until;        /* ctl_now(): start; end of the bake */
  int baking;                   /* 0: a batch is starting; 1: it bakes */
  int asked;                    /* new-revision copies asked for so far */
  int rolling_back;
  int blocked;                  /* new copies that get no room (last pass) */
  char reason[512];             /* why it rolls back */
} rollout;

/* Validates a DeploymentConfig (may be NULL). 0 or -1 with e. */
int rollout_check_config(json_t *dc, api_error *e);
/* Starts rolling x out to new_doc (a new reference is taken), whose copies
 * need need, by dc (NULL: the default policy). The caller saves x
 * (ic_save) and calls rollout_undo when that fails. */
void rollout_begin(ic *x, json_t *new_doc, const sched_need *need, json_t *dc);
void rollout_undo(ic *x);
/* Puts the rollout's state in x's document, or takes it out (ic_save). */
void rollout_persist(ic *x);
/* Restores x's revision and rollout from its stored document (load); the
 * caller fills x->rollout->old_need from old_doc. */
void rollout_load(ic *x);
/* A copy of the new revision failed to start: rolls back. 1 when x
 * changed (save it). */
int rollout_copy_failed(ic *x, const char *why);

typedef enum {
  ROLLOUT_PLAN = 0,     /* *want and *keep hold the plan */
  ROLLOUT_PLAN_SAVE,    /* so do they, and the rollout's state changed */
  ROLLOUT_CHANGED       /* it rolled back or ended: save x, plan again */
} rollout_verdict;

/* One reconciliation step of x's rollout: how many copies of the current
 * revision it wants (*want) and how many ready copies of the other it
 * keeps (*keep), given what runs now. A named alarm is asked through
 * c->alarm_fired. */
rollout_verdict rollout_step(ctl *c, ic *x, int cur_ready, int prev_active, int *want,
                             int *keep);
void rollout_free(rollout *r);

#endif
