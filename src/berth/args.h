/* args: command-line flag matching and checked number parsing.
 *
 * Flags are "--name value" or "--name=value". A bad flag or value is a usage
 * error: the functions here print one line naming it and exit with status 2,
 * which is what a command-line program wants and keeps every caller short. */
#ifndef BERTH_ARGS_H
#define BERTH_ARGS_H

#include <stdbool.h>

/* Name of the running command ("deploy"), used in usage errors. */
void berth__args_set_command(const char *cmd);

/* Prints "berth: <message> (see 'berth CMD --help')" and exits 2. */
_Noreturn void berth__usage_error(const char *fmt, ...)
  __attribute__((format(printf, 1, 2)));

/* If argv[*i] is flag `name` ("--name v" or "--name=v"), stores the value in
 * *value, advances *i past what it used and returns true. A missing value is
 * a usage error. */
bool berth__args_value(int argc, char **argv, int *i, const char *name,
                       const char **value);

/* True if argv[i] is "--help" or "-h". */
bool berth__args_is_help(const char *arg);

/* Parse `s` as a whole decimal integer / number in [min, max]; anything else
 * is a usage error naming `flag` and the value. */
long berth__args_long(const char *flag, const char *s, long min, long max);
double berth__args_double(const char *flag, const char *s, double min, double max);
/* Parse `s` as a duration in seconds: a whole number with s, m, h or d (a
 * bare number is seconds), from min_s to max_s; anything else is a usage
 * error naming `flag`, the value and `example` ("30s, 10m, 2h or 1d"). */
long berth__args_duration(const char *flag, const char *s, long min_s, long max_s,
                          const char *example);

/* Rejects an argument that looks like a flag but was not recognised. */
_Noreturn void berth__args_unknown(const char *arg);

#endif
