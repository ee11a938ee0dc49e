/* artifact_fetch: `berthd artifact-fetch`, the child process the agent
 * runs to turn an ArtifactUrl into a directory, so that downloading and
 * unpacking (blocking libcurl and libarchive calls) never run on the
 * agent's loop (artifact.c spawns it and kills it past the copy's
 * ModelDataDownloadTimeoutInSeconds).
 *
 *   berthd artifact-fetch --url URL --work DIR (--cache DIR | --dest DIR)
 *                         [--ca-file FILE] [--readable]
 *
 * URL: s3://bucket/key (an archive object, or every object under a
 * prefix), http(s)://..., file:///path or /path of an archive. Everything
 * is written under --work (which the agent removes afterwards). With
 * --cache the result is CACHE/KEY, KEY a hash of the URL and its version
 * (ETag, else Last-Modified and size; a local file's size and mtime), and
 * an existing CACHE/KEY is used without downloading; with --dest the
 * result is renamed onto DEST (an empty directory). --readable makes the
 * tree readable by every user (copies run as another user).
 *
 * Output, one line each on stdout: "progress DONE TOTAL" while
 * downloading, then "ready BYTES fetched|cached DIR" (DIR last: it may
 * hold spaces) and exit 0, or "error REASON" and exit 1.
 *
 * The child gets the agent's whole environment (artifact.c passes it
 * explicitly): its AWS_* credentials, region, endpoint and CA bundle,
 * which copies do not get. */
#ifndef BERTHD_ARTIFACT_FETCH_H
#define BERTHD_ARTIFACT_FETCH_H

#include <stddef.h>

int artifact_fetch_main(int argc, char **argv);

/* A "ready" line (without its newline) -> its absolute DIR (into dir, at
 * most dirsz - 1 bytes), BYTES and whether it came from the cache. 0, or
 * -1 when line is not a well-formed ready line. */
int artifact_fetch_parse_ready(const char *line, char *dir, size_t dirsz,
                               unsigned long long *bytes, int *cached);

/* The bytes a cache entry's CACHE/KEY.json records, 0 when unknown. */
unsigned long long artifact_recorded_bytes(const char *json_path);

#endif
