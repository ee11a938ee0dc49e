/* log_ship: a pool agent's copy logs to its controller (docs/logs.md,
 * "Remote agents"). The copies' shims write this host's log store
 * (SHARED_DIR/logs/<IC>/, log_store.h); the controller's CloudWatch Logs
 * API reads its own host's, so an agent the controller says is a pool
 * instance (the sync answer's ship_logs) sends what its instance's streams
 * gained, POST /agent/v1/logs, which the controller appends to its store
 * (log_intake.h) at the same offsets.
 *
 * DESIGN: every LOG_SHIP_INTERVAL_MS, and at once after a batch went,
 * one scan on libuv's thread pool lists the IC directories and picks the
 * stream whose shipped offset lags its end and which waited longest; it
 * reads at most LOG_SHIP_BATCH_MAX bytes from there, whole lines, and the
 * loop sends them. One batch is in flight at a time, so the scan and the
 * loop never touch the offsets together. Offsets (per IC and stream, at
 * most LOG_SHIP_STREAMS_MAX) are kept in DATA_DIR/log-shipped.json so a
 * restarted agent resumes; the controller skips what it already has, so a
 * lost answer or a stale file never duplicates a line. Bytes the agent's
 * retention deleted before they were shipped are a gap: shipping goes on
 * from the oldest segment left and the batch says so. */
#ifndef BERTHD_LOG_SHIP_H
#define BERTHD_LOG_SHIP_H

#include <stdint.h>
#include <uv.h>

#include "berth/http_client.h"

#define LOG_SHIP_INTERVAL_MS 250
#define LOG_SHIP_BATCH_MAX (256u * 1024u)
#define LOG_SHIP_STREAMS_MAX 4096

typedef struct log_ship log_ship;

/* Where batches go; what it points to is the agent's and must outlive the
 * shipper (auth_header may change in place when the controller issues a
 * token, the rest when the agent moves to another controller). */
typedef struct log_ship_target {
  berth_http_client *client;
  const char *host;
  const int *port;
  berth_tls_client *const *tls;
  const char *tls_name;
  const char *auth_header;
} log_ship_target;

/* A stopped shipper for shared_dir's logs, its offsets in data_dir. */
log_ship *log_ship_new(uv_loop_t *loop, const char *shared_dir, const char *data_dir,
                       const log_ship_target *t);
/* From each sync answer: whether to ship, and this agent's instance id
 * (only streams "i-<id>/copy-N" are its own). Shipping starts with the
 * first enabled call. */
void log_ship_set(log_ship *s, int enabled, int64_t instance_id);

#endif
