/* tags: SageMaker's AddTags, ListTags and DeleteTags on the resources Berth
 * creates (endpoint configs, endpoints, inference components, models), and
 * the Tags check every Create* applies.
 *
 * Tags live in each resource's stored document, under "Tags" (the member
 * Create* requests carry), so they are committed with the resource, survive
 * a restart with it and go when it is deleted. Describe answers drop them,
 * as SageMaker's do. */
#ifndef BERTHD_TAGS_H
#define BERTHD_TAGS_H

#include "ctl.h"
#include "valid.h"

#define TAGS_MAX 50

/* The SageMaker operations AddTags, ListTags, DeleteTags (api_operation
 * handlers). */
int tags_add(ctl *c, json_t *req, json_t **resp, api_error *e);
int tags_list(ctl *c, json_t *req, json_t **resp, api_error *e);
int tags_delete(ctl *c, json_t *req, json_t **resp, api_error *e);

/* Checks obj[key] (absent is fine) as a TagList: at most TAGS_MAX
 * {Key, Value} objects, Key 1..128 and Value 0..256 characters of
 * SageMaker's tag pattern, no key starting "aws:", no key twice. path names
 * the field in messages ("Tags"). 0 or -1 with e filled. */
int tags_check(json_t *obj, const char *key, const char *path, api_error *e);

#endif
