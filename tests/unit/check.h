/* check.h: typed asserts for unit tests. A failed check prints where and
 * what, and the test exits non-zero at the end (CHECK_DONE). */
#ifndef BERTH_TEST_CHECK_H
#define BERTH_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK_FAIL_(...)                                             \
  do {                                                               \
    check_failures++;                                                \
    fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__);    \
    fprintf(stderr, __VA_ARGS__);                                    \
    fputc('\n', stderr);                                             \
  } while (0)

#define CHECK(cond)                                                  \
  do {                                                               \
    check_count++;                                                   \
    if (!(cond)) CHECK_FAIL_("%s", #cond);                           \
  } while (0)

#define CHECK_INT(a, b)                                              \
  do {                                                               \
    check_count++;                                                   \
    long long a_ = (long long)(a), b_ = (long long)(b);              \
    if (a_ != b_) CHECK_FAIL_("%s == %s (%lld != %lld)", #a, #b, a_, b_); \
  } while (0)

#define CHECK_STR(a, b)                                              \
  do {                                                               \
    check_count++;                                                   \
    const char *a_ = (a), *b_ = (b);                                 \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                           \
      CHECK_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b,             \
                  a_ ? a_ : "(null)", b_ ? b_ : "(null)");           \
  } while (0)

#define CHECK_MEM(a, alen, b, blen)                                  \
  do {                                                               \
    check_count++;                                                   \
    size_t al_ = (alen), bl_ = (blen);                               \
    if (al_ != bl_ || memcmp((a), (b), al_) != 0)                    \
      CHECK_FAIL_("%s == %s (%zu vs %zu bytes)", #a, #b, al_, bl_);  \
  } while (0)

/* splitmix64: a small seeded generator for property tests. */
static inline uint64_t check_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

#define CHECK_DONE()                                                 \
  do {                                                               \
    printf("%d checks, %d failed\n", check_count, check_failures);   \
    return check_failures ? 1 : 0;                                   \
  } while (0)

#endif
