/* Fuzzes the event stream decoder: any bytes, decoded message by message. */
#include <stddef.h>
#include <stdint.h>

#include "berth/eventstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_header(void *ud, const char *name, size_t nl, const char *value, size_t vl) {
  size_t *sum = ud;
  *sum += nl + vl + (nl ? (unsigned char)name[0] : 0) + (vl ? (unsigned char)value[0] : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0, sum = 0;
  while (off < size) {
    berth_es_message m;
    long n = berth_es_decode(data + off, size - off, &m, on_header, &sum);
    if (n <= 0) break;
    if (m.payload_len) sum += (unsigned char)m.payload[m.payload_len - 1];
    off += (size_t)n;
  }
  return 0;
}
