/* console_files: the web console's static files (share/console/), built
 * into berthd by cmake/embed_console.cmake as C arrays. */
#ifndef BERTHD_CONSOLE_FILES_H
#define BERTHD_CONSOLE_FILES_H

#include <stddef.h>

typedef struct console_file {
  const char *name;             /* "index.html": the file's name in share/console */
  const unsigned char *data;    /* NUL-terminated for convenience */
  size_t len;
} console_file;

/* Ends with an entry whose name is NULL. */
extern const console_file console_files[];

#endif
