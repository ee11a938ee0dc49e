/* transfer: see transfer.h. */
#include "transfer.h"

#include "berth/secret.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000
#define ERROR_BODY_MAX 4096
/* The SHA-256 of an empty body: every request here sends none. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct attempt {
  transfer *t;
  transfer_info *info;
  berth_buf *mem;               /* GET into memory */
  int fd;                       /* GET into a file, else -1 */
  int64_t pos;                  /* next byte of the file to write */
  int64_t start;                /* where this attempt's range starts */
  int overflow;                 /* mem's max was hit */
  int write_error;              /* errno of a failed file write */
  char body[ERROR_BODY_MAX + 1];/* an error answer's body */
  size_t body_len;
} attempt;

int transfer_init(transfer *t) {
  t->curl = curl_easy_init();
  if (!t->max_attempts) t->max_attempts = 6;
  return t->curl ? 0 : -1;
}

void transfer_cleanup(transfer *t) {
  if (t->curl) curl_easy_cleanup(t->curl);
  t->curl = NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int decode_entities(const char *s, size_t n, char *out, size_t outsz) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '&') {
      static const struct { const char *name; char c; } ents[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      int done = 0;
      for (size_t e = 0; e < sizeof ents / sizeof *ents && !done; e++) {
        size_t l = strlen(ents[e].name);
        if (i + l <= n && strncmp(s + i, ents[e].name, l) == 0) {
          c = ents[e].c;
          i += l - 1;
          done = 1;
        }
      }
      if (!done && i + 2 < n && s[i + 1] == '#') {
        char *end;
        int hex = s[i + 2] == 'x';
        long v = strtol(s + i + 2 + hex, &end, hex ? 16 : 10);
        if (*end == ';' && v > 0 && v < 128 && end < s + n) {
          c = (char)v;
          i = (size_t)(end - s);
        }
      }
    }
    if (k + 1 >= outsz) return -1;
    out[k++] = c;
  }
  out[k] = '\0';
  return 0;
}

int transfer_xml_text(const char *xml, const char **from, const char *tag, char *out,
                      size_t outsz) {
  char open[80], close[80];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *start = from && *from ? *from : xml;
  const char *a = strstr(start, open);
  if (!a) return -1;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b) return -1;
  if (from) *from = b + strlen(close);
  return decode_entities(a, (size_t)(b - a), out, outsz);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  attempt *a = ud;
  size_t len = size * n;
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* A new response (after a redirect or 100): forget the last one's. */
    a->info->etag[0] = a->info->last_modified[0] = '\0';
    a->info->length = -1;
    return len;
  }
  const char *colon = memchr(data, ':', len);
  if (!colon) return len;
  size_t kl = (size_t)(colon - data);
  const char *v = colon + 1;
  size_t vl = len - kl - 1;
  while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
  while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
  char val[256];
  if (vl >= sizeof val) return len;
  memcpy(val, v, vl);
  val[vl] = '\0';
  if (kl == 4 && strncasecmp(data, "etag", 4) == 0)
    snprintf(a->info->etag, sizeof a->info->etag, "%s", val);
  else if (kl == 13 && strncasecmp(data, "last-modified", 13) == 0)
    snprintf(a->info->last_modified, sizeof a->info->last_modified, "%.79s", val);
  else if (kl == 14 && strncasecmp(data, "content-length", 14) == 0)
    a->info->length = strtoll(val, NULL, 10);
  return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  attempt *a = ud;
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(a->t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) {
    size_t room = ERROR_BODY_MAX - a->body_len;
    size_t k = len < room ? len : room;
    memcpy(a->body + a->body_len, data, k);
    a->body_len += k;
    a->body[a->body_len] = '\0';
    return len;
  }
  if (a->mem) {
    if (berth_buf_append(a->mem, data, len)) {
      a->overflow = 1;
      return 0;
    }
    return len;
  }
  if (a->fd < 0) return len;
  if (status == 200 && a->start > 0) {
    /* The server ignored the range and sends the whole object again. */
    if (ftruncate(a->fd, 0) != 0) {
      a->write_error = errno;
      return 0;
    }
    a->pos = a->start = 0;
    a->t->done = 0;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = pwrite(a->fd, data + off, len - off, (off_t)a->pos);
    if (w < 0) {
      if (errno == EINTR) continue;
      a->write_error = errno;
      return 0;
    }
    off += (size_t)w;
    a->pos += w;
  }
  a->t->done = (uint64_t)a->pos;
  if (a->t->on_progress) a->t->on_progress(a->t);
  return len;
}

