/* copy_shim: `berthd copy-exec [--copy ID] [--log IC_LOG_DIR] [--instance
 * NAME] [--log-retention-mb N] [--exit-file FILE] -- PROGRAM ARGS...`, the
 * process that owns one copy's model server (see copy_shim.c). */
#ifndef BERTHD_COPY_SHIM_H
#define BERTHD_COPY_SHIM_H

/* An IC's log bound when --log-retention-mb is not given (docs/logs.md). */
#define COPY_SHIM_LOG_RETENTION_MB 64

int copy_shim_main(int argc, char **argv);

#endif
