/* test_unpack: agent/unpack.c's path rules, which decide whether an
 * archive entry (or an S3 key of a prefix) stays inside the model
 * directory, and one real unpack of an archive with a '..' entry. */
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

/* A tar written by hand: one file entry named name. */
static void write_tar(const char *file, const char *name) {
  unsigned char h[512] = {0};
  snprintf((char *)h, 100, "%s", name);
  memcpy(h + 100, "0000644", 8);
  memcpy(h + 108, "0000000", 8);
  memcpy(h + 116, "0000000", 8);
  memcpy(h + 124, "00000000004", 12);
  memcpy(h + 136, "00000000000", 12);
  memset(h + 148, ' ', 8);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  unsigned char body[512] = "evil";
  static const unsigned char end[1024];
  FILE *f = fopen(file, "wb");
  CHECK(f != NULL);
  fwrite(h, 1, sizeof h, f);
  fwrite(body, 1, sizeof body, f);
  fwrite(end, 1, sizeof end, f);
  fclose(f);
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
  CHECK_DONE();
}
