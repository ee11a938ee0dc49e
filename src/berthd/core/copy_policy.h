/* copy_policy: what a process copy may run (--allow-exec) and as whom
 * (--copy-user), for the controller (which checks an Image when a request
 * names it) and for agents (which check it again at launch and tell the
 * copy-exec shim whom to run it as). docs/security.md, "Copies: what runs
 * and as whom", says why. No daemon headers: the module only knows paths
 * and users. */
#ifndef BERTHD_COPY_POLICY_H
#define BERTHD_COPY_POLICY_H

#include <stddef.h>
#include <sys/types.h>

#define COPY_POLICY_MAX_ALLOW 64

/* Filled once at start-up (copy_policy_allow, copy_policy_set_user), then
 * read-only. */
typedef struct copy_policy {
  int n_allow;
  char *allow[COPY_POLICY_MAX_ALLOW]; /* realpaths, owned */
  int allow_dir[COPY_POLICY_MAX_ALLOW]; /* 1: a directory, 0: one file */
  /* --allow-artifact-dir: host directories a container copy's ArtifactUrl
   * may name (a rootful container would read anything else as root) */
  int n_artifact;
  char *artifact[COPY_POLICY_MAX_ALLOW]; /* realpaths, owned */
  int artifact_dir[COPY_POLICY_MAX_ALLOW];
  char user[64];                /* copies run as it; "" when berthd is not
                                   root (they run as berthd's user) */
  uid_t uid;
  gid_t gid;
} copy_policy;

/* Adds one --allow-exec PATH: an existing directory (programs under it) or
 * file (that program). Symlinks are resolved. 0, or -errno with err set. */
int copy_policy_allow(copy_policy *p, const char *path, char *err, size_t errsz);

/* Adds one --allow-artifact-dir PATH, as copy_policy_allow does. */
int copy_policy_allow_artifacts(copy_policy *p, const char *path, char *err, size_t errsz);
/* Whether a container copy may take its artifact from path on this host:
 * its realpath is under an --allow-artifact-dir. 0 or -EACCES (resolved
 * says what was checked). */
int copy_policy_artifact_check(const copy_policy *p, const char *path, char *resolved,
                               size_t resolved_sz);

/* --copy-user NAME (NULL: `berth` if it exists, else `nobody`). A user with
 * uid 0 is refused. Returns 0; 1 when berthd is not root and NAME is not
 * its own user (err says that copies run as berthd's user); or -errno
 * with err set. */
int copy_policy_set_user(copy_policy *p, const char *name, char *err, size_t errsz);

/* The program of an Image ("/path/prog args"): its first word as the agent
 * splits it (double quotes group). -EINVAL when it is not a literal path
 * ($VAR), -E2BIG when it does not fit. */
int copy_policy_program(const char *image, char *out, size_t outsz);

/* Whether program may run: its realpath (or, when it does not exist here,
 * the path as given) is an allowed file or lies under an allowed
 * directory. The path checked goes to resolved. 0 or -EACCES. */
int copy_policy_check(const copy_policy *p, const char *program, char *resolved,
                      size_t resolved_sz);

/* Makes dir traversable (adds 0111) when copies run as another user, so
 * that they reach their model dir below it; nothing is made readable. */
int copy_policy_open_dir(const copy_policy *p, const char *dir);

/* 0 when the copy user can enter dir and every directory above it; else
 * -EACCES with the first one it cannot enter in blocked. */
int copy_policy_reachable(const copy_policy *p, const char *dir, char *blocked,
                          size_t blocked_sz);

/* Applies every `--allow-exec PATH`, `--allow-artifact-dir PATH` and the
 * last `--copy-user USER` of a
 * command line (other arguments are skipped; values are not checked for
 * being present). Returns as copy_policy_set_user. */
int copy_policy_from_args(copy_policy *p, int argc, char **argv, char *err, size_t errsz);

void copy_policy_free(copy_policy *p);

#endif
