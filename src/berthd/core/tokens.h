/* tokens: Berth's bearer tokens, short-lived stand-ins for an access key
 * that clients without SigV4 (the OpenAI SDKs) send as
 * `Authorization: Bearer <token>` (docs/security.md, "Bearer tokens").
 *
 * DESIGN: a token is self-contained, so no role keeps a list of them:
 *   berth1.<access key id>.<expiry, unix seconds>.<MAC>
 * MAC is base64url (no padding) of HMAC-SHA256 keyed with the key's secret
 * over everything before the last dot. Whoever holds the key (the
 * controller, and routers through the routing snapshot) can check one; a
 * token is as strong as its key, does what its key may, and dies with it
 * (a deleted key's tokens no longer verify). A token cannot be revoked on
 * its own: its lifetime is capped instead (TOKENS_MAX_LIFETIME_S). */
#ifndef BERTHD_TOKENS_H
#define BERTHD_TOKENS_H

#include <jansson.h>
#include <stddef.h>

#include "valid.h"

#define TOKENS_PREFIX "berth1"
#define TOKENS_MIN_LIFETIME_S 60
#define TOKENS_DEFAULT_LIFETIME_S (12 * 3600)
#define TOKENS_MAX_LIFETIME_S (7 * 24 * 3600)
/* How far the minting and the checking host's clocks may disagree: a token
 * is taken this long past its expiry, and its expiry may lie this much
 * beyond the maximum lifetime. */
#define TOKENS_SKEW_S 300
/* The longest token: prefix, a 32-character key id, 20 digits, the MAC. */
#define TOKENS_MAX_LEN 128

struct ctl;

/* Writes the token of key (id, secret) expiring at expiry into out (at
 * least TOKENS_MAX_LEN + 1 bytes). 0, or -ENAMETOOLONG when it does not fit. */
int tokens_mint(const char *key_id, const char *secret, long long expiry, char *out,
                size_t outsz);

/* Splits a token into its key id and expiry (without checking its MAC).
 * 0, or -1 when token does not have the token's shape. */
int tokens_parse(const char *token, char *key_id, size_t idsz, long long *expiry);

/* Whether token's MAC is the one secret makes (in constant time). */
int tokens_mac_ok(const char *token, const char *secret);

/* Berth.CreateToken {ExpiresInSeconds?}: a token of the key that signed
 * the call (its name, id and secret), answered as {Token, AccessKeyId,
 * Expiration (epoch seconds)}. It needs no permission (like STS
 * GetSessionToken): the token may do no more than its key. */
int tokens_create_call(struct ctl *c, const char *key_name, const char *key_id,
                       const char *secret, json_t *req, json_t **resp, api_error *e);

#endif
