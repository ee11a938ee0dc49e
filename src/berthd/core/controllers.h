/* controllers: where an agent or a router finds the controller. --join and
 * --controller take one URL or several, comma-separated (controllers that
 * share a PostgreSQL store: one leads, the others stand by). A caller talks
 * to the current one and moves on when it cannot connect or a standby
 * answers 503, to the leader the standby names (x-berth-leader), else to
 * the next. Hosts are resolved once, when first listed. */
#ifndef BERTHD_CONTROLLERS_H
#define BERTHD_CONTROLLERS_H

#include <stddef.h>

#define CONTROLLERS_MAX 8

typedef struct controller_addr {
  char url[256];                /* as given */
  char name[256];               /* its host, as a TLS certificate names it */
  char host[64];                /* the address it resolved to */
  int port;
  int https;
} controller_addr;

typedef struct controllers {
  controller_addr v[CONTROLLERS_MAX];
  int n, cur;
} controllers;

/* Parses urls (http:// or https://HOST:PORT, comma-separated, at most
 * CONTROLLERS_MAX): 0, or -1 with the bad one's text in bad. */
int controllers_parse(controllers *l, const char *urls, char *bad, size_t badsz);
/* 1 when any is https. */
int controllers_https(const controllers *l);
const controller_addr *controllers_current(const controllers *l);
/* After a failure on the current one: leader (a standby's hint, may be
 * NULL or "") if listed, else the next. A leader not listed is added when
 * accept (may be NULL) takes it (up to CONTROLLERS_MAX; resolved then,
 * blocking, once), so a standby's redirect is followed. Returns the new
 * current. */
const controller_addr *controllers_next(controllers *l, const char *leader,
                                        int (*accept)(const controller_addr *a));

#endif
