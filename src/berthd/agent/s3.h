/* s3: what the artifact-fetch child needs of the S3 protocol: the
 * endpoint the AWS way (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else
 * https://s3.REGION.amazonaws.com), path-style object URLs
 * (ENDPOINT/bucket/key, so any S3-compatible store works), and
 * ListObjectsV2 over a prefix with continuation. Requests go through
 * transfer.c, which signs them. */
#ifndef BERTHD_S3_H
#define BERTHD_S3_H

#include <stddef.h>
#include <stdint.h>

#include "transfer.h"

typedef struct s3_object {
  char *key;
  char etag[256];
  int64_t size;
} s3_object;

/* The endpoint, without a trailing slash. */
void s3_endpoint(const char *region, char *out, size_t outsz);

/* ENDPOINT/bucket/key with key URI-encoded ('/' kept). 0, or -1 when it
 * does not fit. */
int s3_object_url(const char *endpoint, const char *bucket, const char *key, char *out,
                  size_t outsz);

/* Every object whose key starts with prefix, in key order, into a new
 * array *objs (s3_objects_free it). Its length, or -1 with t->error. At
 * most S3_LIST_MAX objects. */
int s3_list(transfer *t, const char *endpoint, const char *bucket, const char *prefix,
            s3_object **objs);
void s3_objects_free(s3_object *objs, int n);

#define S3_LIST_MAX 100000

#endif
