/* credentials: the access key the berth client signs with, found the way
 * the AWS SDKs and CLI find theirs: AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY; then the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) at profile
 * AWS_PROFILE (default "default"); then the admin key berthd wrote to
 * BERTH_DATA_DIR/credentials (default ./berth-data/credentials). */
#ifndef BERTH_CREDENTIALS_H
#define BERTH_CREDENTIALS_H

#include <stddef.h>

#include "cli.h"

/* Fills cli's key and region. 0, or -1 with a message naming every place
 * looked in err. */
int berth__credentials_load(berth_cli *cli, char *err, size_t errsz);

#endif
