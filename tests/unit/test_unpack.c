/* test_unpack: agent/unpack.c's path rules, which decide whether an
 * archive entry (or an S3 key of a prefix) stays inside the model
 * directory, one real unpack of an archive with a '..' entry, and
 * symlinks that lead out only through one another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "unpack.h"

static void test_clean_path(void) {
  static const struct { const char *in, *out; } ok[] = {
      {"a", "a"}, {"./a", "a"}, {"a/b/", "a/b"}, {".", ""}, {"./", ""}, {"a//b", "a/b"},
      {"a/./b", "a/b"}, {"..a/b..", "..a/b.."}, {"a/...", "a/..."}};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    char out[64], why[128];
    CHECK_INT(unpack_clean_path(ok[i].in, out, sizeof out, why, sizeof why), 0);
    CHECK_STR(out, ok[i].out);
  }
  static const char *bad[] = {"../a", "a/../../b", "a/..", "/etc/passwd", "..", "", "./../x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char out[64], why[128] = "";
    CHECK_INT(unpack_clean_path(bad[i], out, sizeof out, why, sizeof why), -1);
    CHECK(why[0] != '\0');
  }
  char small[4], why[128];
  CHECK_INT(unpack_clean_path("abcdef", small, sizeof small, why, sizeof why), -1);
}

static void test_link_inside(void) {
  static const struct { const char *path, *target; int inside; } cases[] = {
      {"a", "b", 1},          {"d/a", "../b", 1},      {"d/a", "../../b", 0},
      {"a", "../b", 0},       {"a", "/etc", 0},        {"d/e/a", "../../x/../y", 1},
      {"d/a", "x/../../..", 0}, {"a", "", 0},          {"a", ".", 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    CHECK_INT(unpack_link_inside(cases[i].path, cases[i].target), cases[i].inside);
}

/* A tar entry written by hand (tar itself refuses to make the bad ones):
 * type '0' a file holding body, '1' a hard link and '2' a symlink to link. */
typedef struct tar_entry {
  const char *name;
  char type;
  const char *link, *body;
} tar_entry;

static void write_entries(const char *file, const tar_entry *ents, size_t n) {
  FILE *f = fopen(file, "wb");
  CHECK(f != NULL);
  if (!f) return;
  for (size_t i = 0; i < n; i++) {
    unsigned char h[512] = {0}, body[512] = {0};
    size_t len = ents[i].type == '0' && ents[i].body ? strlen(ents[i].body) : 0;
    snprintf((char *)h, 100, "%s", ents[i].name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)len);
    memcpy(h + 136, "00000000000", 12);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)ents[i].type;
    if (ents[i].link) snprintf((char *)h + 157, 100, "%s", ents[i].link);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int k = 0; k < 512; k++) sum += h[k];
    snprintf((char *)h + 148, 8, "%06o", sum);
    fwrite(h, 1, sizeof h, f);
    if (len) {
      memcpy(body, ents[i].body, len);
      fwrite(body, 1, sizeof body, f);
    }
  }
  static const unsigned char end[1024];
  fwrite(end, 1, sizeof end, f);
  fclose(f);
}

/* A tar with one file entry named name holding "evil". */
static void write_tar(const char *file, const char *name) {
  tar_entry e = {name, '0', NULL, "evil"};
  write_entries(file, &e, 1);
}

/* Unpacks ents into a fresh ROOT/model beside a file ROOT/secret; the
 * result, with the reason in why. */
static int unpack_entries(const char *root, const tar_entry *ents, size_t n, char *why,
                          size_t whysz) {
  char tar[160], into[160], cmd[400];
  snprintf(tar, sizeof tar, "%s/l.tar", root);
  snprintf(into, sizeof into, "%s/model", root);
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s && echo secret > %s/secret", into, into, root);
  CHECK_INT(system(cmd), 0);
  write_entries(tar, ents, n);
  uint64_t bytes = 0;
  why[0] = '\0';
  return unpack_archive(tar, into, 0, &bytes, why, whysz);
}

