/* table: aligned text tables for the berth client's listings. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

void berth__table_init(berth_table *t, size_t ncols, const char *const *header) {
  t->ncols = ncols;
  t->rows = NULL;
  t->nrows = 0;
  t->cap = 0;
  berth__table_add(t, header);
}

void berth__table_free(berth_table *t) {
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) free(t->rows[r].cells[c]);
    free(t->rows[r].cells);
    free(t->rows[r].note);
  }
  free(t->rows);
  t->rows = NULL;
  t->nrows = t->cap = 0;
}

void berth__table_add(berth_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->rows = berth_xrealloc(t->rows, t->cap * sizeof *t->rows);
  }
  berth_table_row *row = &t->rows[t->nrows++];
  row->cells = berth_xcalloc(t->ncols, sizeof *row->cells);
  row->note = NULL;
  for (size_t c = 0; c < t->ncols; c++)
    row->cells[c] = berth_xstrdup(cells[c] ? cells[c] : "-");
}

void berth__table_note(berth_table *t, const char *note) {
  if (t->nrows < 2) return;  /* no data row yet */
  berth_table_row *row = &t->rows[t->nrows - 1];
  free(row->note);
  row->note = berth_xstrdup(note);
}

size_t berth__table_rows(const berth_table *t) {
  return t->nrows ? t->nrows - 1 : 0;
}

void berth__table_print(const berth_table *t, FILE *f) {
  size_t *width = berth_xcalloc(t->ncols, sizeof *width);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t w = strlen(t->rows[r].cells[c]);
      if (w > width[c]) width[c] = w;
    }
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      const char *cell = t->rows[r].cells[c];
      if (c + 1 == t->ncols)
        fprintf(f, "%s\n", cell);
      else
        fprintf(f, "%-*s  ", (int)width[c], cell);
    }
    if (t->rows[r].note) fprintf(f, "%s\n", t->rows[r].note);
  }
  free(width);
}
