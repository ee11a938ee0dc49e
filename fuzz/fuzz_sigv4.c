/* fuzz_sigv4: the Authorization header parser and the canonical request.
 * Input: line 1 the Authorization header, line 2 the path, line 3 the
 * query, then one "name:value" header per line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *lines[40];
  size_t n = 0;
  for (char *p = text, *save = NULL, *t; n < 40 && (t = strtok_r(p, "\n", &save)); p = NULL)
    lines[n++] = t;
  if (n >= 3) {
    berth_sigv4_auth a;
    char err[256];
    const char *signed_headers = "host;x-amz-date";
    if (berth_sigv4_parse(lines[0], &a, err, sizeof err) == 0) signed_headers = a.signed_headers;
    berth_http_header h[37];
    size_t nh = 0;
    for (size_t i = 3; i < n; i++) {
      char *colon = strchr(lines[i], ':');
      if (!colon) continue;
      *colon = '\0';
      h[nh++] = (berth_http_header){lines[i], colon + 1};
    }
    berth_buf creq;
    berth_buf_init(&creq, 1 << 20);
    if (berth_sigv4_canonical(&creq, "POST", lines[1], lines[2], h, nh, signed_headers,
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                              0) == 0) {
      char sig[65];
      berth_sigv4_sign("secret", "20261125", "us-east-1", "sagemaker", "20261125T034051Z",
                       creq.data ? creq.data : "", creq.len, sig);
    }
    berth_buf_free(&creq);
  }
  free(text);
  return 0;
}
