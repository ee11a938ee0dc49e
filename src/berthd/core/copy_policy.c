/* copy_policy: see copy_policy.h. */
#include "copy_policy.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Adds path to a list of allowed files and directories (flag names it in
 * errors). */
static int allow_path(char **list, int *dirs, int *n, const char *flag, const char *path,
                      char *err, size_t errsz) {
  if (*n >= COPY_POLICY_MAX_ALLOW) {
    snprintf(err, errsz, "%s is given more than %d times: allow a directory instead", flag,
             COPY_POLICY_MAX_ALLOW);
    return -E2BIG;
  }
  if (path[0] != '/') {
    snprintf(err, errsz, "%s '%s' must be an absolute path (a directory or a file)", flag, path);
    return -EINVAL;
  }
  char *full = realpath(path, NULL);
  struct stat st;
  if (!full || stat(full, &st) != 0) {
    int e = errno;
    snprintf(err, errsz, "%s '%s': %s (it must be an existing directory or file)", flag, path,
             strerror(e));
    free(full);
    return -e;
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    snprintf(err, errsz, "%s '%s' is neither a directory nor a regular file", flag, path);
    free(full);
    return -EINVAL;
  }
  dirs[*n] = S_ISDIR(st.st_mode);
  list[(*n)++] = full;
  return 0;
}

/* Whether resolved is an allowed file or lies under an allowed directory. */
static int allowed_in(char *const *list, const int *dirs, int n, const char *resolved) {
  for (int i = 0; i < n; i++) {
    const char *a = list[i];
    size_t len = strlen(a);
    if (!dirs[i]) {
      if (strcmp(resolved, a) == 0) return 1;
      continue;
    }
    if (strcmp(a, "/") == 0) return 1;
    if (strncmp(resolved, a, len) == 0 && (resolved[len] == '/' || resolved[len] == '\0'))
      return 1;
  }
  return 0;
}

int copy_policy_allow(copy_policy *p, const char *path, char *err, size_t errsz) {
  return allow_path(p->allow, p->allow_dir, &p->n_allow, "--allow-exec", path, err, errsz);
}

int copy_policy_allow_artifacts(copy_policy *p, const char *path, char *err, size_t errsz) {
  return allow_path(p->artifact, p->artifact_dir, &p->n_artifact, "--allow-artifact-dir", path,
                    err, errsz);
}

int copy_policy_artifact_check(const copy_policy *p, const char *path, char *resolved,
                               size_t resolved_sz) {
  char full[PATH_MAX];
  if (!realpath(path, full)) {
    snprintf(resolved, resolved_sz, "%s", path);
    return -EACCES;
  }
  snprintf(resolved, resolved_sz, "%s", full);
  return allowed_in(p->artifact, p->artifact_dir, p->n_artifact, full) ? 0 : -EACCES;
}

int copy_policy_set_user(copy_policy *p, const char *name, char *err, size_t errsz) {
  struct passwd *pw = NULL;
  const char *tried = name;
  if (name) {
    pw = getpwnam(name);
  } else {
    tried = "berth";
    pw = getpwnam(tried);
    if (!pw) {
      tried = "nobody";
      pw = getpwnam(tried);
    }
  }
  p->user[0] = '\0';
  if (pw && pw->pw_uid == 0) {
    snprintf(err, errsz, "--copy-user %s: copies never run as root (uid 0); name an unprivileged "
             "user, or leave the flag out to use 'berth' (if it exists) or 'nobody'", tried);
    return -EPERM;
  }
  if (geteuid() != 0) {
    /* Nothing to drop: copies run as berthd's own user. */
    if (name && (!pw || pw->pw_uid != geteuid())) {
      snprintf(err, errsz, "--copy-user %s is ignored: berthd is not root, so copies run as its "
               "own user (uid %d)", name, (int)geteuid());
      return 1;
    }
    return 0;
  }
  if (!pw) {
    snprintf(err, errsz, name ? "--copy-user %s: no such user"
             : "no user 'berth' or 'nobody' (%s) to run copies as: create one, or name an "
               "unprivileged user with --copy-user USER", tried);
    return -ENOENT;
  }
  if (strlen(pw->pw_name) >= sizeof p->user) {
    snprintf(err, errsz, "--copy-user %s: the name is too long", tried);
    return -ENAMETOOLONG;
  }
  snprintf(p->user, sizeof p->user, "%s", pw->pw_name);
  p->uid = pw->pw_uid;
  p->gid = pw->pw_gid;
  return 0;
}

