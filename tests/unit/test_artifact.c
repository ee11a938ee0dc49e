/* test_artifact: agent/artifact.c's jobs and cache, on a real loop with
 * a stand-in for `berthd artifact-fetch` (a shell script as self_exe that
 * puts an entry into the cache and answers, as the real child does):
 * - the child gets the agent's environment (its AWS_* credentials);
 * - a cache root with a space in its path reaches the copy whole;
 * - a child killed at the deadline after it put its entry into the cache
 *   still has the entry counted, so --artifact-cache-mb evicts it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "check.h"
#include "ctl.h"
#include "loop_wait.h"

#define KEY_FAST "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_SLOW "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* $1 artifact-fetch, $3 the URL, $7 the cache root. */
static const char *script =
    "#!/bin/sh\n"
    "C=\"$7\"\n"
    "case \"$3\" in *slow*) K=" KEY_SLOW ";; *) K=" KEY_FAST ";; esac\n"
    "mkdir \"$C/$K\" && printf '{\"bytes\":1000}\\n' > \"$C/$K.json\" || exit 1\n"
    "printf '%s\\n' \"$AWS_ACCESS_KEY_ID\" > \"$C/../env-seen\"\n"
    "echo \"ready 1000 fetched $C/$K\"\n"
    "case \"$3\" in *slow*) exec sleep 30;; esac\n";

typedef struct answer {
  int called, err;
  char dir[1300], why[3000];
} answer;

static void on_ready(void *ud, int err, const char *dir, const char *why) {
  answer *a = ud;
  a->called = 1;
  a->err = err;
  snprintf(a->dir, sizeof a->dir, "%s", dir ? dir : "");
  snprintf(a->why, sizeof a->why, "%s", why ? why : "");
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Whether an evicted entry (KEY.evict-N) is still being removed. */
static int evicting(const char *cache) {
  DIR *d = opendir(cache);
  if (!d) return 0;
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d)))
    if (strstr(de->d_name, ".evict-")) n++;
  closedir(d);
  return n;
}

int main(void) {
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  char root[] = "/tmp/test_artifact-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char base[200], cache[300], exe[300], fast[400], slow[400], seen[400];
  snprintf(base, sizeof base, "%s/My Data", root);
  snprintf(cache, sizeof cache, "%s/cache", base);
  snprintf(exe, sizeof exe, "%s/fake-fetch", root);
  snprintf(fast, sizeof fast, "%s/" KEY_FAST, cache);
  snprintf(slow, sizeof slow, "%s/" KEY_SLOW, cache);
  snprintf(seen, sizeof seen, "%s/env-seen", base);
  mkdir(base, 0755);
  FILE *f = fopen(exe, "w");
  CHECK(f != NULL);
  fputs(script, f);
  fclose(f);
  chmod(exe, 0755);
  setenv("AWS_ACCESS_KEY_ID", "AKIDAGENTONLY", 1);

  ctl *c = calloc(1, sizeof *c);
  c->loop = &loop;
  snprintf(c->self_exe, sizeof c->self_exe, "%s", exe);
  /* About 100 bytes: any unheld 1000-byte entry is over the bound. */
  CHECK_INT(artifact_open(c, cache, 0.0001, NULL), 0);

  answer a = {0};
  artifact_prepare(c, "https://example.invalid/fast.tar.gz", 1, on_ready, &a);
  CHECK(WAIT(a.called, 10000));
  CHECK_INT(a.err, 0);
  CHECK_STR(a.dir, fast);
  f = fopen(seen, "r");
  char key[64] = "";
  if (f) {
    if (!fgets(key, sizeof key, f)) key[0] = '\0';
    fclose(f);
  }
  CHECK_STR(key, "AKIDAGENTONLY\n");

  /* Killed at its 1 s deadline, after its entry went into the cache. */
  answer b = {0};
  artifact_prepare(c, "https://example.invalid/slow.tar.gz", 1, on_ready, &b);
  CHECK_INT(artifact_limit(c, &b, 1), 1);
  CHECK(WAIT(b.called, 10000));
  CHECK_INT(b.err, -ETIMEDOUT);
  CHECK(strstr(b.why, "did not finish within ModelDataDownloadTimeoutInSeconds (1 s)") != NULL);
  CHECK(WAIT(!exists(slow), 10000));
  CHECK(exists(fast)); /* held by the first copy: never evicted */

  artifact_release(c, a.dir);
  CHECK(WAIT(!exists(fast), 10000));

  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(WAIT(!evicting(cache), 10000)); /* the rm children of the evictions */
  CHECK_INT(system(cmd), 0);
  artifact_close(c);
  free(c);
  CHECK_DONE();
}
