/* Unit tests for berth_http_call_delivered (lib/http_client.c): whether a
 * failed request may have reached the server, which decides whether the
 * router may send it to another copy. Real sockets on loopback, one loop.
 *
 *   refused                   -> not delivered
 *   closed with it unread     -> a reset: not delivered
 *   read whole, then closed   -> a FIN after acknowledging it: delivered
 *   read, answered in part    -> delivered */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "berth/buf.h"
#include "berth/http_client.h"
#include "check.h"
#include "loop_wait.h"

/* ---- a server that misbehaves in one of three ways ---- */

enum { CLOSE_UNREAD, CLOSE_AFTER_READ, CUT_ANSWER };

typedef struct peer {
  uv_tcp_t tcp;
  uv_check_t check;      /* CLOSE_UNREAD: closes once the request sits unread */
  uv_write_t w;
  berth_buf in;
  int open_handles;
} peer;

static uv_tcp_t listener;
static int mode;
static int peers_gone;

static void peer_closed(uv_handle_t *h) {
  peer *p = h->data;
  if (--p->open_handles) return;
  berth_buf_free(&p->in);
  free(p);
  peers_gone++;
}

static void peer_close(peer *p) {
  if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, peer_closed);
  if (mode == CLOSE_UNREAD && !uv_is_closing((uv_handle_t *)&p->check))
    uv_close((uv_handle_t *)&p->check, peer_closed);
}

/* Each loop turn: once request bytes wait unread in the socket, close it
 * without reading them (the kernel then resets the connection). */
static void on_check(uv_check_t *c) {
  peer *p = c->data;
  uv_os_fd_t fd;
  int unread = 0;
  if (uv_fileno((uv_handle_t *)&p->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &unread) == 0 &&
      unread > 0)
    peer_close(p);
}

static void peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = berth_xmalloc(n);
  b->len = n;
}

static void peer_written(uv_write_t *w, int status) {
  (void)status;
  peer_close(w->data);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  peer *p = s->data;
  if (n > 0) berth_buf_append(&p->in, b->base, (size_t)n);
  free(b->base);
  if (n < 0) {
    peer_close(p);
    return;
  }
  /* The whole request: its head and the 5-byte body. */
  const char *end = p->in.data ? strstr(p->in.data, "\r\n\r\n") : NULL;
  if (!end || p->in.len < (size_t)(end - p->in.data) + 4 + 5) return;
  uv_read_stop(s);
  if (mode == CLOSE_AFTER_READ) {
    peer_close(p);
    return;
  }
  static char part[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some";
  uv_buf_t ob = uv_buf_init(part, sizeof part - 1);
  p->w.data = p;
  uv_write(&p->w, s, &ob, 1, peer_written);
}

static void on_peer(uv_stream_t *ls, int status) {
  if (status < 0) return;
  peer *p = berth_xcalloc(1, sizeof *p);
  berth_buf_init(&p->in, 0);
  uv_tcp_init(&loop, &p->tcp);
  p->tcp.data = p;
  p->open_handles = 1;
  if (uv_accept(ls, (uv_stream_t *)&p->tcp) != 0) {
    peer_close(p);
    return;
  }
  if (mode == CLOSE_UNREAD) {
    uv_check_init(&loop, &p->check);
    p->check.data = p;
    p->open_handles++;
    uv_check_start(&p->check, on_check);
  } else {
    uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
  }
}

static int listener_closed;
static void on_listener_closed(uv_handle_t *h) {
  (void)h;
  listener_closed = 1;
}

/* ---- one call ---- */

typedef struct result {
  int done;
  int status;
  int delivered;
} result;

static void r_done(berth_http_call *c, int status, void *ud) {
  result *r = ud;
  r->done = 1;
  r->status = status;
  r->delivered = berth_http_call_delivered(c);
}
static const berth_http_call_cb rcb = {NULL, NULL, r_done};

static result post(berth_http_client *cl, int port) {
  result r = {0};
  berth_http_request_opts o = {.host = "127.0.0.1", .port = port, .method = "POST",
                               .target = "/invocations", .body = "hello", .body_len = 5,
                               .timeout_ms = 2000};
  CHECK_INT(berth_http_request(cl, &o, &rcb, &r, NULL), 0);
  CHECK(WAIT(r.done, 3000));
  return r;
}

int main(void) {
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  berth_http_client *cl = berth_http_client_new(&loop, 4);

  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&loop, &listener);
  CHECK_INT(uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0), 0);
  CHECK_INT(uv_listen((uv_stream_t *)&listener, 16, on_peer), 0);
  struct sockaddr_storage sa;
  int len = sizeof sa;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&sa, &len);
  int port = ntohs(((struct sockaddr_in *)&sa)->sin_port);

  /* Closed with the request unread: reset, never reached the server. */
  mode = CLOSE_UNREAD;
  result r = post(cl, port);
  CHECK_INT(r.status, UV_ECONNRESET);
  CHECK_INT(r.delivered, 0);
  CHECK(WAIT(peers_gone == 1, 2000));

  /* Read whole, then closed without an answer: it may have acted on it. */
  mode = CLOSE_AFTER_READ;
  r = post(cl, port);
  CHECK(r.status != 0);
  CHECK_INT(r.delivered, 1);
  CHECK(WAIT(peers_gone == 2, 2000));

  /* Answered in part, then closed. */
  mode = CUT_ANSWER;
  r = post(cl, port);
  CHECK(r.status != 0);
  CHECK_INT(r.delivered, 1);
  CHECK(WAIT(peers_gone == 3, 2000));

  /* Refused: the listener is gone. */
  uv_close((uv_handle_t *)&listener, on_listener_closed);
  CHECK(WAIT(listener_closed, 1000));
  r = post(cl, port);
  CHECK_INT(r.status, UV_ECONNREFUSED);
  CHECK_INT(r.delivered, 0);

  berth_http_client_free(cl);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  CHECK_DONE();
}
