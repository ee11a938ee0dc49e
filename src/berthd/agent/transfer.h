/* transfer: blocking HTTP(S) requests with libcurl for the artifact-fetch
 * child (never on a loop thread): HEAD, a bounded GET into memory, and a
 * GET of a whole object into a file in ranged pieces that resumes from the
 * byte reached after a failure. S3 requests are SigV4-signed by libcurl
 * (CURLOPT_AWS_SIGV4) when creds is set.
 *
 * Transient failures (connect errors, resets, stalls, 408, 429, 5xx) are
 * retried up to max_attempts times with exponential backoff (250 ms
 * doubling, at most 8 s apart); the caller's deadline is enforced from
 * outside (the agent kills the child). Every failure leaves a one-line
 * reason in t->error naming the method, the URL and what the server said
 * (an S3 error's Code and Message). */
#ifndef BERTHD_TRANSFER_H
#define BERTHD_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "berth/aws_credentials.h"
#include "berth/buf.h"

typedef struct transfer {
  void *curl;                           /* private: CURL *, reused */
  const char *ca_file;                  /* trusted besides the system's CAs, or NULL */
  const berth_aws_credentials *creds;   /* sign for S3 with these, or NULL */
  const char *region;                   /* with creds */
  int max_attempts;
  uint64_t done, total;                 /* bytes of the current file GET */
  long status;                          /* the last answer's HTTP status, 0: none */
  void (*on_progress)(struct transfer *t); /* during file GETs, often */
  char error[2048];
} transfer;

typedef struct transfer_info {
  long status;
  char etag[256];                       /* as sent, quotes included */
  char last_modified[80];
  int64_t length;                       /* Content-Length, -1 if absent */
} transfer_info;

/* 0 with a curl handle, or -1. */
int transfer_init(transfer *t);
void transfer_cleanup(transfer *t);

/* HEAD url. 0 on 2xx; 1 when the server answered another status (in
 * info->status; error says it); -1 when it could not be asked. */
int transfer_head(transfer *t, const char *url, transfer_info *info);

/* GET url into out (its max bounds the body). 0 on 2xx, else -1. */
int transfer_get(transfer *t, const char *url, berth_buf *out, transfer_info *info);

/* GET url into the file at path (created or truncated), in pieces of
 * TRANSFER_PIECE bytes when size (-1: unknown) is known. etag (or NULL)
 * is sent as If-Match, so an object that changes meanwhile fails instead
 * of mixing versions. A 200/206 that adds no bytes, or a whole (200) body
 * shorter than size, counts as a failed attempt ("the server sent N of
 * SIZE bytes" after max_attempts). 0, or -1. info has the last
 * response's headers. */
int transfer_get_file(transfer *t, const char *url, const char *path, const char *etag,
                      int64_t size, transfer_info *info);

/* The text of the first <tag>...</tag> in xml from *from (advanced past
 * it), XML entities decoded, into out. 0, or -1 when there is none. For S3
 * answers (errors, ListObjectsV2), which carry no attributes we need. */
int transfer_xml_text(const char *xml, const char **from, const char *tag, char *out,
                      size_t outsz);

#define TRANSFER_PIECE ((int64_t)64 << 20)

#endif
