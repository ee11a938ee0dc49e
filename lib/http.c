/* http: incremental HTTP/1.1 request and response parser (see http.h).
 *
 * DESIGN: head bytes are validated one at a time as they are copied into a
 * bounded buffer (so CR/LF pairing, control characters and the size limit
 * are checked no matter how the input is split), and parsed in place once the
 * empty line arrives: line ends become NULs, names are lower-cased, values
 * trimmed. Framing (Content-Length, chunked, until-EOF, none) is decided
 * from the parsed head with the RFC 9112 section 6 rules, rejecting every
 * ambiguity a front end could read differently. The body is a small state
 * machine that never copies: on_body gets slices of the caller's input.
 * Line ends must be CRLF everywhere; a bare LF or bare CR is an error. */
#include "berth/http.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

enum {
  S_START,          /* before the first byte of a message */
  S_START_LF,       /* skipping a leading empty line: saw CR */
  S_HEAD,           /* collecting head bytes */
  S_BODY_LENGTH,    /* Content-Length body */
  S_BODY_EOF,       /* response body runs to EOF */
  S_CHUNK_SIZE,     /* hex digits */
  S_CHUNK_WS,       /* whitespace after the size: only ';' may follow */
  S_CHUNK_EXT,      /* after ';' until CR */
  S_CHUNK_SIZE_LF,  /* CR seen after the size line */
  S_CHUNK_DATA,
  S_CHUNK_DATA_CR,
  S_CHUNK_DATA_LF,
  S_TRAILER,        /* trailer lines, validated and dropped */
  S_TRAILER_LF,
  S_DONE,           /* message complete; the next execute starts over */
  S_ERROR
};

/* A chunk extension or trailer section larger than this is abuse. */
#define MAX_CHUNK_EXT 4096
/* Chunk sizes above this are rejected outright (no overflow arithmetic). */
#define MAX_CHUNK_SIZE ((uint64_t)1 << 60)

struct berth_http_parser {
  berth_http_kind kind;
  berth_http_limits lim;
  berth_http_parser_cb cb;
  void *ud;

  int state;
  int err;              /* BERTH_HTTP_E_* once in S_ERROR */
  const char *errmsg;

  berth_buf head_buf;   /* raw head, parsed in place */
  size_t head_seen;     /* bytes counted against max_head_bytes */
  size_t line_start;    /* offset of the current line in head_buf */
  int prev_cr;          /* last head byte was CR */

  berth_http_head head;
  berth_http_header *hdrs; /* lim.max_headers entries */

  uint64_t remaining;   /* body bytes or chunk bytes left */
  uint64_t body_seen;   /* for the body limit */
  size_t ext_seen;      /* chunk extension + trailer bytes */
  int chunk_digits;
  int trailer_line_len;

  int no_body_next;     /* responses: set by expect_no_body */
};

static const berth_http_limits default_limits = {16384, 100, 6291456};

berth_http_parser *berth_http_parser_new(berth_http_kind kind,
                                         const berth_http_limits *limits,
                                         const berth_http_parser_cb *cb, void *ud) {
  berth_http_parser *p = berth_xcalloc(1, sizeof *p);
  p->kind = kind;
  p->lim = limits ? *limits : default_limits;
  if (!p->lim.max_head_bytes) p->lim.max_head_bytes = default_limits.max_head_bytes;
  if (!p->lim.max_headers) p->lim.max_headers = default_limits.max_headers;
  if (cb) p->cb = *cb;
  p->ud = ud;
  /* +1: the limit counts CRLFs, the buffer also holds a NUL. */
  berth_buf_init(&p->head_buf, p->lim.max_head_bytes + 1);
  p->hdrs = berth_xcalloc(p->lim.max_headers, sizeof *p->hdrs);
  p->state = S_START;
  return p;
}

void berth_http_parser_free(berth_http_parser *p) {
  if (!p) return;
  berth_buf_free(&p->head_buf);
  free(p->hdrs);
  free(p);
}

void berth_http_parser_expect_no_body(berth_http_parser *p) {
  p->no_body_next = 1;
}

int berth_http_parser_idle(const berth_http_parser *p) {
  return p->state == S_DONE || (p->state == S_START && p->head_seen == 0);
}

