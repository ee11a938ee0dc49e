/* copy_shim: `berthd copy-exec [--copy ID] [--log FILE] [--exit-file FILE]
 * -- PROGRAM ARGS...`, the process that owns one copy's model server (see
 * copy_shim.c). */
#ifndef BERTHD_COPY_SHIM_H
#define BERTHD_COPY_SHIM_H

int copy_shim_main(int argc, char **argv);

#endif
