/* converge: the per-IC convergence plan, shared by berthd and berth-sim.
 *
 * Given an inference component's copies (oldest first) and its desired
 * count, decide what to do, as two steps around placement:
 *
 *   1. converge_plan: how many copies to add, and which surplus copies to
 *      stop (victims: pending, then crashed, then starting, then ready,
 *      newest first, so serving capacity is the last thing given up).
 *   2. converge_moves, after the new copies were offered to placement:
 *      make before break for copies on an instance being consolidated
 *      away. Once enough copies that are not moving are ready, the moving
 *      ones stop; when a replacement found no room, the move is called off.
 *
 * Pure: plain arrays in, actions out; the caller applies them. */
#ifndef BERTH_CONVERGE_H
#define BERTH_CONVERGE_H

#include <stddef.h>

typedef enum {
  CONVERGE_PENDING = 0,  /* wants an instance */
  CONVERGE_BACKOFF,      /* crashed; restarts after a delay */
  CONVERGE_STARTING,     /* launched, health check not yet passed */
  CONVERGE_READY,        /* serving */
  CONVERGE_DRAINING,     /* stopping: no new requests */
  CONVERGE_STOPPING
} converge_state;

typedef struct converge_copy {
  converge_state state;
  int moving;            /* on an instance being consolidated away */
} converge_copy;

typedef enum {
  CONVERGE_KEEP = 0,
  CONVERGE_STOP,         /* drain (ready) or stop (any other state) */
  CONVERGE_UNMOVE        /* call the move off: the copy stays and counts again */
} converge_action;

/* Whether a copy counts toward the desired count (not leaving, not moving). */
int converge_counts(const converge_copy *cp);

/* Step 1. action[i] (n entries, set to KEEP or STOP). Returns how many new
 * copies to add. */
int converge_plan(const converge_copy *copies, size_t n, int desired, converge_action *action);

/* Step 2. unplaced: the IC still has a copy that found no room. action[i]
 * is set to KEEP, STOP (a moving copy whose replacements serve) or UNMOVE.
 * Returns how many copies were unmoved (then step 1 may find a surplus). */
int converge_moves(const converge_copy *copies, size_t n, int desired, int unplaced,
                   converge_action *action);

#endif
