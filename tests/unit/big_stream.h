/* big_stream: a handler's streamed answer of BIG_TOTAL bytes in BIG_PIECE
 * writes, pausing on -ENOBUFS until on_drain, for the unit tests of
 * backpressure (plain and TLS). Include after check.h. */
#ifndef BERTH_TEST_BIG_STREAM_H
#define BERTH_TEST_BIG_STREAM_H

#include <errno.h>

#include "berth/http_server.h"

#define BIG_TOTAL (8u << 20)
#define BIG_PIECE (256u << 10)
static char big_piece[BIG_PIECE];
static size_t big_sent;
static int enobufs_seen;

/* Set as req->on_drain too. */
static inline void big_pump(berth_http_req *req) {
  while (big_sent < BIG_TOTAL) {
    int rc = berth_http_stream_write(req, big_piece, BIG_PIECE);
    if (rc == -ENOBUFS) {
      enobufs_seen++;
      return; /* on_drain resumes */
    }
    CHECK_INT(rc, 0);
    if (rc) return;
    big_sent += BIG_PIECE;
  }
  req->on_drain = NULL;
  berth_http_stream_end(req);
}

#endif
