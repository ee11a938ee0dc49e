/* args: flag matching and checked number parsing for the berth client. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *command = NULL;

void berth__args_set_command(const char *cmd) {
  command = cmd;
}

_Noreturn void berth__usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("berth: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (command)
    fprintf(stderr, " (see 'berth %s --help')\n", command);
  else
    fputs(" (see 'berth --help')\n", stderr);
  exit(BERTH_EXIT_USAGE);
}

bool berth__args_value(int argc, char **argv, int *i, const char *name,
                       const char **value) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return true;
  }
  if (arg[n] != '\0') return false;
  if (*i + 1 >= argc) berth__usage_error("%s needs a value", name);
  *value = argv[++*i];
  return true;
}

bool berth__args_is_help(const char *arg) {
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

long berth__args_long(const char *flag, const char *s, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0')
    berth__usage_error("%s: '%s' is not a whole number", flag, s);
  if (errno == ERANGE || v < min || v > max)
    berth__usage_error("%s: %s is out of range (%ld..%ld)", flag, s, min, max);
  return v;
}

long berth__args_duration(const char *flag, const char *s, long min_s, long max_s,
                          const char *example) {
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  long unit = 1;
  if (end != s && *end && !end[1]) {
    switch (*end) {
    case 's': unit = 1; end++; break;
    case 'm': unit = 60; end++; break;
    case 'h': unit = 3600; end++; break;
    case 'd': unit = 86400; end++; break;
    default: break;
    }
  }
  if (errno || end == s || *end || n < 1 || n > max_s / unit || n * unit < min_s)
    berth__usage_error("%s: '%s' must be a duration from %lds to %lds (e.g. %s)", flag, s, min_s,
                       max_s, example);
  return n * unit;
}

double berth__args_double(const char *flag, const char *s, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
    berth__usage_error("%s: '%s' is not a number", flag, s);
  if (v < min || v > max)
    berth__usage_error("%s: %g is out of range (%g..%g)", flag, v, min, max);
  return v;
}

_Noreturn void berth__args_unknown(const char *arg) {
  if (arg[0] == '-')
    berth__usage_error("unknown flag '%s'", arg);
  berth__usage_error("unexpected argument '%s'", arg);
}
