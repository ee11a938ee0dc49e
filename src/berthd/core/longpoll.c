/* longpoll: see longpoll.h. */
#include "longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

static void unlink_poll(longpoll *p) {
  for (longpoll **pp = p->list; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  free(p);
}

static void on_abort(berth_http_req *req) {
  unlink_poll(req->user);
}

void longpoll_hold(longpoll **list, berth_http_req *req, void *key, const char *version,
                   uint64_t until_ms) {
  longpoll *p = berth_xcalloc(1, sizeof *p);
  p->list = list;
  p->req = req;
  p->key = key;
  snprintf(p->version, sizeof p->version, "%s", version);
  p->until_ms = until_ms;
  p->next = *list;
  *list = p;
  req->user = p;
  req->on_abort = on_abort;
}

berth_http_req *longpoll_take(longpoll *p) {
  berth_http_req *req = p->req;
  req->on_abort = NULL;
  unlink_poll(p);
  return req;
}

int longpoll_holds(longpoll *const *list, const void *key) {
  for (const longpoll *p = *list; p; p = p->next)
    if (p->key == key) return 1;
  return 0;
}

uint64_t longpoll_hash(const json_t *j) {
  char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = text; p && *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  free(text);
  return h;
}

void longpoll_reply(berth_http_req *req, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  berth_http_header h[1] = {{"content-type", "application/json"}};
  berth_http_respond(req, status, h, 1, text, strlen(text));
  free(text);
  json_decref(body);
}