const char *berth_http_parser_error(const berth_http_parser *p) {
  return p->errmsg ? p->errmsg : "no error";
}

static ssize_t fail(berth_http_parser *p, int code, const char *msg) {
  p->state = S_ERROR;
  p->err = code;
  p->errmsg = msg;
  return code;
}

static void reset_message(berth_http_parser *p) {
  berth_buf_reset(&p->head_buf);
  memset(&p->head, 0, sizeof p->head);
  p->head_seen = 0;
  p->line_start = 0;
  p->prev_cr = 0;
  p->remaining = 0;
  p->body_seen = 0;
  p->ext_seen = 0;
  p->chunk_digits = 0;
  p->trailer_line_len = 0;
  p->errmsg = NULL;
  p->state = S_START;
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return 1;
  if (c >= 'A' && c <= 'Z') return 1;
  if (c >= '0' && c <= '9') return 1;
  /* A switch, not strchr: every '-' of every header name comes here. */
  switch (c) {
  case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
  case '-': case '.': case '^': case '_': case '`': case '|': case '~':
    return 1;
  default:
    return 0;
  }
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static int lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int ci_eq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (lower((unsigned char)*a) != lower((unsigned char)*b)) return 0;
  return *a == *b;
}

static int ci_eqn(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen != blen) return 0;
  for (size_t i = 0; i < alen; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

const char *berth_http_head_get(const berth_http_head *head, const char *name) {
  for (size_t i = 0; i < head->n_headers; i++)
    if (ci_eq(head->headers[i].name, name)) return head->headers[i].value;
  return NULL;
}

/* Parses "HTTP/1.x" at s; returns the minor version, -1 malformed, -2 another
 * major version. */
static int parse_version(const char *s) {
  if (strncmp(s, "HTTP/", 5) != 0) return -1;
  s += 5;
  if (s[0] < '0' || s[0] > '9' || s[1] != '.' || s[2] < '0' || s[2] > '9' || s[3])
    return -1;
  if (s[0] != '1') return -2;
  return s[2] - '0';
}

static ssize_t parse_request_line(berth_http_parser *p, char *line) {
  char *sp1 = strchr(line, ' ');
  if (!sp1 || sp1 == line) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed request line");
  *sp1 = '\0';
  for (char *c = line; *c; c++)
    if (!is_tchar((unsigned char)*c))
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid character in method");
  char *target = sp1 + 1;
  char *sp2 = strchr(target, ' ');
  if (!sp2 || sp2 == target) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed request line");
  *sp2 = '\0';
  for (char *c = target; *c; c++) {
    unsigned char u = (unsigned char)*c;
    if (u <= 0x20 || u >= 0x7f)
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid character in request target");
  }
  int minor = parse_version(sp2 + 1);
  if (minor == -2) return fail(p, BERTH_HTTP_E_VERSION, "HTTP version not supported");
  if (minor < 0) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed HTTP version");
  p->head.method = line;
  p->head.target = target;
  p->head.version_minor = minor >= 1 ? 1 : 0;
  return 0;
}

static ssize_t parse_status_line(berth_http_parser *p, char *line) {
  char *sp = strchr(line, ' ');
  if (!sp) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed status line");
  *sp = '\0';
  int minor = parse_version(line);
  if (minor == -2) return fail(p, BERTH_HTTP_E_VERSION, "HTTP version not supported");
  if (minor < 0) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed HTTP version");
  char *code = sp + 1;
  for (int i = 0; i < 3; i++)
    if (code[i] < '0' || code[i] > '9')
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed status code");
  if (code[3] != '\0' && code[3] != ' ')
    return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed status code");
  int status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (status < 100 || status > 599)
    return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "status code out of range");
  p->head.status = status;
  p->head.reason = code[3] ? code + 4 : code + 3;
  p->head.version_minor = minor >= 1 ? 1 : 0;
  return 0;
}

/* Content-Length: 1*DIGIT, nothing else (no sign, no list). */
static int parse_length(const char *v, int64_t *out) {
  if (!*v) return -1;
  uint64_t n = 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9') return -1;
    if (n > ((uint64_t)INT64_MAX - 9) / 10) return -1;
    n = n * 10 + (uint64_t)(*v - '0');
  }
  *out = (int64_t)n;
  return 0;
}

