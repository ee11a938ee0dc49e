/* raw_client: a bare TCP client on a libuv loop for unit tests that send
 * bytes no HTTP (or TLS) client would. The caller waits on connected and
 * closed with its own loop runner. */
#ifndef BERTH_TEST_RAW_CLIENT_H
#define BERTH_TEST_RAW_CLIENT_H

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "berth/buf.h"

typedef struct raw {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  berth_buf in;               /* everything the server sent */
  int connected, eof, closed; /* connected: 1, or -1 on failure */
  char out[4096];
} raw;

static inline void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  (void)h;
  b->base = malloc(s);
  b->len = s;
}
static inline void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  raw *r = s->data;
  if (n > 0) berth_buf_append(&r->in, b->base, (size_t)n);
  if (n < 0) r->eof = 1;
  free(b->base);
}
static inline void raw_connected(uv_connect_t *c, int status) {
  raw *r = c->data;
  r->connected = status == 0 ? 1 : -1;
  if (status == 0) uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}
static inline void raw_written(uv_write_t *w, int status) {
  (void)w;
  (void)status;
}
static inline void raw_closed(uv_handle_t *h) {
  ((raw *)h->data)->closed = 1;
}
/* Starts connecting to 127.0.0.1:port; wait for r->connected. */
static inline void raw_start(raw *r, uv_loop_t *lp, int port) {
  memset(r, 0, sizeof *r);
  berth_buf_init(&r->in, 0);
  uv_tcp_init(lp, &r->tcp);
  r->tcp.data = r;
  r->creq.data = r;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a, raw_connected);
}
/* Sends n bytes (at most sizeof out, one write at a time). */
static inline void raw_send(raw *r, const void *s, size_t n) {
  if (n > sizeof r->out) n = sizeof r->out;
  memcpy(r->out, s, n);
  uv_buf_t b = uv_buf_init(r->out, (unsigned)n);
  uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
}
/* Starts closing; wait for r->closed, then berth_buf_free(&r->in). */
static inline void raw_end(raw *r) {
  uv_close((uv_handle_t *)&r->tcp, raw_closed);
}

#endif
