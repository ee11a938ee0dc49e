/* http_head: the response head writer shared by http_server and its
 * benchmark (bench/http_hot.c). Private to lib/. */
#ifndef BERTH_HTTP_HEAD_H
#define BERTH_HTTP_HEAD_H

#include <stddef.h>

#include "berth/buf.h"
#include "berth/http.h"

/* Appends "HTTP/1.1 STATUS REASON", the Date line (date: an IMF-fixdate),
 * each header that is safe (no CR, LF or NUL splitting the response) and
 * not one the server writes itself, then conn_line verbatim (NULL: none,
 * else e.g. "Connection: close\r\n"). The caller appends the framing
 * header and the empty line. */
void berth__http_response_head(berth_buf *h, int status, const char *date,
                               const berth_http_header *headers, size_t n_headers,
                               const char *conn_line);

#endif
