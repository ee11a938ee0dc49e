/* aws_credentials: see aws_credentials.h. */
#include "berth/aws_credentials.h"
#include "berth/secret.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  size_t k = 0;
  while (isspace((unsigned char)s[k])) k++;
  memmove(s, s + k, strlen(s + k) + 1);
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

void berth_aws_region(char *out, size_t outsz) {
  const char *region = env("AWS_REGION");
  if (!region) region = env("AWS_DEFAULT_REGION");
  snprintf(out, outsz, "%s", region ? region : "us-east-1");
}

int berth_aws_profile_read(const char *path, const char *profile, berth_aws_credentials *out) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  char line[2200];
  int in = 0, found = 0;
  berth_aws_credentials got = {0};
  while (fgets(line, sizeof line, f)) {
    trim(line);
    if (line[0] == '#' || line[0] == ';' || !line[0]) continue;
    if (line[0] == '[') {
      char *end = strchr(line, ']');
      if (end) *end = '\0';
      char *name = line + 1;
      trim(name);
      if (strncmp(name, "profile ", 8) == 0) name += 8;
      trim(name);
      in = strcmp(name, profile) == 0;
      continue;
    }
    char *eq = strchr(line, '=');
    if (!in || !eq) continue;
    *eq = '\0';
    char *k = line, *v = eq + 1;
    trim(k);
    trim(v);
    if (strcmp(k, "aws_access_key_id") == 0)
      snprintf(got.access_key_id, sizeof got.access_key_id, "%s", v);
    else if (strcmp(k, "aws_secret_access_key") == 0)
      snprintf(got.secret_access_key, sizeof got.secret_access_key, "%s", v);
    else if (strcmp(k, "aws_session_token") == 0)
      snprintf(got.session_token, sizeof got.session_token, "%s", v);
  }
  fclose(f);
  berth_secret_wipe(line, sizeof line);
  if (got.access_key_id[0] && got.secret_access_key[0]) {
    *out = got;
    found = 1;
  }
  berth_aws_credentials_wipe(&got);
  return found;
}

int berth_aws_credentials_load(berth_aws_credentials *out, char *err, size_t errsz) {
  const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", id);
    snprintf(out->secret_access_key, sizeof out->secret_access_key, "%s", secret);
    snprintf(out->session_token, sizeof out->session_token, "%s",
             env("AWS_SESSION_TOKEN") ? env("AWS_SESSION_TOKEN") : "");
    return 0;
  }
  const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
  char shared[1100];
  if (env("AWS_SHARED_CREDENTIALS_FILE"))
    snprintf(shared, sizeof shared, "%s", env("AWS_SHARED_CREDENTIALS_FILE"));
  else
    snprintf(shared, sizeof shared, "%s/.aws/credentials", env("HOME") ? env("HOME") : "");
  int found = berth_aws_profile_read(shared, profile, out);
  if (found == 1) return 0;
  if (found < 0)
    snprintf(err, errsz, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and the "
             "shared credentials file %s cannot be read", shared);
  else
    snprintf(err, errsz, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and %s has "
             "no profile [%s] with aws_access_key_id and aws_secret_access_key", shared, profile);
  return -1;
}

void berth_aws_credentials_wipe(berth_aws_credentials *c) {
  berth_secret_wipe(c, sizeof *c);
}
