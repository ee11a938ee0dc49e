/* Unit tests for exec_hook: the join token is cut from a hook's output
 * wherever it appears (also several times, and a start of it where the
 * output was cut); instance-id= lines (the last wins, blanks trimmed,
 * values that do not fit skipped); the output on one bounded log line;
 * the launch back-off (doubling, capped). */
#include "berth/exec_hook.h"

#include "check.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_redact(void) {
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"no secret here", "no secret here"},
      {"token " TOKEN " end", "token [t] end"},
      {TOKEN TOKEN, "[t][t]"},
      {"a\n" TOKEN "\nb " TOKEN, "a\n[t]\nb [t]"},
      /* Cut where the kept output ended: the start of it goes. */
      {"booting with 0123456789abcdef01", "booting with "},
      /* Under 8 characters of it at the end: too little to be sure. */
      {"ends in 0123456", "ends in 0123456"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", cases[i].in);
    berth_exec_redact(buf, TOKEN, "[t]");
    CHECK_STR(buf, cases[i].want);
  }
  /* A short secret or a mark as long as it: left alone. */
  char s[64] = "abc abc";
  berth_exec_redact(s, "abc", "[t]");
  CHECK_STR(s, "abc abc");
  snprintf(s, sizeof s, "12345678");
  berth_exec_redact(s, "12345678", "[longer mark]");
  CHECK_STR(s, "12345678");
  /* Property: whatever surrounds it, the token never survives. */
  uint64_t rng = 3;
  for (int round = 0; round < 500; round++) {
    char buf[1024];
    size_t k = 0;
    while (k + 70 < sizeof buf && (check_random(&rng) % 8) != 0) {
      if (check_random(&rng) % 3 == 0) {
        memcpy(buf + k, TOKEN, 64);
        k += 64;
      } else {
        buf[k++] = "0123456789abcdef \n"[check_random(&rng) % 18];
      }
    }
    buf[k] = '\0';
    berth_exec_redact(buf, TOKEN, "[t]");
    CHECK(strstr(buf, TOKEN) == NULL);
  }
}

static void test_instance_id(void) {
  char id[32];
  CHECK_INT(berth_exec_instance_id("instance-id=i-0abc\n", id, sizeof id), 1);
  CHECK_STR(id, "i-0abc");
  CHECK_INT(berth_exec_instance_id("log line\n  instance-id=i-1 \r\nmore\ninstance-id=i-2", id,
                                   sizeof id), 1);
  CHECK_STR(id, "i-2"); /* the last wins */
  CHECK_INT(berth_exec_instance_id("\tinstance-id=gpu1.internal\r\n", id, sizeof id), 1);
  CHECK_STR(id, "gpu1.internal");
  CHECK_INT(berth_exec_instance_id("my instance-id=x\ninstance-id=\n", id, sizeof id), 0);
  CHECK_INT(berth_exec_instance_id("", id, sizeof id), 0);
  /* One that does not fit is skipped; an earlier one stays. */
  CHECK_INT(berth_exec_instance_id("instance-id=ok\ninstance-id="
                                   "0123456789012345678901234567890123456789\n", id, sizeof id), 1);
  CHECK_STR(id, "ok");
}

static void test_one_line(void) {
  char out[64];
  berth_exec_one_line("a\nb\r\nc\n", out, sizeof out);
  CHECK_STR(out, "a | b | c");
  berth_exec_one_line("\nx\ty\x01", out, sizeof out);
  CHECK_STR(out, "x?y?");
  berth_exec_one_line("", out, sizeof out);
  CHECK_STR(out, "");
  /* Bounded: never past outsz, whatever the input. */
  char big[300];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 300; i += 7) big[i] = '\n';
  for (size_t n = 1; n < 40; n++) {
    char small[40];
    memset(small, '#', sizeof small);
    berth_exec_one_line(big, small, n);
    CHECK(strlen(small) < n);
    if (n < sizeof small) CHECK(small[n] == '#' || n == sizeof small);
  }
}

static void test_backoff(void) {
  CHECK(berth_exec_backoff_s(0, 2, 60) == 0);
  CHECK(berth_exec_backoff_s(1, 2, 60) == 2);
  CHECK(berth_exec_backoff_s(2, 2, 60) == 4);
  CHECK(berth_exec_backoff_s(5, 2, 60) == 32);
  CHECK(berth_exec_backoff_s(6, 2, 60) == 60);
  CHECK(berth_exec_backoff_s(1000, 2, 60) == 60);
  for (int f = 1; f < 50; f++)
    CHECK(berth_exec_backoff_s(f + 1, 2, 60) >= berth_exec_backoff_s(f, 2, 60));
}

int main(void) {
  test_redact();
  test_instance_id();
  test_one_line();
  test_backoff();
  CHECK_DONE();
}
