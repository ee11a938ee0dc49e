/* converge: per-IC convergence plan (see converge.h). */
#include "berth/converge.h"

int converge_counts(const converge_copy *cp) {
  return cp->state != CONVERGE_DRAINING && cp->state != CONVERGE_STOPPING && !cp->moving;
}

int converge_plan(const converge_copy *copies, size_t n, int desired, converge_action *action) {
  int active = 0;
  for (size_t i = 0; i < n; i++) {
    action[i] = CONVERGE_KEEP;
    active += converge_counts(&copies[i]);
  }
  if (active < desired) return desired - active;
  static const converge_state order[] = {CONVERGE_PENDING, CONVERGE_BACKOFF, CONVERGE_STARTING,
                                         CONVERGE_READY};
  for (size_t k = 0; k < sizeof order / sizeof order[0] && active > desired; k++)
    for (size_t i = n; i-- > 0 && active > desired;) {
      /* A moving copy does not count: stopping it would not lower active. */
      if (copies[i].state != order[k] || copies[i].moving || action[i] == CONVERGE_STOP) continue;
      action[i] = CONVERGE_STOP;
      active--;
    }
  return 0;
}

int converge_moves(const converge_copy *copies, size_t n, int desired, int unplaced,
                   converge_action *action) {
  int ready = 0;
  for (size_t i = 0; i < n; i++) {
    action[i] = CONVERGE_KEEP;
    ready += copies[i].state == CONVERGE_READY && !copies[i].moving;
  }
  int unmoved = 0;
  for (size_t i = 0; i < n; i++) {
    if (!copies[i].moving || !(copies[i].state != CONVERGE_DRAINING &&
                               copies[i].state != CONVERGE_STOPPING))
      continue;
    if (ready >= desired) {
      action[i] = CONVERGE_STOP; /* its replacement serves: drain it */
    } else if (unplaced) {
      action[i] = CONVERGE_UNMOVE; /* no room for a replacement after all */
      unmoved++;
    }
  }
  return unmoved;
}
