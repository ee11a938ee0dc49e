/* agent_tokens: see agent_tokens.h. */
#include "agent_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "berth/log.h"
#include "berth/secret.h"
#include "berth/sigv4.h"
#include "store.h"

static json_t *records; /* agent id -> {TokenSha256, Revoked}; one controller per process */

static int load_one(const char *name, json_t *doc, void *ud) {
  (void)ud;
  json_object_set(records, name, doc);
  return 0;
}

int agent_tokens_load(ctl *c) {
  if (!records) records = json_object();
  return store_each(c->db, "agent", load_one, NULL);
}

agent_token_kind agent_tokens_check(ctl *c, const char *token, char *agent_id) {
  (void)c;
  char hash[65];
  berth_sha256_hex(token, strlen(token), hash);
  const char *id;
  json_t *r;
  agent_token_kind found = AGENT_UNKNOWN;
  /* Every record is compared, in constant time each: the time taken says
   * nothing about which one (or how much of one) matched. */
  json_object_foreach(records, id, r) {
    const char *h = json_string_value(json_object_get(r, "TokenSha256"));
    if (h && berth_secret_equal(h, hash) && found == AGENT_UNKNOWN) {
      found = json_is_true(json_object_get(r, "Revoked")) ? AGENT_REVOKED : AGENT_ISSUED;
      snprintf(agent_id, 64, "%s", id);
    }
  }
  return found;
}

int agent_tokens_state(ctl *c, const char *agent_id) {
  (void)c;
  json_t *r = records ? json_object_get(records, agent_id) : NULL;
  if (!r) return 0;
  return json_is_true(json_object_get(r, "Revoked")) ? 2 : 1;
}

static int put(ctl *c, const char *agent_id, json_t *doc) {
  int rc = store_put(c->db, "agent", agent_id, doc);
  if (!rc) json_object_set(records, agent_id, doc);
  json_decref(doc);
  return rc;
}

int agent_tokens_issue(ctl *c, const char *agent_id, char out[65]) {
  if (!records) records = json_object();
  /* A bound on what the join token can make the store hold. */
  if (json_object_size(records) >= AGENT_TOKENS_MAX) {
    berth_log(BERTH_LOG_WARN, "agent %s: not issued a token: %d agents hold one already (the "
              "limit)", agent_id, AGENT_TOKENS_MAX);
    return -ENOSPC;
  }
  char hash[65];
  if (berth_secret_random(out, 64, "0123456789abcdef")) return -1;
  berth_sha256_hex(out, 64, hash);
  return put(c, agent_id, json_pack("{s:s,s:s,s:b,s:f}", "AgentId", agent_id, "TokenSha256", hash,
                                    "Revoked", 0, "IssuedTime", ctl_now()));
}

int agent_tokens_revoke(ctl *c, const char *agent_id) {
  json_t *r = records ? json_object_get(records, agent_id) : NULL;
  if (!r) return -ENOENT;
  json_t *doc = json_deep_copy(r);
  json_object_set_new(doc, "Revoked", json_true());
  json_object_set_new(doc, "RevokedTime", json_real(ctl_now()));
  char keep[64];
  snprintf(keep, sizeof keep, "%s", agent_id); /* agent_id may point into r */
  int rc = put(c, keep, doc);
  if (!rc) berth_log(BERTH_LOG_WARN, "agent %s revoked: its token is refused from now on", keep);
  return rc;
}

void agent_tokens_forget(ctl *c, const char *agent_id) {
  if (!records || !json_object_get(records, agent_id)) return;
  store_delete(c->db, "agent", agent_id);
  json_object_del(records, agent_id);
}
