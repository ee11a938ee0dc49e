/* autoscale: drives the pure scaler (scale.h) once a second: samples
 * concurrency into each IC's metrics, asks scale_decide for a desired copy
 * count, applies it, and wakes ICs at zero copies when a request arrives. */
#ifndef BERTHD_AUTOSCALE_H
#define BERTHD_AUTOSCALE_H

#include "ctl.h"

void autoscale_start(ctl *c);
void autoscale_stop(ctl *c);
/* A request is waiting for an IC with no ready copy: ask for copies now
 * rather than at the next evaluation. */
void autoscale_wake(ctl *c, ic *x);

#endif
