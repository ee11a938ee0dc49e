/* Unit tests for wake: the release of held requests as copies become ready
 * (table cases), then a property over many backlogs and wake sizes: copy by
 * copy, each ready copy takes a fair share and the last takes the rest. */
#include "berth/wake.h"

#include <stdint.h>

#include "check.h"

static void test_cases(void) {
  static const struct {
    size_t held, ready_now, coming;
    double kept_s;
    size_t want;
  } cases[] = {
    {0, 1, 4, 0, 0},         /* nothing held */
    {500, 1, 0, 0, 500},     /* no copy coming: all of them */
    {500, 1, 4, 0, 100},     /* a fifth: four more copies coming */
    {400, 1, 3, 0, 100},
    {101, 1, 4, 0, 21},      /* rounded up */
    {1, 1, 4, 0, 1},
    {500, 2, 3, 0, 200},     /* two ready at once: two fifths */
    {500, 0, 4, 0, 0},       /* periodic check, not kept too long: none */
    {500, 0, 4, 29.9, 0},
    {500, 0, 4, BERTH_WAKE_RELEASE_WAIT_S, 500}, /* kept long enough: all */
    {500, 1, 4, 45, 500},
    {500, 0, 0, 0, 500},     /* nothing coming any more: all */
    {(size_t)-1, 2, 1, 0, (size_t)-1}, /* no overflow */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t got = berth_wake_release(cases[i].held, cases[i].ready_now, cases[i].coming,
                                    cases[i].kept_s);
    if (got != cases[i].want)
      CHECK_FAIL_("case %zu: released %zu, want %zu", i, got, cases[i].want);
    check_count++;
  }
}

/* Copies of one wake become ready one at a time: each takes between
 * floor and ceil of backlog / copies, nothing is left held at the end, and
 * nothing is released before a copy is ready. */
static void test_fair_shares(void) {
  for (size_t held0 = 0; held0 <= 700; held0 += 7) {
    for (size_t copies = 1; copies <= 12; copies++) {
      size_t held = held0, lo = held0 / copies, hi = (held0 + copies - 1) / copies;
      for (size_t k = 0; k < copies; k++) {
        size_t coming = copies - k - 1;
        CHECK_INT(berth_wake_release(held, 0, coming, 0), coming ? 0 : held);
        size_t n = berth_wake_release(held, 1, coming, 0);
        if (n < lo || n > hi)
          CHECK_FAIL_("backlog %zu over %zu copies: copy %zu took %zu, want %zu..%zu", held0,
                      copies, k, n, lo, hi);
        check_count++;
        held -= n;
      }
      CHECK_INT(held, 0);
    }
  }
}

int main(void) {
  test_cases();
  test_fair_shares();
  CHECK_DONE();
}
