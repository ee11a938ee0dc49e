/* Unit tests for the router's sticky-session table (router/sessions.c):
 * SageMaker's session-id rule and New-Session-Id parsing, table-driven;
 * then put/get/remove, expiry, the per-IC bound (expired sessions evicted
 * first, then the soonest to expire), and a property run against a plain
 * model of the table. */
#include "sessions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static const struct {
  const char *id;
  int valid;
} ids[] = {
  {"a", 1}, {"abc-123", 1}, {"a--b", 1}, {"0f1e2d3c4b5a69788796a5b4c3d2e1f0", 1},
  {"", 0}, {"-a", 0}, {"a-", 0}, {"a_b", 0}, {"a b", 0}, {"NEW_SESSION", 0}, {"é", 0},
};

static const struct {
  const char *value;
  int rc;
  const char *id;
  double expires;
} news[] = {
  {"abc; Expires=2026-12-01T00:00:00Z", 0, "abc", 1796083200},
  {"abc;Expires=2026-12-01T00:00:00Z", 0, "abc", 1796083200},
  {"abc", 0, "abc", 0},
  {"abc; Expires=tomorrow", 0, "abc", 0},
  {"abc; Expires=2026-13-01T00:00:00Z", 0, "abc", 0},
  {"abc ; Expires=2026-12-01T00:00:00Z", 0, "abc", 1796083200},
  {"; Expires=2026-12-01T00:00:00Z", -EINVAL, NULL, 0},
  {"a_b; Expires=2026-12-01T00:00:00Z", -EINVAL, NULL, 0},
};

int main(void) {
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (router_session_id_valid(ids[i].id) != ids[i].valid) {
      fprintf(stderr, "  id \"%s\"\n", ids[i].id);
      CHECK_INT(router_session_id_valid(ids[i].id), ids[i].valid);
    }
  char longid[ROUTER_SESSION_ID_MAX + 2];
  memset(longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  CHECK_INT(router_session_id_valid(longid), 0);        /* 257 */
  longid[ROUTER_SESSION_ID_MAX] = '\0';
  CHECK_INT(router_session_id_valid(longid), 1);        /* 256 */

  for (size_t i = 0; i < sizeof news / sizeof news[0]; i++) {
    char id[ROUTER_SESSION_ID_MAX + 1] = "";
    double exp = -1;
    int rc = router_session_parse_new(news[i].value, id, &exp);
    CHECK_INT(rc, news[i].rc);
    if (rc == 0) {
      CHECK_STR(id, news[i].id);
      CHECK(exp == news[i].expires);
    }
  }

  /* put, get, remove, expiry */
  router_sessions *t = router_sessions_new(3);
  CHECK_INT(router_sessions_put(t, "ic", "s1", 7, 100, 10), 0);
  CHECK_INT(router_sessions_put(t, "ic", "bad_id", 7, 100, 10), -EINVAL);
  CHECK_INT(router_sessions_put(t, "ic", "s9", 7, 10, 10), -ETIME);
  CHECK_INT((int)router_sessions_get(t, "ic", "s1", 50), 7);
  CHECK_INT((int)router_sessions_get(t, "other", "s1", 50), -1); /* per IC */
  CHECK_INT(router_sessions_remove(t, "ic", "s1", 8), 0);        /* another copy may not */
  CHECK_INT(router_sessions_remove(t, "ic", "s1", 7), 1);
  CHECK_INT((int)router_sessions_get(t, "ic", "s1", 50), -1);
  CHECK_INT(router_sessions_put(t, "ic", "s2", 1, 60, 10), 0);
  CHECK_INT((int)router_sessions_get(t, "ic", "s2", 60), -1);    /* expired at 60 */
  CHECK_INT((int)router_sessions_count(t, "ic"), 0);             /* and dropped */

  /* The bound: expired ones go first, then the soonest to expire. */
  CHECK_INT(router_sessions_put(t, "ic", "a", 1, 50, 10), 0);
  CHECK_INT(router_sessions_put(t, "ic", "b", 2, 300, 10), 0);
  CHECK_INT(router_sessions_put(t, "ic", "c", 3, 200, 10), 0);
  CHECK_INT(router_sessions_put(t, "ic", "d", 4, 400, 60), 0);   /* a has expired */
  CHECK_INT((int)router_sessions_count(t, "ic"), 3);
  CHECK_INT((int)router_sessions_get(t, "ic", "b", 60), 2);
  CHECK_INT(router_sessions_put(t, "ic", "e", 5, 500, 60), 0);   /* c expires soonest */
  CHECK_INT((int)router_sessions_get(t, "ic", "c", 60), -1);
  CHECK_INT((int)router_sessions_get(t, "ic", "b", 60), 2);
  CHECK_INT((int)router_sessions_get(t, "ic", "e", 60), 5);
  CHECK_INT(router_sessions_put(t, "ic", "b", 9, 900, 60), 0);   /* moves, no eviction */
  CHECK_INT((int)router_sessions_get(t, "ic", "b", 60), 9);
  CHECK_INT((int)router_sessions_count(t, "ic"), 3);
  router_sessions_drop_ic(t, "ic");
  CHECK_INT((int)router_sessions_count(t, "ic"), 0);
  router_sessions_free(t);

  /* Property: against a plain array model, random puts, gets and removes
   * over a small id space with an advancing clock agree, and the count
   * never passes the bound. */
  enum { IDS = 40, MAX = 16 };
  uint64_t rng = 7;
  t = router_sessions_new(MAX);
  int64_t model_copy[IDS];
  double model_exp[IDS];
  for (int i = 0; i < IDS; i++) model_copy[i] = -1;
  double now = 1000;
  for (int step = 0; step < 20000; step++) {
    now += (double)(check_random(&rng) % 3);
    int k = (int)(check_random(&rng) % IDS);
    char id[16];
    snprintf(id, sizeof id, "id-%d", k);
    int op = (int)(check_random(&rng) % 3);
    if (op == 0) {
      double exp = now + 1 + (double)(check_random(&rng) % 100);
      CHECK_INT(router_sessions_put(t, "p", id, step, exp, now), 0);
      model_copy[k] = step;
      model_exp[k] = exp;
    } else if (op == 1) {
      int64_t got = router_sessions_get(t, "p", id, now);
      /* The table may have evicted a live one at the bound, never
       * invented or moved one. */
      int live = model_copy[k] >= 0 && model_exp[k] > now;
      if (got >= 0) {
        CHECK(live);
        CHECK(got == model_copy[k]);
      }
      if (!live) model_copy[k] = -1;
      if (got < 0) model_copy[k] = -1;
    } else {
      router_sessions_remove(t, "p", id, -1);
      model_copy[k] = -1;
    }
    CHECK(router_sessions_count(t, "p") <= MAX);
  }
  router_sessions_free(t);
  CHECK_DONE();
}
