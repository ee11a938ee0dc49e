/* eventstream: encoding and decoding of AWS event stream messages. */
#include "berth/eventstream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

uint32_t berth_crc32(uint32_t crc, const void *data, size_t len) {
  /* Bitwise CRC-32 (IEEE) with a table built once; messages are small. */
  static uint32_t table[256];
  static int ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int berth_es_encode(berth_buf *out, const berth_es_header *headers, size_t n_headers,
                    const void *payload, size_t payload_len) {
  size_t hlen = 0;
  for (size_t i = 0; i < n_headers; i++) {
    size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
    if (nl > 255 || vl > 65535) return -EINVAL;
    hlen += 1 + nl + 1 + 2 + vl;
  }
  size_t total = 12 + hlen + payload_len + 4;
  if (total > 16u * 1024 * 1024) return -EINVAL;
  size_t start = out->len;
  unsigned char prelude[12];
  put32(prelude, (uint32_t)total);
  put32(prelude + 4, (uint32_t)hlen);
  put32(prelude + 8, berth_crc32(0, prelude, 8));
  int rc = berth_buf_append(out, prelude, 12);
  for (size_t i = 0; i < n_headers && !rc; i++) {
    unsigned char nl = (unsigned char)strlen(headers[i].name);
    size_t vl = strlen(headers[i].value);
    unsigned char ty[3] = {7, (unsigned char)(vl >> 8), (unsigned char)vl};
    rc = berth_buf_append(out, &nl, 1);
    if (!rc) rc = berth_buf_append(out, headers[i].name, nl);
    if (!rc) rc = berth_buf_append(out, ty, 3);
    if (!rc) rc = berth_buf_append(out, headers[i].value, vl);
  }
  if (!rc) rc = berth_buf_append(out, payload, payload_len);
  if (!rc) {
    unsigned char crc[4];
    put32(crc, berth_crc32(0, out->data + start, out->len - start));
    rc = berth_buf_append(out, crc, 4);
  }
  if (rc) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
  }
  return rc;
}

int berth_es_payload_part(berth_buf *out, const void *data, size_t len) {
  const berth_es_header h[] = {{":event-type", "PayloadPart"},
                               {":message-type", "event"},
                               {":content-type", "application/octet-stream"}};
  return berth_es_encode(out, h, 3, data, len);
}

int berth_es_exception(berth_buf *out, const char *exception_type, const char *message,
                       const char *error_code) {
  const berth_es_header h[] = {{":exception-type", exception_type},
                               {":message-type", "exception"},
                               {":content-type", "application/json"}};
  char payload[1024];
  /* message comes from Berth itself; no JSON escaping needed beyond quotes. */
  int n = snprintf(payload, sizeof payload, "{\"Message\":\"%s\",\"ErrorCode\":\"%s\"}", message,
                   error_code);
  if (n < 0 || (size_t)n >= sizeof payload) return -EINVAL;
  return berth_es_encode(out, h, 3, payload, (size_t)n);
}

long berth_es_decode(const void *data, size_t len, berth_es_message *msg,
                     void (*on_header)(void *ud, const char *name, size_t name_len,
                                       const char *value, size_t value_len),
                     void *ud) {
  const unsigned char *p = data;
  if (len < 12) return 0;
  uint32_t total = get32(p), hlen = get32(p + 4);
  if (get32(p + 8) != berth_crc32(0, p, 8)) return -EBADMSG;
  if (total < 16 || hlen > total - 16 || total > 16u * 1024 * 1024) return -EBADMSG;
  if (len < total) return 0;
  if (get32(p + total - 4) != berth_crc32(0, p, total - 4)) return -EBADMSG;
  size_t off = 12, hend = 12 + hlen;
  while (off < hend) {
    size_t nl = p[off++];
    if (off + nl + 1 > hend) return -EBADMSG;
    const char *name = (const char *)p + off;
    off += nl;
    unsigned char type = p[off++];
    size_t vl;
    switch (type) {
    case 0: case 1: vl = 0; break;              /* bool true/false */
    case 2: vl = 1; break;                      /* byte */
    case 3: vl = 2; break;                      /* short */
    case 4: vl = 4; break;                      /* int */
    case 5: case 8: vl = 8; break;              /* long, timestamp */
    case 9: vl = 16; break;                     /* uuid */
    case 6: case 7:                             /* bytes, string */
      if (off + 2 > hend) return -EBADMSG;
      vl = ((size_t)p[off] << 8) | p[off + 1];
      off += 2;
      break;
    default: return -EBADMSG;
    }
    if (off + vl > hend) return -EBADMSG;
    if (type == 7 && on_header) on_header(ud, name, nl, (const char *)p + off, vl);
    off += vl;
  }
  msg->payload = (const char *)p + hend;
  msg->payload_len = total - 16 - hlen;
  return (long)total;
}
