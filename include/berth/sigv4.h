/* sigv4: AWS Signature Version 4, the verifier's side: parsing the
 * Authorization header, the canonical request as AWS defines it, and the
 * signature a secret key gives it.
 *
 * Not wired into any listener yet: the control, runtime and agent APIs
 * adopt it with the access keys of issue 10. */
#ifndef BERTH_SIGV4_H
#define BERTH_SIGV4_H

#include <stddef.h>

#include "berth/buf.h"
#include "berth/http.h"

typedef struct berth_sigv4_auth {
  char access_key[129];
  char date[9];                 /* YYYYMMDD of the credential scope */
  char region[33];
  char service[65];
  char signed_headers[1025];    /* "host;x-amz-date", lower case, sorted */
  char signature[65];           /* 64 hex digits */
} berth_sigv4_auth;

/* Parses "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=HEX". 0, or -EINVAL with err naming the
 * part that is missing or malformed (IncompleteSignatureException). */
int berth_sigv4_parse(const char *authorization, berth_sigv4_auth *out, char *err, size_t errsz);

/* Appends the canonical request: method, the canonical URI (the path as
 * sent, encoded once more unless s3: AWS's rule for every service but S3),
 * the sorted canonical query, the signed headers' canonical lines, the
 * signed header list and payload_sha256 (hex). -ENOENT when a signed header
 * is missing from the request. */
int berth_sigv4_canonical(berth_buf *out, const char *method, const char *path,
                          const char *query, const berth_http_header *headers, size_t n,
                          const char *signed_headers, const char *payload_sha256, int s3);

/* The hex signature of canonical under secret, for the credential scope
 * date/region/service and the request's x-amz-date (amz_date). */
void berth_sigv4_sign(const char *secret, const char *date, const char *region,
                      const char *service, const char *amz_date, const char *canonical,
                      size_t canonical_len, char out[65]);

/* The same in two steps: the signing key of a credential scope (four
 * HMACs, the same all day for one key, region and service: a verifier
 * keeps it), then the signature with it (one HMAC). */
void berth_sigv4_signing_key(const char *secret, const char *date, const char *region,
                             const char *service, unsigned char out[32]);
void berth_sigv4_sign_key(const unsigned char key[32], const char *date, const char *region,
                          const char *service, const char *amz_date, const char *canonical,
                          size_t canonical_len, char out[65]);

/* Hex SHA-256 of data (the payload hash). */
void berth_sha256_hex(const void *data, size_t len, char out[65]);

#endif
