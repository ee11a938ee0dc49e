/* Unit tests for copy_policy: the program word of an Image, which programs
 * --allow-exec allows (a directory, one file, symlinks resolved, paths that
 * do not exist here), the flags read from a command line, and the users
 * --copy-user refuses. */
#include "copy_policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static void touch_exe(const char *path) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) fclose(f);
  chmod(path, 0755);
}

int main(void) {
  /* The program word, as the agent splits an Image. */
  static const struct {
    const char *image, *program;
    int rc;
  } words[] = {
    {"/usr/bin/touch /tmp/x", "/usr/bin/touch", 0},
    {"  /opt/m/serve", "/opt/m/serve", 0},
    {"\"/opt/my models/serve\" --port 1", "/opt/my models/serve", 0},
    {"/opt/m/serve\t--x", "/opt/m/serve", 0},
    {"$HOME/serve", NULL, -EINVAL},
    {"/opt/${X}/serve a", NULL, -EINVAL},
  };
  for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
    char out[PATH_MAX];
    CHECK_INT(copy_policy_program(words[i].image, out, sizeof out), words[i].rc);
    if (words[i].rc == 0) CHECK_STR(out, words[i].program);
  }
  char tiny[4];
  CHECK_INT(copy_policy_program("/usr/bin/touch", tiny, sizeof tiny), -E2BIG);

  char dir[] = "/tmp/berth-test-policy-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char models[256], one[256], outside[256], link[PATH_MAX], path[PATH_MAX];
  snprintf(models, sizeof models, "%s/models", dir);
  snprintf(one, sizeof one, "%s/one", dir);
  snprintf(outside, sizeof outside, "%s/outside", dir);
  snprintf(link, sizeof link, "%s/link", models);
  mkdir(models, 0755);
  touch_exe(one);
  touch_exe(outside);
  snprintf(path, sizeof path, "%s/serve", models);
  touch_exe(path);
  CHECK_INT(symlink(outside, link), 0);

  copy_policy p = {0};
  char err[512], resolved[PATH_MAX];
  CHECK_INT(copy_policy_allow(&p, models, err, sizeof err), 0);
  CHECK_INT(copy_policy_allow(&p, one, err, sizeof err), 0);
  CHECK_INT(copy_policy_allow(&p, "relative/dir", err, sizeof err), -EINVAL);
  CHECK(strstr(err, "--allow-exec 'relative/dir'") != NULL);
  snprintf(path, sizeof path, "%s/missing", dir);
  CHECK(copy_policy_allow(&p, path, err, sizeof err) < 0);
  CHECK(strstr(err, "--allow-exec") != NULL);

  static const struct {
    const char *rel;            /* under dir; NULL: abs */
    const char *abs;
    int rc;
  } cases[] = {
    {"models/serve", NULL, 0},       /* under an allowed directory */
    {"one", NULL, 0},                /* an allowed file */
    {"outside", NULL, -EACCES},      /* beside them */
    {"models/link", NULL, -EACCES},  /* a symlink out of the directory */
    {"models/../outside", NULL, -EACCES},
    {"models/not-here", NULL, 0},    /* not on this host: checked as written */
    {"models/../x/not-here", NULL, -EACCES},
    {"modelsX/serve", NULL, -EACCES}, /* a prefix is not a parent */
    {NULL, "/usr/bin/touch", -EACCES},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (cases[i].rel)
      snprintf(path, sizeof path, "%s/%s", dir, cases[i].rel);
    else
      snprintf(path, sizeof path, "%s", cases[i].abs);
    int rc = copy_policy_check(&p, path, resolved, sizeof resolved);
    if (rc != cases[i].rc) fprintf(stderr, "case %zu: %s\n", i, path);
    CHECK_INT(rc, cases[i].rc);
  }
  CHECK_INT(copy_policy_check(&p, link, resolved, sizeof resolved), -EACCES);
  CHECK_STR(resolved, outside); /* what the link points to is what was checked */
  copy_policy_free(&p);

  /* Flags from a command line; root is refused whoever we are. */
  copy_policy q = {0};
  char *argv[] = {"--data-dir", "x", "--allow-exec", models, "--log-level", "info",
                  "--copy-user", "root"};
  CHECK_INT(copy_policy_from_args(&q, 8, argv, err, sizeof err), -EPERM);
  CHECK_INT(q.n_allow, 1);
  CHECK(strstr(err, "--copy-user root") != NULL);
  copy_policy_free(&q);
  char *none[] = {"--allow-exec", models};
  CHECK(copy_policy_from_args(&q, 2, none, err, sizeof err) >= 0);
  if (geteuid() == 0) CHECK(q.user[0] && q.uid != 0);
  else CHECK_STR(q.user, "");
  copy_policy_free(&q);

  /* --allow-artifact-dir: host paths a container copy may mount; the
   * directory itself and what lies under it, symlinks resolved. */
  copy_policy a = {0};
  char *art[] = {"--allow-artifact-dir", models};
  CHECK(copy_policy_from_args(&a, 2, art, err, sizeof err) >= 0);
  CHECK_INT(a.n_artifact, 1);
  CHECK_INT(a.n_allow, 0);
  CHECK_INT(copy_policy_artifact_check(&a, models, resolved, sizeof resolved), 0);
  snprintf(path, sizeof path, "%s/serve", models);
  CHECK_INT(copy_policy_artifact_check(&a, path, resolved, sizeof resolved), 0);
  CHECK_INT(copy_policy_artifact_check(&a, outside, resolved, sizeof resolved), -EACCES);
  CHECK_INT(copy_policy_artifact_check(&a, link, resolved, sizeof resolved), -EACCES);
  CHECK_STR(resolved, outside);
  snprintf(path, sizeof path, "%s/missing", models);
  CHECK_INT(copy_policy_artifact_check(&a, path, resolved, sizeof resolved), -EACCES);
  CHECK_INT(copy_policy_artifact_check(&a, "/", resolved, sizeof resolved), -EACCES);
  CHECK_INT(copy_policy_allow_artifacts(&a, "rel", err, sizeof err), -EINVAL);
  CHECK(strstr(err, "--allow-artifact-dir 'rel'") != NULL);
  copy_policy_free(&a);
  CHECK_INT(a.n_artifact, 0);

  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  CHECK_INT(system(path), 0);
  CHECK_DONE();
}
