/* aws_credentials: an access key, session token and region found the way
 * the AWS SDKs and CLI find theirs, for the berth client and for berthd's
 * S3 downloads: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with
 * AWS_SESSION_TOKEN); else the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) at profile
 * AWS_PROFILE (default "default"). Region: AWS_REGION, else
 * AWS_DEFAULT_REGION, else us-east-1. Reads only the environment and that
 * file; keeps no state. */
#ifndef BERTH_AWS_CREDENTIALS_H
#define BERTH_AWS_CREDENTIALS_H

#include <stddef.h>

typedef struct berth_aws_credentials {
  char access_key_id[129];
  char secret_access_key[129];
  char session_token[2048];     /* "" without one */
} berth_aws_credentials;

/* The region into out ("us-east-1" when the environment names none). */
void berth_aws_region(char *out, size_t outsz);

/* Reads aws_access_key_id, aws_secret_access_key and aws_session_token of
 * [profile] (or [profile NAME]) from the INI file at path. 1 when the key
 * pair was found, 0 when not, -1 when the file cannot be opened. */
int berth_aws_profile_read(const char *path, const char *profile, berth_aws_credentials *out);

/* The environment, then the shared credentials file. 0 when found;
 * -1 when not, with err saying where it looked (to follow "no access key: "). */
int berth_aws_credentials_load(berth_aws_credentials *out, char *err, size_t errsz);

/* Overwrites the secret parts. */
void berth_aws_credentials_wipe(berth_aws_credentials *c);

#endif
