/* agent_tokens: see agent_tokens.h. */
#include "agent_tokens.h"

#include <stdio.h>
#include <string.h>

#include "berth/log.h"
#include "berth/secret.h"
#include "berth/sigv4.h"
#include "pool.h"
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
  char hash[65];
  if (berth_secret_random(out, 64, "0123456789abcdef")) return -1;
  berth_sha256_hex(out, 64, hash);
  return put(c, agent_id, json_pack("{s:s,s:s,s:b,s:f}", "AgentId", agent_id, "TokenSha256", hash,
                                    "Revoked", 0, "IssuedTime", ctl_now()));
}

int agent_tokens_revoke_call(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *agent_id = NULL;
  long long id = 0;
  if (valid_string(req, "AgentId", "AgentId", 0, 63, &agent_id, e) ||
      valid_int(req, "InstanceId", "InstanceId", 0, 1, 1LL << 53, 0, &id, e))
    return -1;
  instance *in = NULL;
  for (instance *x = c->instances; x; x = x->next)
    if ((id && x->id == id) || (agent_id && x->remote && strcmp(x->agent_id, agent_id) == 0))
      in = x;
  if (id && !in)
    return api_fail(e, 400, "ValidationException", "InstanceId %lld is no instance of this "
                    "controller", id);
  if (in && in->agent)
    return api_fail(e, 400, "ValidationException", "instance %lld is a local instance: its agent "
                    "is berthd's own (delete its endpoint instead); only pool agents are revoked",
                    (long long)in->id);
  if (in) agent_id = in->agent_id;
  if (!agent_id)
    return api_fail(e, 400, "ValidationException", "RevokeAgent needs InstanceId or AgentId");
  json_t *r = json_object_get(records, agent_id);
  if (!r)
    return api_fail(e, 400, "ValidationException", "agent %.64s holds no token of its own (it "
                    "never joined this pool)", agent_id);
  json_t *doc = json_deep_copy(r);
  json_object_set_new(doc, "Revoked", json_true());
  json_object_set_new(doc, "RevokedTime", json_real(ctl_now()));
  char keep[64];
  snprintf(keep, sizeof keep, "%s", agent_id);
  if (put(c, keep, doc))
    return api_fail(e, 503, "ThrottlingException", "the state store is busy; retry");
  berth_log(BERTH_LOG_WARN, "agent %s revoked: its token is refused from now on", keep);
  if (in) pool_lose(c, in, "its agent was revoked");
  *resp = json_pack("{s:s,s:b}", "AgentId", keep, "Revoked", 1);
  return 0;
}
