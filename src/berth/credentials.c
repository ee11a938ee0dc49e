/* credentials: see credentials.h. The AWS part (environment, shared
 * credentials file) is lib/aws_credentials.c, which berthd's S3 downloads
 * use too. */
#include "credentials.h"

#include <stdio.h>
#include <stdlib.h>

#include "berth/aws_credentials.h"

static void take(berth_cli *cli, berth_aws_credentials *k) {
  snprintf(cli->access_key_id, sizeof cli->access_key_id, "%s", k->access_key_id);
  snprintf(cli->secret_access_key, sizeof cli->secret_access_key, "%s", k->secret_access_key);
  berth_aws_credentials_wipe(k);
}

int berth__credentials_load(berth_cli *cli, char *err, size_t errsz) {
  berth_aws_region(cli->region, sizeof cli->region);
  berth_aws_credentials k = {0};
  char aws_err[1400];
  if (berth_aws_credentials_load(&k, aws_err, sizeof aws_err) == 0) {
    take(cli, &k);
    return 0;
  }
  char berth[1100];
  snprintf(berth, sizeof berth, "%s/credentials", cli->data_dir);
  if (berth_aws_profile_read(berth, "default", &k) == 1) {
    take(cli, &k);
    return 0;
  }
  snprintf(err, errsz, "no access key to sign with: %s; nor does %s (berthd writes it at "
           "first start: point BERTH_DATA_DIR at berthd's data directory)", aws_err,
           berth);
  return -1;
}
