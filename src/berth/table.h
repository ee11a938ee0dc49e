/* table: aligned text tables for the berth client's listings.
 *
 * Cells are copied; columns are separated by two spaces and padded to the
 * widest cell (the last column is not padded). A row may carry one note, a
 * free-form line printed under it without alignment. */
#ifndef BERTH_TABLE_H
#define BERTH_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct berth_table_row {
  char **cells;
  char *note;
} berth_table_row;

typedef struct berth_table {
  size_t ncols;
  berth_table_row *rows;  /* rows[0] is the header */
  size_t nrows;
  size_t cap;
} berth_table;

/* Starts a table whose header is `header` (ncols cells). */
void berth__table_init(berth_table *t, size_t ncols, const char *const *header);
void berth__table_free(berth_table *t);
/* Appends a row of ncols cells; NULL cells print as "-". */
void berth__table_add(berth_table *t, const char *const *cells);
/* Sets the note under the last row added. */
void berth__table_note(berth_table *t, const char *note);
/* Number of rows, not counting the header. */
size_t berth__table_rows(const berth_table *t);
void berth__table_print(const berth_table *t, FILE *f);

#endif