/* Calls fn on each comma-separated, OWS-trimmed element of v. */
static void each_token(const char *v, void (*fn)(const char *s, size_t n, void *arg), void *arg) {
  while (*v) {
    while (*v == ',' || is_ows(*v)) v++;
    const char *s = v;
    while (*v && *v != ',') v++;
    const char *e = v;
    while (e > s && is_ows(e[-1])) e--;
    if (e > s) fn(s, (size_t)(e - s), arg);
  }
}

struct te_scan {
  int n;            /* codings seen */
  int chunked_at;   /* index of the last "chunked", -1 none */
  int n_chunked;
  int unknown;      /* a coding other than chunked */
};

static void te_token(const char *s, size_t n, void *arg) {
  struct te_scan *t = arg;
  /* Parameters (";q=...") are not allowed on transfer codings we accept. */
  if (ci_eqn(s, n, "chunked")) {
    t->chunked_at = t->n;
    t->n_chunked++;
  } else {
    t->unknown = 1;
  }
  t->n++;
}

struct conn_scan {
  int close, keep_alive;
};

static void conn_token(const char *s, size_t n, void *arg) {
  struct conn_scan *c = arg;
  if (ci_eqn(s, n, "close")) c->close = 1;
  else if (ci_eqn(s, n, "keep-alive")) c->keep_alive = 1;
}

/* Splits the head in place, fills p->head and decides the framing. */
static ssize_t parse_head(berth_http_parser *p) {
  char *buf = p->head_buf.data;
  size_t len = p->head_buf.len; /* ends with "\r\n\r\n" */
  char *end = buf + len;
  char *line = buf;
  char *eol = memchr(line, '\r', (size_t)(end - line));
  *eol = '\0';
  ssize_t rc = p->kind == BERTH_HTTP_REQUEST ? parse_request_line(p, line)
                                             : parse_status_line(p, line);
  if (rc < 0) return rc;

  size_t n = 0;
  int64_t cl = -1;
  int te_seen = 0;
  int host_seen = 0;
  struct te_scan te = {0, -1, 0, 0};
  struct conn_scan conn = {0, 0};
  int expect_continue = 0;

  for (line = eol + 2; line < end; line = eol + 2) {
    eol = memchr(line, '\r', (size_t)(end - line));
    if (eol == line) break; /* the empty line */
    *eol = '\0';
    if (is_ows(*line))
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "obsolete line folding in header");
    char *c = line;
    while (*c && *c != ':') {
      if (!is_tchar((unsigned char)*c)) {
        if (is_ows(*c)) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "whitespace before colon in header");
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid character in header name");
      }
      *c = (char)lower((unsigned char)*c);
      c++;
    }
    if (*c != ':' || c == line) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "malformed header line");
    size_t name_len = (size_t)(c - line);
    *c++ = '\0';
    while (is_ows(*c)) c++;
    char *ve = eol;
    while (ve > c && is_ows(ve[-1])) ve--;
    *ve = '\0';
    if (n >= p->lim.max_headers) return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "too many header fields");
    p->hdrs[n].name = line;
    p->hdrs[n].value = c;
    n++;

    /* Length first: one memcmp at most per header, not five strcmp. */
#define NAME_IS(lit) (name_len == sizeof lit - 1 && memcmp(line, lit, sizeof lit - 1) == 0)
    if (NAME_IS("content-length")) {
      int64_t v;
      if (parse_length(c, &v) < 0)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid Content-Length");
      if (cl >= 0 && v != cl)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "conflicting Content-Length values");
      cl = v;
    } else if (NAME_IS("transfer-encoding")) {
      te_seen = 1;
      each_token(c, te_token, &te);
    } else if (NAME_IS("connection")) {
      each_token(c, conn_token, &conn);
    } else if (NAME_IS("host")) {
      if (host_seen && p->kind == BERTH_HTTP_REQUEST)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "more than one Host header");
      host_seen = 1;
    } else if (NAME_IS("expect")) {
      if (ci_eq(c, "100-continue")) expect_continue = 1;
    }
  }