int copy_policy_program(const char *image, char *out, size_t outsz) {
  const char *s = image;
  size_t n = 0;
  int quoted = 0;
  while (*s == ' ' || *s == '\t') s++;
  for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
    if (*s == '"') {
      quoted = !quoted;
      continue;
    }
    if (*s == '$') return -EINVAL;
    if (n + 1 >= outsz) return -E2BIG;
    out[n++] = *s;
  }
  out[n] = '\0';
  return 0;
}

/* A path with "." or ".." components names something other than it reads. */
static int has_dot_component(const char *path) {
  for (const char *s = path; *s; s++)
    if (s[0] == '/' && s[1] == '.' &&
        (s[2] == '/' || s[2] == '\0' || (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))
      return 1;
  return 0;
}

int copy_policy_check(const copy_policy *p, const char *program, char *resolved,
                      size_t resolved_sz) {
  char full[PATH_MAX];
  if (realpath(program, full)) {
    snprintf(resolved, resolved_sz, "%s", full);
  } else {
    /* Not here (a pool agent's host may have it): the path as written,
     * which the agent that runs it checks again. */
    snprintf(resolved, resolved_sz, "%s", program);
    if (program[0] != '/' || has_dot_component(program)) return -EACCES;
  }
  /* A directory itself is no program. */
  for (int i = 0; i < p->n_allow; i++)
    if (p->allow_dir[i] && strcmp(resolved, p->allow[i]) == 0) return -EACCES;
  return allowed_in(p->allow, p->allow_dir, p->n_allow, resolved) ? 0 : -EACCES;
}

int copy_policy_open_dir(const copy_policy *p, const char *dir) {
  struct stat st;
  if (!p->user[0]) return 0;
  if (stat(dir, &st) != 0) return -errno;
  if (!S_ISDIR(st.st_mode) || (st.st_mode & 0111) == 0111) return 0;
  if (chmod(dir, (st.st_mode & 07777) | 0111) != 0) return -errno;
  return 0;
}

int copy_policy_reachable(const copy_policy *p, const char *dir, char *blocked,
                          size_t blocked_sz) {
  if (!p->user[0]) return 0;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", dir);
  size_t len = strlen(path);
  /* Every prefix ending before a '/', then the whole path. */
  for (size_t i = 1; i <= len; i++) {
    if (i < len && path[i] != '/') continue;
    char save = path[i];
    path[i] = '\0';
    struct stat st;
    int ok = 1;
    if (stat(path, &st) == 0) {
      mode_t bit = st.st_uid == p->uid ? S_IXUSR : st.st_gid == p->gid ? S_IXGRP : S_IXOTH;
      ok = (st.st_mode & bit) != 0;
    }
    if (!ok) {
      snprintf(blocked, blocked_sz, "%s", path);
      return -EACCES;
    }
    path[i] = save;
  }
  return 0;
}

int copy_policy_from_args(copy_policy *p, int argc, char **argv, char *err, size_t errsz) {
  const char *user = NULL;
  for (int i = 0; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--allow-exec") == 0) {
      int rc = copy_policy_allow(p, argv[++i], err, errsz);
      if (rc) return rc;
    } else if (strcmp(argv[i], "--allow-artifact-dir") == 0) {
      int rc = copy_policy_allow_artifacts(p, argv[++i], err, errsz);
      if (rc) return rc;
    } else if (strcmp(argv[i], "--copy-user") == 0) {
      user = argv[++i];
    }
  }
  return copy_policy_set_user(p, user, err, errsz);
}

void copy_policy_free(copy_policy *p) {
  for (int i = 0; i < p->n_allow; i++) free(p->allow[i]);
  p->n_allow = 0;
  for (int i = 0; i < p->n_artifact; i++) free(p->artifact[i]);
  p->n_artifact = 0;
}
