/* http: HTTP/1.1 message parser shared by the server (requests) and the
 * client (responses). Written here because no maintained packaged parser
 * exists on Debian 12; it is fuzzed (fuzz/fuzz_http_parser.c).
 *
 * DESIGN: the parser is incremental and push-based. Header bytes are copied
 * into a bounded internal buffer (so a head split across reads works); body
 * bytes are handed to on_body as slices of the caller's input, de-chunked.
 * berth_http_parser_execute stops after a complete message so a server can
 * finish one response before it reads the next pipelined request.
 *
 * Request smuggling defences: both Content-Length and Transfer-Encoding,
 * repeated Content-Length with different values, a Transfer-Encoding other
 * than a final "chunked", obs-fold header lines, whitespace before the colon,
 * and bare CR or NUL in the head are all errors (400). */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct berth_http_header {
  const char *name;   /* lower-cased, NUL-terminated */
  const char *value;  /* leading/trailing OWS removed, NUL-terminated */
} berth_http_header;

typedef enum {
  BERTH_HTTP_REQUEST = 0,
  BERTH_HTTP_RESPONSE = 1
} berth_http_kind;

/* The parsed head of one message. All pointers stay valid until the parser
 * is reset for the next message (i.e. until execute is called again after
 * on_complete) or freed. */
typedef struct berth_http_head {
  const char *method;       /* requests: "GET", "POST", ... */
  const char *target;       /* requests: request-target as sent, "/a/b?x=1" */
  int status;               /* responses: 100..599 */
  const char *reason;       /* responses */
  int version_minor;        /* 0 or 1 (HTTP/1.x) */
  berth_http_header *headers;
  size_t n_headers;
  int64_t content_length;   /* -1 when absent */
  int chunked;              /* Transfer-Encoding: chunked */
  int keep_alive;           /* per version and Connection header */
  int expect_continue;      /* requests: Expect: 100-continue */
} berth_http_head;

typedef struct berth_http_parser_cb {
  /* Each returns 0 to go on, non-zero to stop: execute then returns
   * BERTH_HTTP_E_PAUSED and the parser must not be used again. */
  int (*on_head)(void *ud, const berth_http_head *head);
  int (*on_body)(void *ud, const char *data, size_t len);
  int (*on_complete)(void *ud);
} berth_http_parser_cb;

enum {
  BERTH_HTTP_E_BAD_MESSAGE = -1,     /* 400: malformed or ambiguous */
  BERTH_HTTP_E_HEAD_TOO_LARGE = -2,  /* 431 */
  BERTH_HTTP_E_BODY_TOO_LARGE = -3,  /* 413 */
  BERTH_HTTP_E_PAUSED = -4,          /* a callback returned non-zero */
  BERTH_HTTP_E_NOT_IMPLEMENTED = -5, /* 501: unknown transfer coding */
  BERTH_HTTP_E_VERSION = -6          /* 505 */
};

typedef struct berth_http_parser berth_http_parser;

typedef struct berth_http_limits {
  size_t max_head_bytes;    /* request/status line + headers; default 16384 */
  size_t max_headers;       /* default 100 */
  uint64_t max_body_bytes;  /* default 6291456; 0 = no limit (client side) */
} berth_http_limits;

berth_http_parser *berth_http_parser_new(berth_http_kind kind,
                                         const berth_http_limits *limits, /* NULL: defaults */
                                         const berth_http_parser_cb *cb, void *ud);
void berth_http_parser_free(berth_http_parser *p);

/* For responses: the request was HEAD, or the status has no body; the next
 * response is parsed as having no body. Call before its bytes arrive. */
void berth_http_parser_expect_no_body(berth_http_parser *p);

/* Feeds bytes. Returns how many were consumed (< len only when a message
 * completed and further bytes follow: call again for the next message), or
 * a negative BERTH_HTTP_E_* code. */
ssize_t berth_http_parser_execute(berth_http_parser *p, const char *data, size_t len);

/* The peer closed the connection. For a response whose body runs to EOF this
 * completes the message (on_complete fires) and returns 0; in the middle of
 * any other message it returns BERTH_HTTP_E_BAD_MESSAGE; between messages 0. */
int berth_http_parser_finish(berth_http_parser *p);

/* Whether the parser is between messages (nothing of the next one seen). */
int berth_http_parser_idle(const berth_http_parser *p);

/* A short, user-facing description of the last error ("conflicting
 * Content-Length and Transfer-Encoding"). */
const char *berth_http_parser_error(const berth_http_parser *p);

/* Case-insensitive header lookup in a parsed head: first match or NULL. */
const char *berth_http_head_get(const berth_http_head *head, const char *name);

/* Status reason phrase ("Not Found"); "Unknown" for unknown codes. */
const char *berth_http_reason(int status);

/* Percent-decodes src[0..len) into out (NUL-terminated, at most outsz-1
 * bytes). Returns the decoded length or -1 on a bad escape, NUL, or overflow. */
ssize_t berth_http_pct_decode(const char *src, size_t len, char *out, size_t outsz);

#endif