#undef NAME_IS
  p->head.headers = p->hdrs;
  p->head.n_headers = n;
  p->head.content_length = cl;
  if (p->head.version_minor >= 1)
    p->head.keep_alive = !conn.close;
  else
    p->head.keep_alive = conn.keep_alive && !conn.close;

  if (p->kind == BERTH_HTTP_REQUEST) {
    p->head.expect_continue = expect_continue && p->head.version_minor >= 1;
    if (te_seen) {
      if (cl >= 0)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "conflicting Content-Length and Transfer-Encoding");
      if (p->head.version_minor == 0)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "Transfer-Encoding in an HTTP/1.0 request");
      if (te.n == 0 || te.chunked_at != te.n - 1 || te.n_chunked != 1)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "Transfer-Encoding must end in a single chunked");
      if (te.unknown)
        return fail(p, BERTH_HTTP_E_NOT_IMPLEMENTED, "unsupported transfer coding");
      p->head.chunked = 1;
    }
    if (p->lim.max_body_bytes && cl > 0 && (uint64_t)cl > p->lim.max_body_bytes)
      return fail(p, BERTH_HTTP_E_BODY_TOO_LARGE, "request body larger than the limit");
    if (p->head.chunked) {
      p->state = S_CHUNK_SIZE;
    } else if (cl > 0) {
      p->remaining = (uint64_t)cl;
      p->state = S_BODY_LENGTH;
    } else {
      p->state = S_DONE; /* no body */
    }
    return 0;
  }

  /* Responses (RFC 9112 6.3). */
  int st = p->head.status;
  if (p->no_body_next || (st >= 100 && st < 200) || st == 204 || st == 304) {
    p->state = S_DONE;
  } else if (te_seen && te.n > 0 && te.chunked_at == te.n - 1) {
    p->head.chunked = 1;
    p->head.content_length = -1; /* TE overrides CL */
    p->state = S_CHUNK_SIZE;
  } else if (te_seen) {
    p->head.content_length = -1;
    p->head.keep_alive = 0;
    p->state = S_BODY_EOF;
  } else if (cl >= 0) {
    if (p->lim.max_body_bytes && (uint64_t)cl > p->lim.max_body_bytes)
      return fail(p, BERTH_HTTP_E_BODY_TOO_LARGE, "response body larger than the limit");
    p->remaining = (uint64_t)cl;
    p->state = cl > 0 ? S_BODY_LENGTH : S_DONE;
  } else {
    p->head.keep_alive = 0;
    p->state = S_BODY_EOF;
  }
  /* The no-body promise covers the final response, not interim ones. */
  if (!(st >= 100 && st < 200)) p->no_body_next = 0;
  return 0;
}

/* Runs on_complete; the caller returns the consumed count. */
static ssize_t complete(berth_http_parser *p) {
  p->state = S_DONE;
  if (p->cb.on_complete && p->cb.on_complete(p->ud) != 0)
    return fail(p, BERTH_HTTP_E_PAUSED, "stopped by callback");
  return 0;
}

static ssize_t deliver(berth_http_parser *p, const char *data, size_t n) {
  if (!n) return 0;
  int over = 0;
  if (p->lim.max_body_bytes && p->state == S_BODY_EOF) {
    /* Deliver exactly up to the limit, so the outcome does not depend on
     * how the input was split. */
    uint64_t room = p->lim.max_body_bytes - p->body_seen;
    if ((uint64_t)n > room) {
      n = (size_t)room;
      over = 1;
    }
    p->body_seen += n;
  }
  if (n && p->cb.on_body && p->cb.on_body(p->ud, data, n) != 0)
    return fail(p, BERTH_HTTP_E_PAUSED, "stopped by callback");
  if (over) return fail(p, BERTH_HTTP_E_BODY_TOO_LARGE, "response body larger than the limit");
  return 0;
}

/* A head byte that is neither a line end nor a control character. */
static int plain_head_byte(unsigned char c) {
  return (c >= 0x20 && c != 0x7f) || c == '\t';
}

/* Consumes head bytes from data; returns bytes used, or an error. Sets
 * *done when the head is complete. */
