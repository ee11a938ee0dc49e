/* artifact: makes a model artifact available as a local directory for
 * SM_MODEL_DIR. ArtifactUrl may be a local path or file:// URL of a
 * directory or a .tar.gz/.tgz/.tar archive (unpacked once into a cache in the
 * data dir, by a tar child process so the loop never blocks), or an s3://
 * URL resolved under $BERTH_S3_ROOT (a local mirror of buckets). */
#ifndef BERTHD_ARTIFACT_H
#define BERTHD_ARTIFACT_H

#include "ctl.h"

/* err 0: dir is ready. Otherwise why says what is wrong. cb may run before
 * artifact_prepare returns. */
typedef void (*artifact_cb)(void *ud, int err, const char *dir, const char *why);

void artifact_prepare(ctl *c, const char *url, artifact_cb cb, void *ud);

/* Bounds the wait of the waiter ud (as given to artifact_prepare) to
 * limit_s seconds from now (its ModelDataDownloadTimeoutInSeconds): past
 * it cb runs with -ETIMEDOUT and a reason naming the limit, and the
 * extraction is killed once no waiter is left. Returns 1 when ud was still
 * waiting, 0 when its cb has already run (the artifact was ready at once). */
int artifact_limit(ctl *c, void *ud, int limit_s);

#endif
