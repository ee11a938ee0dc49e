/* log_intake: the controller's side of log shipping (docs/logs.md, "Remote
 * agents"). A pool agent on another host writes its copies' logs to its
 * own shared dir; it ships them here, POST /agent/v1/logs, and this module
 * appends them to the controller's log store (log_store.h) with the same
 * stream names and byte offsets, under the same --log-retention-mb bound
 * per IC, so the CloudWatch Logs API reads them like local ones.
 *
 * DESIGN: a batch is one stream's bytes from one offset, whole lines, at
 * most LOG_INTAKE_BATCH_MAX. Offsets are the agent's, so a batch is
 * idempotent: bytes before the stream's end here are already stored and
 * skipped (a resend after a lost answer, a restarted agent). A batch that
 * starts past the end is refused with the end in the answer (the agent
 * resumes from there) unless it says it is a gap (the agent's rotation
 * dropped bytes it never shipped): then a new segment starts at its
 * offset. Writes are synchronous on the loop: at most one batch's bytes
 * to the page cache per request, as logs_api reads. */
#ifndef BERTHD_LOG_INTAKE_H
#define BERTHD_LOG_INTAKE_H

#include "ctl.h"

#define LOG_INTAKE_BATCH_MAX (256u * 1024u)
/* An IC's bound when --log-retention-mb is not given: the shim's default. */
#define LOG_INTAKE_DEFAULT_MB 64

/* POST /agent/v1/logs, authenticated like the sync (the agent's token).
 * Headers x-berth-ic, x-berth-stream, x-berth-start, x-berth-gap (0|1);
 * the body is the bytes. Answers {"end": N} (200), or {"message"} with
 * 400/401/404/409 (409 also carries "end"). */
void log_intake_on_request(ctl *c, berth_http_req *req);

#endif