static ssize_t feed_head(berth_http_parser *p, const char *data, size_t len, int *done) {
  size_t i;
  for (i = 0; i < len; i++) {
    if (!p->prev_cr && p->head_seen < p->lim.max_head_bytes) {
      /* Fast path: a run of bytes the loop below would only copy (no CR,
       * LF or control character, within the size limit) goes in with one
       * append instead of one per byte. The byte that ends the run takes
       * the checks below, so errors are the same however input is split. */
      size_t room = p->lim.max_head_bytes - p->head_seen;
      size_t end = len - i < room ? len : i + room, j = i;
      while (j < end && plain_head_byte((unsigned char)data[j])) j++;
      if (j > i) {
        if (berth_buf_append(&p->head_buf, data + i, j - i) < 0)
          return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "message head too large");
        p->head_seen += j - i;
        i = j;
        if (i == len) break;
      }
    }
    unsigned char c = (unsigned char)data[i];
    if (p->head_seen >= p->lim.max_head_bytes)
      return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "message head too large");
    p->head_seen++;
    if (p->prev_cr) {
      if (c != '\n') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "bare CR in head");
      p->prev_cr = 0;
      if (berth_buf_append(&p->head_buf, "\n", 1) < 0)
        return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "message head too large");
      if (p->head_buf.len - p->line_start == 2) {
        if (p->line_start == 0) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "empty start line");
        *done = 1;
        return (ssize_t)(i + 1);
      }
      p->line_start = p->head_buf.len;
      continue;
    }
    if (c == '\r') {
      p->prev_cr = 1;
    } else if (c == '\n') {
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "bare LF in head");
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "control character in head");
    }
    if (berth_buf_append(&p->head_buf, &data[i], 1) < 0)
      return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "message head too large");
  }
  return (ssize_t)i;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

