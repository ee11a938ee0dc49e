/* Event stream framing: the known PayloadPart("hi") bytes from protocol.md,
 * round trips, and rejection of corrupted messages. */
#include <errno.h>
#include <stdlib.h>

#include "berth/eventstream.h"
#include "check.h"

typedef struct seen {
  char names[8][32];
  char values[8][64];
  int n;
} seen;

static void on_header(void *ud, const char *name, size_t nl, const char *value, size_t vl) {
  seen *s = ud;
  if (s->n >= 8) return;
  snprintf(s->names[s->n], sizeof s->names[0], "%.*s", (int)nl, name);
  snprintf(s->values[s->n], sizeof s->values[0], "%.*s", (int)vl, value);
  s->n++;
}

int main(void) {
  CHECK_INT(berth_crc32(0, "123456789", 9), 0xCBF43926u);

  berth_buf b;
  berth_buf_init(&b, 1 << 20);
  CHECK_INT(berth_es_payload_part(&b, "hi", 2), 0);
  CHECK_INT(b.len, 107);
  const unsigned char *end = (const unsigned char *)b.data + b.len - 4;
  CHECK_INT(end[0], 0xfa);
  CHECK_INT(end[1], 0xe8);
  CHECK_INT(end[2], 0x55);
  CHECK_INT(end[3], 0x45);

  berth_es_message m;
  seen s = {0};
  CHECK_INT(berth_es_decode(b.data, b.len, &m, on_header, &s), 107);
  CHECK_MEM(m.payload, m.payload_len, "hi", 2);
  CHECK_INT(s.n, 3);
  CHECK_STR(s.names[0], ":event-type");
  CHECK_STR(s.values[0], "PayloadPart");

  /* Incomplete input asks for more; any flipped byte is caught by a CRC. */
  CHECK_INT(berth_es_decode(b.data, 50, &m, NULL, NULL), 0);
  for (size_t i = 0; i < b.len; i++) {
    b.data[i] ^= 0x40;
    long r = berth_es_decode(b.data, b.len, &m, NULL, NULL);
    CHECK(r == -EBADMSG || r == 0);
    b.data[i] ^= 0x40;
  }

  berth_buf_reset(&b);
  CHECK_INT(berth_es_exception(&b, "ModelStreamError", "model went away", "StreamBroken"), 0);
  s.n = 0;
  CHECK(berth_es_decode(b.data, b.len, &m, on_header, &s) > 0);
  CHECK_STR(s.values[0], "ModelStreamError");
  CHECK_STR(s.values[1], "exception");
  berth_buf_free(&b);
  CHECK_DONE();
}
