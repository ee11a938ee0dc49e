/* exec_hook: the pure parts of the exec instance provider's hooks
 * (src/berthd/controller/exec_provider.h, docs/providers.md): reading what
 * a hook printed, keeping a secret out of it, and how long a variant waits
 * after failed launches. No I/O: berthd and berth-sim call the same. */
#ifndef BERTH_EXEC_HOOK_H
#define BERTH_EXEC_HOOK_H

#include <stddef.h>

/* Replaces every occurrence of secret in s (NUL-terminated, edited in
 * place) by mark, which must be shorter than secret, and cuts a start of
 * secret of 8 characters or more left at the end of s (where the output
 * was cut). Secrets shorter than 8 characters are left alone. */
void berth_exec_redact(char *s, const char *secret, const char *mark);

/* The VALUE of the last line "instance-id=VALUE" in out (leading blanks
 * skipped, trailing blanks and CR trimmed) into id: 1, or 0 when there is
 * none (or only values that do not fit idsz). */
int berth_exec_instance_id(const char *out, char *id, size_t idsz);

/* out as one log line: newlines between lines as " | ", CR dropped, other
 * control characters as '?', cut to fit outsz (at least 1). */
void berth_exec_one_line(const char *s, char *out, size_t outsz);

/* Seconds the next launch waits after `failures` failed launches in a row:
 * min_s, doubling with each further failure, at most max_s; 0 for none. */
double berth_exec_backoff_s(int failures, double min_s, double max_s);

#endif