ssize_t berth_http_parser_execute(berth_http_parser *p, const char *data, size_t len) {
  if (p->state == S_ERROR) return p->err;
  if (p->state == S_DONE) reset_message(p);
  size_t i = 0;
  while (i < len) {
    unsigned char c = (unsigned char)data[i];
    switch (p->state) {
    case S_START:
      /* RFC 9112 2.2: ignore an empty line before the start line. */
      if (c == '\r') {
        p->head_seen++;
        p->state = S_START_LF;
        i++;
        continue;
      }
      p->state = S_HEAD;
      continue;
    case S_START_LF:
      if (c != '\n') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "bare CR before start line");
      p->head_seen++;
      if (p->head_seen >= p->lim.max_head_bytes)
        return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "message head too large");
      p->state = S_START;
      i++;
      continue;
    case S_HEAD: {
      int done = 0;
      ssize_t n = feed_head(p, data + i, len - i, &done);
      if (n < 0) return n;
      i += (size_t)n;
      if (!done) continue;
      ssize_t rc = parse_head(p);
      if (rc < 0) return rc;
      int next = p->state;
      if (p->cb.on_head && p->cb.on_head(p->ud, &p->head) != 0)
        return fail(p, BERTH_HTTP_E_PAUSED, "stopped by callback");
      if (next == S_DONE) {
        rc = complete(p);
        return rc < 0 ? rc : (ssize_t)i;
      }
      continue;
    }
    case S_BODY_LENGTH: {
      size_t n = len - i;
      if ((uint64_t)n > p->remaining) n = (size_t)p->remaining;
      p->remaining -= n;
      ssize_t rc = deliver(p, data + i, n);
      if (rc < 0) return rc;
      i += n;
      if (p->remaining == 0) {
        rc = complete(p);
        return rc < 0 ? rc : (ssize_t)i;
      }
      continue;
    }
    case S_BODY_EOF: {
      ssize_t rc = deliver(p, data + i, len - i);
      if (rc < 0) return rc;
      i = len;
      continue;
    }
    case S_CHUNK_SIZE: {
      int h = hexval(c);
      if (h >= 0) {
        if (p->remaining >= MAX_CHUNK_SIZE / 16)
          return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "chunk size too large");
        p->remaining = p->remaining * 16 + (uint64_t)h;
        p->chunk_digits++;
        i++;
        continue;
      }
      if (!p->chunk_digits) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid chunk size");
      if (c == ';') p->state = S_CHUNK_EXT;
      else if (is_ows((char)c)) p->state = S_CHUNK_WS;
      else if (c == '\r') p->state = S_CHUNK_SIZE_LF;
      else return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid chunk size");
      i++;
      continue;
    }
    case S_CHUNK_WS:
      if (++p->ext_seen > MAX_CHUNK_EXT)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "chunk extensions too long");
      if (c == ';') p->state = S_CHUNK_EXT;
      else if (!is_ows((char)c)) return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "invalid chunk size");
      i++;
      continue;
    case S_CHUNK_EXT:
      if (++p->ext_seen > MAX_CHUNK_EXT)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "chunk extensions too long");
      if (c == '\r') p->state = S_CHUNK_SIZE_LF;
      else if ((c < 0x20 && c != '\t') || c == 0x7f)
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "control character in chunk extension");
      i++;
      continue;
    case S_CHUNK_SIZE_LF:
      if (c != '\n') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "bare CR in chunk size line");
      i++;
      p->chunk_digits = 0;
      if (p->remaining == 0) {
        p->state = S_TRAILER;
        p->trailer_line_len = 0;
        continue;
      }
      if (p->lim.max_body_bytes &&
          (p->remaining > p->lim.max_body_bytes ||
           p->body_seen > p->lim.max_body_bytes - p->remaining))
        return fail(p, BERTH_HTTP_E_BODY_TOO_LARGE, "body larger than the limit");
      p->body_seen += p->remaining;
      p->state = S_CHUNK_DATA;
      continue;
    case S_CHUNK_DATA: {
      size_t n = len - i;
      if ((uint64_t)n > p->remaining) n = (size_t)p->remaining;
      p->remaining -= n;
      ssize_t rc = deliver(p, data + i, n);
      if (rc < 0) return rc;
      i += n;
      if (p->remaining == 0) p->state = S_CHUNK_DATA_CR;
      continue;
    }
    case S_CHUNK_DATA_CR:
      if (c != '\r') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "missing CRLF after chunk data");
      p->state = S_CHUNK_DATA_LF;
      i++;
      continue;
    case S_CHUNK_DATA_LF:
      if (c != '\n') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "missing CRLF after chunk data");
      p->state = S_CHUNK_SIZE;
      i++;
      continue;
    case S_TRAILER:
      /* Trailer fields are validated for framing and dropped: nothing in
       * Berth needs them and keeping them would be another buffer. */
      if (++p->ext_seen > MAX_CHUNK_EXT + p->lim.max_head_bytes)
        return fail(p, BERTH_HTTP_E_HEAD_TOO_LARGE, "trailer section too large");
      if (c == '\r') {
        p->state = S_TRAILER_LF;
      } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "control character in trailer");
      } else {
        if (p->trailer_line_len == 0 && is_ows((char)c))
          return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "obsolete line folding in trailer");
        p->trailer_line_len++;
      }
      i++;
      continue;
    case S_TRAILER_LF: {
      if (c != '\n') return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "bare CR in trailer");
      i++;
      if (p->trailer_line_len == 0) {
        ssize_t rc = complete(p);
        return rc < 0 ? rc : (ssize_t)i;
      }
      p->trailer_line_len = 0;
      p->state = S_TRAILER;
      continue;
    }
    case S_DONE:
      return (ssize_t)i;
    default:
      return fail(p, BERTH_HTTP_E_BAD_MESSAGE, "parser in a bad state");
    }
  }
  return (ssize_t)i;
}

int berth_http_parser_finish(berth_http_parser *p) {
  switch (p->state) {
  case S_DONE:
    return 0;
  case S_START:
  case S_START_LF:
    return 0;
  case S_BODY_EOF:
    return (int)complete(p);
  case S_ERROR:
    return p->err;
  default:
    return (int)fail(p, BERTH_HTTP_E_BAD_MESSAGE, "connection closed in the middle of a message");
  }
}

const char *berth_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 424: return "Failed Dependency";
  case 425: return "Too Early";
  case 426: return "Upgrade Required";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  case 530: return "Internal Dependency Failure";
  default: return "Unknown";
  }
}

ssize_t berth_http_pct_decode(const char *src, size_t len, char *out, size_t outsz) {
  if (!outsz) return -1;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%') {
      if (len - i < 3) return -1;
      int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = (unsigned char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return -1;
    if (o + 1 >= outsz) return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (ssize_t)o;
}
