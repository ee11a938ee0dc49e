/* artifact: makes a model artifact available as a local directory for
 * SM_MODEL_DIR, and keeps the agent's artifact cache.
 *
 * ArtifactUrl may be empty (an empty directory), a local path or file://
 * URL of a directory (used as it is), or of a .tar.gz/.tgz/.tar archive,
 * an s3://bucket/key (an archive object or a prefix) or an http(s):// URL.
 * Everything but a local directory is fetched and unpacked by a
 * `berthd artifact-fetch` child (artifact_fetch.h), so the loop never
 * blocks, into the cache: DIR/KEY per URL and version, shared by every
 * copy that uses it, bounded by artifact_open's max_mb with
 * least-recently-used eviction of entries no copy holds. */
#ifndef BERTHD_ARTIFACT_H
#define BERTHD_ARTIFACT_H

#include "ctl.h"

#define ARTIFACT_CACHE_DEFAULT_MB 10240

/* Sets up the cache in dir (made if missing) for this agent: at most
 * max_mb of artifacts no copy holds (0: the default), https trusted with
 * ca_file (or NULL) besides the system's CAs. Reads what a previous agent
 * left there (blocking: call before the loop runs). 0 or -errno. */
int artifact_open(ctl *c, const char *dir, double max_mb, const char *ca_file);
/* Forgets the cache's bookkeeping (the directories stay), at exit. */
void artifact_close(ctl *c);

/* err 0: dir is ready, and the copy ud holds it until artifact_release.
 * Otherwise why says what is wrong. cb may run before artifact_prepare
 * returns. caching 0 (DataCacheConfig.EnableCaching false): a directory
 * of its own for this copy, fetched again and removed at release. */
typedef void (*artifact_cb)(void *ud, int err, const char *dir, const char *why);

void artifact_prepare(ctl *c, const char *url, int caching, artifact_cb cb, void *ud);

/* Bounds the wait of the waiter ud (as given to artifact_prepare) to
 * limit_s seconds from now (its ModelDataDownloadTimeoutInSeconds): past
 * it cb runs with -ETIMEDOUT and a reason naming the limit, and the
 * fetch is killed once no waiter is left. Returns 1 when ud was still
 * waiting, 0 when its cb has already run (the artifact was ready at once). */
int artifact_limit(ctl *c, void *ud, int limit_s);

/* A copy that got dir from artifact_prepare (or an adopted copy whose
 * model dir it is) holds it / lets it go. Dirs outside the cache are
 * ignored. */
void artifact_hold(ctl *c, const char *dir);
void artifact_release(ctl *c, const char *dir);

/* After adoption: removes per-copy directories no copy holds and evicts
 * down to the bound. */
void artifact_settle(ctl *c);

#endif
