/* forward: a standby controller passes the control API calls (and the
 * console's requests) it gets on to the leader as they came (method, target, headers with Host, body: the
 * caller's signature covers them, and the leader checks it) and sends the
 * leader's answer back as it is. So a client, an SDK or a load balancer
 * may send to any controller of a store. Agents and routers are not
 * forwarded: they follow the standby's x-berth-leader themselves. A call
 * that already passed one standby is not passed on again (no loops while
 * controllers disagree for a moment about who leads). */
#ifndef BERTHD_FORWARD_H
#define BERTHD_FORWARD_H

#include "berth/http_server.h"
#include "ctl.h"

/* Control answers are small: one larger than this is refused (502). */
#define FORWARD_MAX_ANSWER_BYTES (16u << 20)

/* 0: req is on its way to leader_url and will be answered; -1: it cannot
 * be passed on (no leader known, a call forwarded once already): the
 * caller answers it. */
int forward_to_leader(ctl *c, berth_http_req *req, const char *leader_url);

#endif
