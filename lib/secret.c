/* secret: see secret.h. */
#include "berth/secret.h"

#include <string.h>

int berth_secret_equal(const char *expected, const char *given) {
  size_t n = strlen(expected), m = strlen(given);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(expected[i] ^ (i < m ? given[i] : 0));
  return diff == 0;
}
