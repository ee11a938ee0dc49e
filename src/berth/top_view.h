/* top_view: lays out one `berth top` frame as text, exactly `rows` lines
 * none wider than `cols` columns.
 *
 * The frame is a title line, three sections (endpoints, instances,
 * inference components), each a header and its rows, and a status line at
 * the bottom. When everything does not fit, the rows are shared between
 * the sections and a section cut short ends with "... N more"; rows left
 * over become blank lines. Pure: no I/O, no terminal codes. */
#ifndef BERTH_TOP_VIEW_H
#define BERTH_TOP_VIEW_H

#include <stdbool.h>

#include "top_data.h"

typedef struct top_view {
  int cols, rows;
  const char *control_url;
  const char *endpoint;         /* --endpoint, or NULL */
  double interval_s;
  bool interactive;             /* keys are read: the title says how to quit */
} top_view;

typedef struct top_frame {
  int cols, rows;
  char *text;                   /* rows lines of cols + 1 bytes, each NUL-ended */
} top_frame;

/* Renders d into f, (re)allocating f->text for v's size; f starts zeroed
 * and is released with berth__top_frame_free. */
void berth__top_render(const top_data *d, const top_view *v, top_frame *f);
void berth__top_frame_free(top_frame *f);
/* Line r of the frame (0-based). */
const char *berth__top_line(const top_frame *f, int r);

#endif
