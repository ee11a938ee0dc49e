/* metrics_persist: the controller's closed metric buckets in the store
 * (kind "metric", one document per IC and bucket, named "IC@START"), so a
 * restarted controller answers CloudWatch for the last 24 hours as before.
 *
 * DESIGN: each bucket is written once, when it closes (the store commits
 * off the loop, a second's buckets of every IC in one transaction); the
 * row of the bucket that just left the 24 hours goes with it. Rows older
 * than that (a controller that was down) and rows of ICs that no longer
 * exist are deleted when the controller loads. The bucket being filled
 * when a controller stops is not written: a restart loses at most its 10
 * seconds. */
#ifndef BERTHD_METRICS_PERSIST_H
#define BERTHD_METRICS_PERSIST_H

#include "ctl.h"

#define METRICS_PERSIST_KIND "metric"

/* The newest `closed` buckets of x just closed: writes them. */
void metrics_persist_closed(ctl *c, ic *x, int closed);
/* At start, after the ICs are loaded: fills their histories. 0 or -1. */
int metrics_persist_load(ctl *c);
/* x is deleted: so are its rows. */
void metrics_persist_forget(ctl *c, ic *x);

#endif
