/* Unit tests for core/tokens.c: minting, the token's shape, and that any
 * change to a token or the wrong secret fails its MAC. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tokens.h"

static void test_round_trip(void) {
  char tok[TOKENS_MAX_LEN + 1], id[40];
  long long expiry = 0;
  CHECK_INT(tokens_mint("BKIAABCDEFGHIJKLMNOP", "s3cret", 1767225600, tok, sizeof tok), 0);
  CHECK(strncmp(tok, "berth1.BKIAABCDEFGHIJKLMNOP.1767225600.", 39) == 0);
  CHECK_INT(strlen(tok), 39 + 43);
  CHECK_INT(tokens_parse(tok, id, sizeof id, &expiry), 0);
  CHECK_STR(id, "BKIAABCDEFGHIJKLMNOP");
  CHECK_INT(expiry, 1767225600);
  CHECK(tokens_mac_ok(tok, "s3cret"));
  CHECK(!tokens_mac_ok(tok, "s3creT"));
  CHECK(!tokens_mac_ok(tok, ""));
  /* Every single-character change breaks the MAC or the shape. */
  for (size_t i = 0; i < strlen(tok); i++) {
    char bad[sizeof tok];
    memcpy(bad, tok, sizeof tok);
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    int parses = tokens_parse(bad, id, sizeof id, &expiry) == 0;
    if (parses) CHECK(!tokens_mac_ok(bad, "s3cret"));
  }
  /* Too small a buffer. */
  char small[40];
  CHECK(tokens_mint("BKIAABCDEFGHIJKLMNOP", "s", 1, small, sizeof small) < 0);
}

static void test_shapes(void) {
  static const char *const bad[] = {
    "",
    "berth1",
    "berth1...",
    "berth2.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",    /* 42 */
    "berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* 44 */
    "berth1.BKIA.x1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "berth1.BKIA.1234567890123.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "berth1.BK-A.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "berth1..1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
  };
  char id[40];
  long long expiry;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = tokens_parse(bad[i], id, sizeof id, &expiry);
    if (rc != -1) fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
    CHECK_INT(rc, -1);
  }
  CHECK_INT(tokens_parse("berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-", id, sizeof id,
                         &expiry), 0);
  CHECK_INT(expiry, 1);
  /* The id must fit the caller's buffer. */
  char tiny[4];
  CHECK_INT(tokens_parse("berth1.BKIA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-", tiny,
                         sizeof tiny, &expiry), -1);
}

int main(void) {
  test_round_trip();
  test_shapes();
  CHECK_DONE();
}
