/* sessions: see sessions.h. A fixed array searched in order: a fake model
 * holds few sessions, and the bound is what matters. */
#include "sessions.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

typedef struct session {
  char id[MODEL_SESSION_ID_LEN + 1]; /* "" for a free slot */
  long turns;
  time_t expires;
} session;

static session sessions[MODEL_SESSIONS_MAX];
static uint64_t rng;

static uint64_t next_rand(void) {
  if (!rng) rng = uv_hrtime() ^ ((uint64_t)getpid() << 32);
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static session *find(const char *id, time_t now) {
  for (size_t i = 0; i < MODEL_SESSIONS_MAX; i++) {
    session *s = &sessions[i];
    if (!s->id[0]) continue;
    if (s->expires <= now) {
      s->id[0] = '\0';
      continue;
    }
    if (strcmp(s->id, id) == 0) return s;
  }
  return NULL;
}

static int open_session(long ttl_s, time_t now, model_session_result *r, char *msg,
                        size_t msgsz) {
  session *s = NULL;
  for (size_t i = 0; i < MODEL_SESSIONS_MAX && !s; i++)
    if (!sessions[i].id[0] || sessions[i].expires <= now) s = &sessions[i];
  if (!s) {
    snprintf(msg, msgsz, "this copy holds %d open sessions (its limit): close one first",
             MODEL_SESSIONS_MAX);
    return 429;
  }
  snprintf(s->id, sizeof s->id, "%016llx%016llx", (unsigned long long)next_rand(),
           (unsigned long long)next_rand());
  s->turns = 0;
  s->expires = now + ttl_s;
  struct tm tm;
  gmtime_r(&s->expires, &tm);
  char when[24]; /* 2026-01-02T03:04:05Z */
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  r->header = "X-Amzn-SageMaker-New-Session-Id";
  snprintf(r->value, sizeof r->value, "%s; Expires=%s", s->id, when);
  snprintf(r->id, sizeof r->id, "%s", s->id);
  r->turn = 0;
  return 0;
}

int model_session_apply(const char *header, int close, long ttl_s, model_session_result *r,
                        char *msg, size_t msgsz) {
  memset(r, 0, sizeof *r);
  if (!header) return 0;
  time_t now = time(NULL);
  if (strcmp(header, "NEW_SESSION") == 0) return open_session(ttl_s, now, r, msg, msgsz);
  session *s = find(header, now);
  if (!s) {
    snprintf(msg, msgsz, "session \"%.256s\" is not open on this copy (closed, expired, or never "
             "opened here)", header);
    return 400;
  }
  r->turn = ++s->turns;
  snprintf(r->id, sizeof r->id, "%s", s->id);
  if (close) {
    r->header = "X-Amzn-SageMaker-Closed-Session-Id";
    snprintf(r->value, sizeof r->value, "%s", s->id);
    s->id[0] = '\0';
  }
  return 0;
}
