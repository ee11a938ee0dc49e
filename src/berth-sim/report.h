/* report: berth-sim's outputs: the text table, a CSV time series and an SVG
 * plot of it (a self-contained file any browser shows). */
#ifndef BERTH_SIM_REPORT_H
#define BERTH_SIM_REPORT_H

#include <stdio.h>

#include "demand.h"
#include "scenario.h"
#include "sim.h"

/* results[i] for i < n, in the order run; dedicated (when run) is the
 * baseline for "saving". */
void report_table(FILE *f, const scenario *s, const sim_demand *d, const sim_result *results,
                  size_t n, int per_model);
/* Return 0 or a negative errno code with a message in err. */
int report_csv(const char *path, const scenario *s, const sim_demand *d, const sim_result *results,
               size_t n, char *err, size_t errsz);
int report_svg(const char *path, const scenario *s, const sim_demand *d, const sim_result *results,
               size_t n, char *err, size_t errsz);

#endif
