/* iam: see iam.h. */
#include "berth/iam.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int same(char a, char b, int fold_case) {
  if (fold_case) return tolower((unsigned char)a) == tolower((unsigned char)b);
  return a == b;
}

int berth_iam_match(const char *pattern, const char *s, int fold_case) {
  /* Greedy with one backtrack point (the last '*'): linear in practice,
   * never exponential, whatever the pattern. */
  const char *p = pattern, *star = NULL, *resume = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p && (*p == '?' || same(*p, *s, fold_case))) {
      p++;
      s++;
    } else if (star) {
      p = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*p == '*') p++;
  return *p == '\0';
}

int berth_iam_action_valid(const char *text, char *err, size_t errsz) {
  if (strcmp(text, "*") == 0) return 0;
  const char *colon = strchr(text, ':');
  if (!colon || colon == text || !colon[1]) {
    snprintf(err, errsz, "action '%.200s' must be service:Operation (sagemaker:InvokeEndpoint, "
             "sagemaker:Describe*, application-autoscaling:*) or *", text);
    return -1;
  }
  for (const char *q = text; q < colon; q++)
    if (!(islower((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '-' || *q == '*')) {
      snprintf(err, errsz, "action '%.200s': the service part may hold only lower-case letters, "
               "digits, '-' and '*'", text);
      return -1;
    }
  for (const char *q = colon + 1; *q; q++)
    if (!(isalnum((unsigned char)*q) || *q == '*' || *q == '?')) {
      snprintf(err, errsz, "action '%.200s': the operation part may hold only letters, digits, "
               "'*' and '?'", text);
      return -1;
    }
  return 0;
}

int berth_iam_resource_valid(const char *text, char *err, size_t errsz) {
  if (strcmp(text, "*") == 0 || strncmp(text, "arn:", 4) == 0) {
    for (const char *q = text; *q; q++)
      if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e) {
        snprintf(err, errsz, "resource '%.200s' holds a space or a control character", text);
        return -1;
      }
    return 0;
  }
  snprintf(err, errsz, "resource '%.200s' must be * or an ARN pattern such as "
           "arn:aws:sagemaker:*:*:endpoint/demo", text);
  return -1;
}
