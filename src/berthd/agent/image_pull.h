/* image_pull: makes a container Image present on this instance before its
 * copy starts, so the pull is neither counted against the copy's
 * ContainerStartupHealthCheckTimeoutInSeconds nor hidden from its status.
 *
 * `ENGINE image exists IMAGE`, then `ENGINE pull IMAGE` when it is
 * missing, as child processes (the loop never waits). Copies of the same
 * Image share one pull. The engine's progress lines are kept: the latest
 * is the copy's status while it waits, and a failure quotes the engine's
 * (the registry's) own words. */
#ifndef BERTHD_IMAGE_PULL_H
#define BERTHD_IMAGE_PULL_H

#include "ctl.h"

/* err 0: the Image is present. Otherwise why says what went wrong. */
typedef void (*image_pull_cb)(void *ud, int err, const char *why);

/* Calls cb(ud, ...) once the Image is present or cannot be. limit_s > 0
 * bounds the pull (ModelDataDownloadTimeoutInSeconds: the Image is part
 * of what a copy downloads). cb may run before image_pull returns. */
void image_pull(ctl *c, const char *image, int limit_s, image_pull_cb cb, void *ud);
/* ud no longer waits (its copy stops): 1 when it was waiting (its cb
 * will not run), else 0. A pull nobody waits for is stopped. */
int image_pull_cancel(ctl *c, void *ud);
/* The latest progress line of the pull ud waits on, or NULL. */
const char *image_pull_progress(const ctl *c, const void *ud);

#endif
