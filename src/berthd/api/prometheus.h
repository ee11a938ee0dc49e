/* prometheus: GET /metrics on the control port, in the Prometheus text
 * exposition format 0.0.4 (content-type text/plain; version=0.0.4).
 * docs/metrics.md lists the series. */
#ifndef BERTHD_PROMETHEUS_H
#define BERTHD_PROMETHEUS_H

#include "berth/buf.h"
#include "ctl.h"

/* Appends the exposition of c's current state to out (which the caller
 * owns; give it a max, past which the page is cut short). Reads c only. */
void prometheus_render(ctl *c, berth_buf *out);

#endif
