/* credentials: see credentials.h. */
#include "credentials.h"

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

/* Reads aws_access_key_id/aws_secret_access_key of [profile] from an INI
 * file. 1 when both were found, 0 when not, -1 when the file is absent. */
static int read_profile(const char *path, const char *profile, berth_cli *cli) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  char line[1024];
  int in = 0, found = 0;
  char id[129] = "", secret[129] = "";
  while (fgets(line, sizeof line, f)) {
    trim(line);
    if (line[0] == '#' || line[0] == ';' || !line[0]) continue;
    if (line[0] == '[') {
      char *end = strchr(line, ']');
      if (end) *end = '\0';
      char *name = line + 1;
      trim(name);
      if (strncmp(name, "profile ", 8) == 0) name += 8;
      in = strcmp(name, profile) == 0;
      continue;
    }
    char *eq = strchr(line, '=');
    if (!in || !eq) continue;
    *eq = '\0';
    char *k = line, *v = eq + 1;
    trim(k);
    trim(v);
    if (strcmp(k, "aws_access_key_id") == 0) snprintf(id, sizeof id, "%s", v);
    else if (strcmp(k, "aws_secret_access_key") == 0) snprintf(secret, sizeof secret, "%s", v);
  }
  fclose(f);
  if (id[0] && secret[0]) {
    snprintf(cli->access_key_id, sizeof cli->access_key_id, "%s", id);
    snprintf(cli->secret_access_key, sizeof cli->secret_access_key, "%s", secret);
    found = 1;
  }
  memset(secret, 0, sizeof secret);
  return found;
}

int berth__credentials_load(berth_cli *cli, char *err, size_t errsz) {
  const char *region = getenv("AWS_REGION");
  if (!region || !*region) region = getenv("AWS_DEFAULT_REGION");
  snprintf(cli->region, sizeof cli->region, "%s", region && *region ? region : "us-east-1");
  const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
  if (id && *id && secret && *secret) {
    snprintf(cli->access_key_id, sizeof cli->access_key_id, "%s", id);
    snprintf(cli->secret_access_key, sizeof cli->secret_access_key, "%s", secret);
    return 0;
  }
  const char *profile = getenv("AWS_PROFILE");
  if (!profile || !*profile) profile = "default";
  char shared[1100];
  const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
  const char *home = getenv("HOME");
  if (file && *file) snprintf(shared, sizeof shared, "%s", file);
  else snprintf(shared, sizeof shared, "%s/.aws/credentials", home ? home : "");
  if (read_profile(shared, profile, cli) == 1) return 0;
  char berth[1100];
  snprintf(berth, sizeof berth, "%s/credentials", cli->data_dir);
  if (read_profile(berth, "default", cli) == 1) return 0;
  snprintf(err, errsz, "no access key to sign with: set AWS_ACCESS_KEY_ID and "
           "AWS_SECRET_ACCESS_KEY, or put profile [%s] in %s, or point BERTH_DATA_DIR at "
           "berthd's data directory (looked for %s, which berthd writes at first start)",
           profile, shared, berth);
  return -1;
}