/* Symlinks that each look inside as text but lead out through one
 * another, in either order, and a hard link through them. */
static void test_link_chains(void) {
  char root[] = "/tmp/test_unpack-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char why[2048], path[200];
  struct stat st;

  const tar_entry dot_first[] = {{"l1", '2', ".", NULL}, {"l2", '2', "l1/..", NULL}};
  CHECK_INT(unpack_entries(root, dot_first, 2, why, sizeof why), -1);
  CHECK(strstr(why, "archive entry 'l2' is a symbolic link to 'l1/..'") != NULL);

  /* l2 is written while l1 does not exist yet: caught once all is unpacked. */
  const tar_entry dot_last[] = {{"d/l2", '2', "../l1/..", NULL}, {"l1", '2', ".", NULL}};
  CHECK_INT(unpack_entries(root, dot_last, 2, why, sizeof why), -1);
  CHECK(strstr(why, "archive entry 'd/l2' is a symbolic link to '../l1/..', which through the "
                    "links the archive makes points outside") != NULL);

  /* l2 leads out (not yet refused) when h is linked through it to ROOT/secret. */
  const tar_entry hard[] = {{"l2", '2', "l1/..", NULL}, {"l1", '2', ".", NULL},
                            {"h", '1', "l2/secret", NULL}};
  CHECK_INT(unpack_entries(root, hard, 3, why, sizeof why), -1);
  CHECK(strstr(why, "archive entry 'h' is a hard link to 'l2/secret', which is outside") != NULL);
  snprintf(path, sizeof path, "%s/model/h", root);
  CHECK(lstat(path, &st) != 0);

  const tar_entry loop[] = {{"a", '2', "b", NULL}, {"b", '2', "a", NULL}};
  CHECK_INT(unpack_entries(root, loop, 2, why, sizeof why), -1);
  CHECK(strstr(why, "goes through more than 40 links") != NULL);

  /* Chains that stay inside unpack, the hard link as the file itself. */
  const tar_entry fine[] = {{"l1", '2', ".", NULL}, {"d/l2", '2', "../l1/f.txt", NULL},
                            {"f.txt", '0', NULL, "ok"}, {"h", '1', "l1/f.txt", NULL}};
  CHECK_INT(unpack_entries(root, fine, 4, why, sizeof why), 0);
  snprintf(path, sizeof path, "%s/model/h", root);
  CHECK_INT(lstat(path, &st), 0);
  CHECK(S_ISREG(st.st_mode) && st.st_nlink == 2);
  snprintf(path, sizeof path, "%s/model/d/l2", root);
  CHECK_INT(stat(path, &st), 0);
  CHECK_INT((int)st.st_size, 2);

  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CHECK_INT(system(cmd), 0);
}

static void test_unpack(void) {
  char root[] = "/tmp/test_unpack-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char tar[128], into[128], outside[128], why[2048];
  snprintf(tar, sizeof tar, "%s/a.tar", root);
  snprintf(into, sizeof into, "%s/model", root);
  snprintf(outside, sizeof outside, "%s/evil.txt", root);
  mkdir(into, 0755);
  uint64_t bytes = 0;
  write_tar(tar, "../evil.txt");
  CHECK_INT(unpack_archive(tar, into, 0, &bytes, why, sizeof why), -1);
  CHECK(strstr(why, "'../evil.txt'") != NULL);
  CHECK(access(outside, F_OK) != 0);
  write_tar(tar, "./fine.txt");
  CHECK_INT(unpack_archive(tar, into, 1, &bytes, why, sizeof why), 0);
  CHECK_INT((int)bytes, 4);
  char fine[160];
  snprintf(fine, sizeof fine, "%s/fine.txt", into);
  struct stat st;
  CHECK_INT(stat(fine, &st), 0);
  CHECK_INT((int)(st.st_mode & 07777), 0644);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CHECK_INT(system(cmd), 0);
}

int main(void) {
  test_clean_path();
  test_link_inside();
  test_unpack();
  test_link_chains();
  CHECK_DONE();
}
