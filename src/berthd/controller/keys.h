/* keys: Berth's access keys: kept in the store with their secrets sealed
 * under DATA_DIR/master.key, the admin key made at first start (and
 * written to DATA_DIR/credentials for the CLI and the SDKs), and the
 * Berth.CreateAccessKey / ListAccessKeys / DeleteAccessKey operations
 * behind `berth keys`. */
#ifndef BERTHD_KEYS_H
#define BERTHD_KEYS_H

#include "ctl.h"
#include "valid.h"

/* Loads the keys (call with the rest of the state, before any change is
 * queued) and makes the admin key when there is none. 0 or -1 (logged). */
int keys_load(ctl *c);
/* Makes the admin key and DATA_DIR/credentials when the store has none
 * (after ctl_load). 0 or -1 (logged). */
int keys_first_start(ctl *c);
/* The Berth.*AccessKey* operations; 1 when op is not one of them. */
int keys_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);

#endif
