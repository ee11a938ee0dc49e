/* eventstream: the AWS event stream framing (application/vnd.amazon.eventstream)
 * used by InvokeEndpointWithResponseStream. A message is: total length (u32
 * BE), headers length (u32 BE), CRC32 of those 8 bytes, headers, payload,
 * CRC32 of everything before. Only string headers (type 7) are written. */
#ifndef BERTH_EVENTSTREAM_H
#define BERTH_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "berth/buf.h"

typedef struct berth_es_header {
  const char *name;
  const char *value;
} berth_es_header;

uint32_t berth_crc32(uint32_t crc, const void *data, size_t len);

/* Appends one message to out. Returns 0 or -ENOBUFS / -EINVAL (a header
 * name over 255 bytes or value over 65535). */
int berth_es_encode(berth_buf *out, const berth_es_header *headers, size_t n_headers,
                    const void *payload, size_t payload_len);
/* A PayloadPart event carrying bytes of the model's answer. */
int berth_es_payload_part(berth_buf *out, const void *data, size_t len);
/* A mid-stream error: exception_type is "ModelStreamError" or
 * "InternalStreamFailure"; error_code e.g. "StreamBroken". */
int berth_es_exception(berth_buf *out, const char *exception_type, const char *message,
                       const char *error_code);

/* Decodes one message from data. Returns the bytes it spans, 0 when more
 * bytes are needed, or -EBADMSG (bad length or CRC). Headers are reported
 * through on_header (string headers only; others skipped); payload points
 * into data. */
typedef struct berth_es_message {
  const char *payload;
  size_t payload_len;
} berth_es_message;
long berth_es_decode(const void *data, size_t len, berth_es_message *msg,
                     void (*on_header)(void *ud, const char *name, size_t name_len,
                                       const char *value, size_t value_len),
                     void *ud);

#endif
