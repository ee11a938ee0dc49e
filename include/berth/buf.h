/* buf: a growable byte buffer with a hard maximum.
 *
 * Every buffer whose size a peer can influence is a berth_buf with a limit;
 * appending past the limit fails with -ENOBUFS and leaves the buffer as it
 * was. Internal allocation failure aborts (see STYLE.md). */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef struct berth_buf {
  char *data;    /* NUL-terminated when len < cap; never NULL after first append */
  size_t len;
  size_t cap;
  size_t max;    /* 0 means no limit: only for sizes the program controls */
} berth_buf;

void berth_buf_init(berth_buf *b, size_t max);
void berth_buf_free(berth_buf *b);
void berth_buf_reset(berth_buf *b);
/* Returns 0 or -ENOBUFS when len + n would exceed max. */
int berth_buf_append(berth_buf *b, const void *data, size_t n);
int berth_buf_appends(berth_buf *b, const char *s);
/* n in decimal: what printf's %llu would write, without printf's cost on a
 * per-request path. */
int berth_buf_append_u64(berth_buf *b, uint64_t n);
int berth_buf_printf(berth_buf *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void berth_buf_consume(berth_buf *b, size_t n);
/* Takes ownership of the data (caller frees); buffer becomes empty. */
char *berth_buf_steal(berth_buf *b, size_t *len);

/* Allocation helpers that abort on out-of-memory. */
void *berth_xmalloc(size_t n);
void *berth_xcalloc(size_t n, size_t size);
void *berth_xrealloc(void *p, size_t n);
char *berth_xstrdup(const char *s);
char *berth_xstrndup(const char *s, size_t n);

#endif
