/* exec_hook: see berth/exec_hook.h. */
#include "berth/exec_hook.h"

#include <string.h>

#define REDACT_MIN 8 /* a shorter secret would cut ordinary words */

void berth_exec_redact(char *s, const char *secret, const char *mark) {
  size_t n = strlen(secret), m = strlen(mark);
  if (n < REDACT_MIN || m >= n) return;
  char *at = s;
  while ((at = strstr(at, secret)) != NULL) { /* it only shrinks */
    memcpy(at, mark, m);
    memmove(at + m, at + n, strlen(at + n) + 1);
    at += m;
  }
  size_t len = strlen(s);
  for (size_t k = n - 1; k >= REDACT_MIN; k--)
    if (len >= k && memcmp(s + len - k, secret, k) == 0) {
      s[len - k] = '\0';
      break;
    }
}

int berth_exec_instance_id(const char *out, char *id, size_t idsz) {
  int found = 0;
  for (const char *line = out; line && *line;) {
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    const char *end = p;
    while (*end && *end != '\n') end++;
    if (strncmp(p, "instance-id=", 12) == 0 && p + 12 <= end) {
      const char *v = p + 12, *e = end;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
      size_t n = (size_t)(e - v);
      if (n > 0 && n < idsz) {
        memcpy(id, v, n);
        id[n] = '\0';
        found = 1;
      }
    }
    line = *end ? end + 1 : NULL;
  }
  return found;
}

void berth_exec_one_line(const char *s, char *out, size_t outsz) {
  size_t k = 0;
  for (; *s; s++) {
    if (*s == '\r') continue;
    if (*s == '\n') {
      if (!s[1] || k == 0) continue; /* none at the ends */
      if (k + 3 >= outsz) break;
      memcpy(out + k, " | ", 3);
      k += 3;
      continue;
    }
    if (k + 1 >= outsz) break;
    out[k++] = (unsigned char)*s < 0x20 ? '?' : *s;
  }
  out[k] = '\0';
}

double berth_exec_backoff_s(int failures, double min_s, double max_s) {
  if (failures <= 0) return 0;
  double wait = min_s;
  for (int i = 1; i < failures && wait < max_s; i++) wait *= 2;
  return wait > max_s ? max_s : wait;
}
