/* store: durable desired state in SQLite (WAL), as JSON documents keyed by
 * kind and name. A put or delete returns only after its transaction is
 * committed, so an acknowledged API call survives kill -9. */
#ifndef BERTHD_STORE_H
#define BERTHD_STORE_H

#include <jansson.h>

typedef struct store store;

/* Opens (creating if needed) DIR/berth.db. On error writes a message to err. */
int store_open(const char *dir, store **out, char *err, size_t errsz);
void store_close(store *s);
int store_put(store *s, const char *kind, const char *name, json_t *doc);
int store_delete(store *s, const char *kind, const char *name);
/* Calls fn for each document of kind in insertion order; doc is borrowed. */
int store_each(store *s, const char *kind,
               int (*fn)(const char *name, json_t *doc, void *ud), void *ud);
/* A persistent counter (ids that must not repeat across restarts). */
int64_t store_next_id(store *s, const char *counter);

#endif