static int transient_status(long s) {
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static int transient_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return 1;
  default:
    return 0;
  }
}

/* One request. Returns the curl code; the status is in a->info. */
static CURLcode perform(attempt *a, const char *method, const char *url, const char *range,
                        const char *if_match) {
  transfer *t = a->t;
  CURL *c = t->curl;
  curl_easy_reset(c);
  a->info->status = 0;
  a->info->length = -1;
  a->body_len = 0;
  a->body[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  /* A connection that stalls (under 1 byte/s for 30 s) is retried from
   * the byte reached instead of waiting for the deadline. */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "berthd-artifact-fetch");
  if (t->ca_file) {
    /* The extra CA as the bundle, the system's through its hashed
     * directory, so both are trusted. */
    curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
    curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  struct curl_slist *h = NULL;
  char line[2200];
  if (range) {
    snprintf(line, sizeof line, "Range: %s", range);
    h = curl_slist_append(h, line);
  }
  if (if_match && *if_match) {
    snprintf(line, sizeof line, "If-Match: %s", if_match);
    h = curl_slist_append(h, line);
  }
  char sigv4[128];
  if (t->creds) {
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", t->region);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, t->creds->access_key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, t->creds->secret_access_key);
    h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
    if (t->creds->session_token[0]) {
      snprintf(line, sizeof line, "x-amz-security-token: %s", t->creds->session_token);
      h = curl_slist_append(h, line);
    }
  } else {
    /* Plain HTTP(S) may redirect; a signed request would not survive it. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->info->status);
  t->status = a->info->status;
  curl_slist_free_all(h);
  berth_secret_wipe(line, sizeof line);
  return rc;
}

/* t->error for a failed request. */
static void explain(attempt *a, const char *method, const char *url, CURLcode rc, int tries) {
  transfer *t = a->t;
  char again[64] = "";
  if (tries > 1) snprintf(again, sizeof again, " (after %d attempts)", tries);
  if (a->write_error) {
    snprintf(t->error, sizeof t->error, "cannot write what %s %s returned: %s", method, url,
             strerror(a->write_error));
  } else if (a->overflow) {
    snprintf(t->error, sizeof t->error, "%s %s returned more than %zu bytes, more than Berth "
             "reads", method, url, a->mem->max);
  } else if (rc != CURLE_OK) {
    snprintf(t->error, sizeof t->error, "%s %s failed%s: %s", method, url, again,
             curl_easy_strerror(rc));
  } else {
    char code[128] = "", msg[1024] = "";
    transfer_xml_text(a->body, NULL, "Code", code, sizeof code);
    transfer_xml_text(a->body, NULL, "Message", msg, sizeof msg);
    if (code[0])
      snprintf(t->error, sizeof t->error, "%s %s answered %ld%s: %s: %s", method, url,
               a->info->status, again, code, msg);
    else
      snprintf(t->error, sizeof t->error, "%s %s answered %ld%s", method, url, a->info->status,
               again);
  }
}

static long backoff(int tries) {
  long ms = BACKOFF_FIRST_MS;
  for (int i = 1; i < tries && ms < BACKOFF_MAX_MS; i++) ms *= 2;
  return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* HEAD or GET (into a->mem) with retries. 0 on 2xx, 1 on another final
 * status, -1 otherwise. */
static int simple(attempt *a, const char *method, const char *url) {
  for (int tries = 1;; tries++) {
    if (a->mem) berth_buf_reset(a->mem);
    a->overflow = 0;
    CURLcode rc = perform(a, method, url, NULL, NULL);
    long s = a->info->status;
    if (rc == CURLE_OK && s >= 200 && s < 300) return 0;
    int again = rc == CURLE_OK ? transient_status(s) : transient_curl(rc);
    if (!again || tries >= a->t->max_attempts) {
      explain(a, method, url, rc, tries);
      return rc == CURLE_OK ? 1 : -1;
    }
    sleep_ms(backoff(tries));
  }
}

int transfer_head(transfer *t, const char *url, transfer_info *info) {
  attempt a = {.t = t, .info = info, .fd = -1};
  return simple(&a, "HEAD", url);
}

int transfer_get(transfer *t, const char *url, berth_buf *out, transfer_info *info) {
  attempt a = {.t = t, .info = info, .fd = -1, .mem = out};
  return simple(&a, "GET", url) == 0 ? 0 : -1;
}

int transfer_get_file(transfer *t, const char *url, const char *path, const char *etag,
                      int64_t size, transfer_info *info) {
  attempt a = {.t = t, .info = info};
  a.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (a.fd < 0) {
    snprintf(t->error, sizeof t->error, "cannot create %s to download %s into: %s", path, url,
             strerror(errno));
    return -1;
  }
  char tag[256] = "";
  if (etag) snprintf(tag, sizeof tag, "%s", etag);
  t->done = 0;
  t->total = size > 0 ? (uint64_t)size : 0;
  int rc = -1, fails = 0;
  for (;;) {
    char range[96];
    const char *r = NULL;
    if (size > 0) {
      int64_t last = a.pos + TRANSFER_PIECE < size ? a.pos + TRANSFER_PIECE - 1 : size - 1;
      snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)a.pos, (long long)last);
      r = range;
    } else if (a.pos > 0) {
      snprintf(range, sizeof range, "bytes=%lld-", (long long)a.pos);
      r = range;
    }
    a.start = a.pos;
    int64_t before = a.pos;
    a.write_error = 0;
    CURLcode cc = perform(&a, "GET", url, r, tag[0] ? tag : NULL);
    long s = info->status;
    if (!tag[0] && info->etag[0]) snprintf(tag, sizeof tag, "%s", info->etag);
    if (cc == CURLE_OK && (s == 200 || s == 206)) {
      if (size <= 0 || a.pos >= size) {
        rc = 0;
        break;
      }
      if (s == 206 && a.pos > before) {
        fails = 0;
        continue; /* the next piece */
      }
      /* A piece that added nothing, or a whole body (200) shorter than
       * the size HEAD gave: asking the same way again may not help, so
       * this counts as a failed attempt, not as progress. */
      if (++fails >= t->max_attempts) {
        snprintf(t->error, sizeof t->error, "GET %s: the server sent %lld of %lld bytes (the "
                 "size its HEAD gave) and no more after %d attempts", url, (long long)a.pos,
                 (long long)size, fails);
        break;
      }
      sleep_ms(backoff(fails));
      continue;
    }
    if (s == 412) {
      snprintf(t->error, sizeof t->error, "GET %s answered 412: the object changed while it "
               "was downloaded (its ETag is no longer %s); start the copy again to get the new "
               "version", url, tag);
      break;
    }
    if (a.pos > before) fails = 0; /* progress: a new run of attempts */
    fails++;
    int again = a.write_error ? 0 : cc == CURLE_OK ? transient_status(s) : transient_curl(cc);
    if (!again || fails >= t->max_attempts) {
      explain(&a, "GET", url, cc, fails);
      break;
    }
    if (a.pos > 0 && !tag[0]) {
      /* Without an ETag a resumed piece could be of another version. */
      if (ftruncate(a.fd, 0) != 0) {
        snprintf(t->error, sizeof t->error, "cannot truncate %s: %s", path, strerror(errno));
        break;
      }
      a.pos = 0;
    }
    sleep_ms(backoff(fails));
  }
  close(a.fd);
  return rc;
}
