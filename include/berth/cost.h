/* cost: each copy's share of its instance's price, for cost per model.
 *
 * Pure, so berthd's metric and berth-sim's --per-model table agree. A copy's
 * weight on an instance is its dominant share: the largest of the fractions
 * of the instance's CPU, memory, accelerators and accelerator memory its
 * reservation takes. An instance's price per hour is split over the copies
 * on it in proportion to their weights: the copies on an instance pay its
 * whole price, its unreserved capacity included (that is what hosting them
 * costs), and an instance with no copy is charged to no model (the
 * endpoint's idle cost). */
#ifndef BERTH_COST_H
#define BERTH_COST_H

#include <stddef.h>

#include "berth/sched.h"

/* The dominant share need takes of capacity (an empty instance), 0..1; a
 * fractional accelerator need counts its share of one device. */
double cost_weight(const sched_instance *capacity, const sched_need *need);

#endif
