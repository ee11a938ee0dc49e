/* longpoll: requests a server holds until it has news for them or their
 * wait runs out (the agent sync, the routing snapshot).
 *
 * DESIGN: a held request is in one list; a client that goes away takes it
 * out (on_abort). The owner walks the list when something changed and
 * takes out the ones to answer. */
#ifndef BERTHD_LONGPOLL_H
#define BERTHD_LONGPOLL_H

#include <jansson.h>
#include <stdint.h>

#include "berth/http_server.h"

typedef struct longpoll {
  struct longpoll *next;
  struct longpoll **list;       /* the head it is linked from */
  berth_http_req *req;
  void *key;                    /* what it waits about (the owner's) */
  char version[32];             /* what the client has */
  uint64_t until_ms;            /* loop time when its wait runs out */
} longpoll;

/* Holds req in *list until until_ms. */
void longpoll_hold(longpoll **list, berth_http_req *req, void *key, const char *version,
                   uint64_t until_ms);
/* Takes p out of its list and returns its request, to be answered now. */
berth_http_req *longpoll_take(longpoll *p);
/* Whether a request about key is held. */
int longpoll_holds(longpoll *const *list, const void *key);
/* A hash of j's compact JSON, for versions that change with the content. */
uint64_t longpoll_hash(const json_t *j);
/* Answers req with body (taken) as application/json. */
void longpoll_reply(berth_http_req *req, int status, json_t *body);

#endif
