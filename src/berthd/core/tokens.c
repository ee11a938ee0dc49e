/* tokens: see tokens.h. */
#include "tokens.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "berth/log.h"
#include "berth/secret.h"
#include "ctl.h"

/* 32 bytes of HMAC as base64url without padding: 43 characters. */
#define MAC_LEN 43

static void mac_of(const char *secret, const char *msg, size_t len, char out[MAC_LEN + 1]) {
  unsigned char sum[32], text[48];
  unsigned int n = sizeof sum;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, sum, &n);
  EVP_EncodeBlock(text, sum, 32); /* 44 characters, the last one '=' */
  for (int i = 0; i < MAC_LEN; i++)
    out[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : (char)text[i];
  out[MAC_LEN] = '\0';
  berth_secret_wipe(sum, sizeof sum);
}

int tokens_mint(const char *key_id, const char *secret, long long expiry, char *out,
                size_t outsz) {
  int n = snprintf(out, outsz, "%s.%s.%lld.", TOKENS_PREFIX, key_id, expiry);
  if (n < 0 || (size_t)n + MAC_LEN + 1 > outsz) return -ENAMETOOLONG;
  mac_of(secret, out, (size_t)n - 1, out + n);
  return 0;
}

int tokens_parse(const char *token, char *key_id, size_t idsz, long long *expiry) {
  static const char prefix[] = TOKENS_PREFIX ".";
  if (strlen(token) > TOKENS_MAX_LEN || strncmp(token, prefix, sizeof prefix - 1) != 0) return -1;
  const char *id = token + sizeof prefix - 1;
  size_t idlen = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  if (idlen == 0 || idlen >= idsz || idlen > 32 || id[idlen] != '.') return -1;
  const char *exp = id + idlen + 1;
  size_t explen = strspn(exp, "0123456789");
  /* At most 12 digits: far past any real expiry, and no overflow. */
  if (explen == 0 || explen > 12 || exp[explen] != '.') return -1;
  const char *mac = exp + explen + 1;
  if (strlen(mac) != MAC_LEN ||
      strspn(mac, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != MAC_LEN)
    return -1;
  memcpy(key_id, id, idlen);
  key_id[idlen] = '\0';
  *expiry = strtoll(exp, NULL, 10);
  return 0;
}

int tokens_mac_ok(const char *token, const char *secret) {
  const char *dot = strrchr(token, '.');
  if (!dot) return 0;
  char expect[MAC_LEN + 1];
  mac_of(secret, token, (size_t)(dot - token), expect);
  return berth_secret_equal(expect, dot + 1);
}

int tokens_create_call(ctl *c, const char *key_name, const char *key_id, const char *secret,
                       json_t *req, json_t **resp, api_error *e) {
  (void)c; /* the key carries all a token needs */
  long long life;
  if (valid_int(req, "ExpiresInSeconds", "ExpiresInSeconds", 0, TOKENS_MIN_LIFETIME_S,
                TOKENS_MAX_LIFETIME_S, TOKENS_DEFAULT_LIFETIME_S, &life, e))
    return -1;
  long long expiry = (long long)ctl_now() + life;
  char token[TOKENS_MAX_LEN + 1];
  if (tokens_mint(key_id, secret, expiry, token, sizeof token))
    return api_fail(e, 500, "InternalFailure", "access key id %.40s is too long for a token",
                    key_id);
  *resp = json_pack("{s:s,s:s,s:I}", "Token", token, "AccessKeyId", key_id, "Expiration",
                    (json_int_t)expiry);
  berth_secret_wipe(token, sizeof token);
  /* The key and the expiry, never the token: it is a credential. */
  berth_log(BERTH_LOG_INFO, "bearer token of access key %s (%s) minted, expires in %lld s",
            key_name, key_id, life);
  return 0;
}
