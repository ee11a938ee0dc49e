/* cmd_top: `berth top`, a live terminal view of endpoints, instances and
 * inference components, redrawn every --interval seconds (top_data.c
 * fetches, top_view.c lays out, this file owns the terminal and the loop).
 *
 * DESIGN: plain ANSI escapes, no curses: the alternate screen while it
 * runs, and each frame drawn from the home position line by line with an
 * erase-line before each, so nothing flickers and nothing scrolls (the last
 * line gets no newline). Keys are read with the terminal non-canonical and
 * without echo; ISIG stays on, so Ctrl-C is SIGINT. Signal handlers only set
 * flags, except while a refresh runs: curl may then wait for its timeout,
 * so SIGINT/SIGTERM restore the terminal from the handler (write and
 * tcsetattr are async-signal-safe) and exit at once. Not a terminal (or
 * --once): frames are plain lines, 80x24 unless --size says otherwise. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "berth/buf.h"
#include "cli.h"
#include "top_data.h"
#include "top_view.h"

static const char usage[] =
  "usage: berth top [--interval S] [--once] [--endpoint EP] [--size COLSxROWS]\n"
  "\n"
  "A live view of endpoints (status, instances, CPU/memory/GPU reserved),\n"
  "instances (a bar per resource for the share their copies reserve) and\n"
  "inference components (copies current/desired, requests/s, p50/p99 model\n"
  "latency, requests held while a copy woke, CPU and memory used as a share\n"
  "of the reservation), busiest first. Figures are the newest closed 10-s\n"
  "metrics bucket. Sized to the terminal (80x24 when not one). q quits,\n"
  "r or space refreshes now.\n"
  "\n"
  "  --interval S        seconds between refreshes (default 1; 0.2 to 3600)\n"
  "  --once              print one frame and exit (1 if a call failed)\n"
  "  --endpoint EP       only endpoint EP and what runs on it\n"
  "  --size COLSxROWS    draw at this size instead of the terminal's\n";

#define MAX_COLS 1000
#define MAX_ROWS 1000

static const char enter_screen[] = "\033[?1049h\033[?25l"; /* alternate screen, no cursor */
static const char leave_screen[] = "\033[?25h\033[?1049l";

static volatile sig_atomic_t quit_asked, resized, refreshing, screen_on, keys_on;
static struct termios saved_termios;

/* Async-signal-safe: called from on_signal too. */
static void restore_terminal(void) {
  if (screen_on) {
    ssize_t ignored = write(STDOUT_FILENO, leave_screen, sizeof leave_screen - 1);
    (void)ignored;
    screen_on = 0;
  }
  if (keys_on) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
    keys_on = 0;
  }
}

static void on_signal(int sig) {
  if (sig == SIGWINCH) {
    resized = 1;
    return;
  }
  quit_asked = 1;
  if (refreshing) {
    restore_terminal();
    _exit(BERTH_EXIT_OK);
  }
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: the poll waiting for a key must wake. */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGWINCH, &sa, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses --size "COLSxROWS". */
static void parse_size(const char *s, int *cols, int *rows) {
  char *end;
  long c = strtol(s, &end, 10), r = 0;
  if (end != s && (*end == 'x' || *end == 'X')) {
    char *rend;
    r = strtol(end + 1, &rend, 10);
    if (rend == end + 1 || *rend != '\0') r = -1;
  } else {
    r = -1;
  }
  if (r < 0)
    berth__usage_error("--size: '%s' is not COLSxROWS (for example 120x40)", s);
  if (c < 20 || c > MAX_COLS || r < 5 || r > MAX_ROWS)
    berth__usage_error("--size: %s is out of range (20..%d columns, 5..%d rows)", s, MAX_COLS,
                       MAX_ROWS);
  *cols = (int)c;
  *rows = (int)r;
}

typedef struct top_opts {
  double interval_s;
  bool once;
  const char *endpoint;
  int cols, rows;               /* --size; 0: the terminal's */
} top_opts;

static void screen_size(const berth_cli *cli, const top_opts *o, int *cols, int *rows) {
  struct winsize ws;
  *cols = 80;
  *rows = 24;
  if (o->cols) {
    *cols = o->cols;
    *rows = o->rows;
  } else if (cli->stdout_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
             ws.ws_row > 0) {
    *cols = ws.ws_col < MAX_COLS ? ws.ws_col : MAX_COLS;
    *rows = ws.ws_row < MAX_ROWS ? ws.ws_row : MAX_ROWS;
  }
}

static int write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(STDOUT_FILENO, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Draws d at the current size: in place on the screen, or as plain lines. */
static int show(berth_cli *cli, const top_opts *o, const top_data *d, top_frame *f) {
  top_view v = {.control_url = cli->control_url, .endpoint = o->endpoint,
                .interval_s = o->interval_s, .interactive = keys_on != 0};
  screen_size(cli, o, &v.cols, &v.rows);
  berth__top_render(d, &v, f);
  berth_buf out;
  berth_buf_init(&out, 0);
  bool in_place = screen_on != 0;
  if (in_place) berth_buf_appends(&out, "\033[H");
  for (int r = 0; r < f->rows; r++) {
    if (in_place) berth_buf_appends(&out, "\033[2K");
    berth_buf_appends(&out, berth__top_line(f, r));
    if (!in_place)
      berth_buf_appends(&out, "\n");
    else if (r + 1 < f->rows)
      berth_buf_appends(&out, "\r\n");
  }
  int rc = write_all(out.data, out.len);
  berth_buf_free(&out);
  return rc;
}

/* Waits until `until` (monotonic seconds) for a key, redrawing on a
 * resize. Returns when it is time to refresh or quit_asked is set. */
static void wait_keys(berth_cli *cli, const top_opts *o, const top_data *d, top_frame *f,
                      double until) {
  while (!quit_asked) {
    if (resized) {
      resized = 0;
      if (show(cli, o, d, f) != 0) quit_asked = 1;
      continue;
    }
    double left = until - now_s();
    if (left <= 0) return;
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&pfd, keys_on ? 1 : 0, (int)ceil(left * 1000));
    if (n <= 0 || !keys_on) continue; /* time, or a signal */
    char ch;
    ssize_t got = read(STDIN_FILENO, &ch, 1);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) { /* the terminal hung up */
      quit_asked = 1;
      return;
    }
    if (ch == 'q' || ch == 'Q') quit_asked = 1;
    if (ch == 'r' || ch == ' ' || ch == '\f') return;
  }
}

int berth__cmd_top(berth_cli *cli, int argc, char **argv) {
  top_opts o = {.interval_s = 1};
  for (int i = 0; i < argc; i++) {
    const char *v;
    if (berth__args_is_help(argv[i])) {
      fputs(usage, stdout);
      return BERTH_EXIT_OK;
    } else if (strcmp(argv[i], "--once") == 0) {
      o.once = true;
    } else if (berth__args_value(argc, argv, &i, "--interval", &v)) {
      o.interval_s = berth__args_double("--interval", v, 0.2, 3600);
    } else if (berth__args_value(argc, argv, &i, "--endpoint", &o.endpoint)) {
      continue;
    } else if (berth__args_value(argc, argv, &i, "--size", &v)) {
      parse_size(v, &o.cols, &o.rows);
    } else {
      berth__args_unknown(argv[i]);
    }
  }

  catch_signals();
  if (!o.once && cli->stdout_tty) {
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
      struct termios raw = saved_termios;
      raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) keys_on = 1;
    }
    if (write_all(enter_screen, sizeof enter_screen - 1) == 0) screen_on = 1;
  }

  top_data d;
  berth__top_data_init(&d);
  top_frame f = {0};
  int exit_code = BERTH_EXIT_OK;
  while (!quit_asked) {
    double started = now_s();
    int cols, rows;
    screen_size(cli, &o, &cols, &rows);
    top_query q = {.endpoint = o.endpoint, .describe_max = (size_t)rows};
    refreshing = 1;
    if (quit_asked) break; /* asked before the handler could see refreshing */
    int rc = berth__top_refresh(cli, &q, &d);
    refreshing = 0;
    if (show(cli, &o, &d, &f) != 0) {
      exit_code = BERTH_EXIT_FAIL;
      break;
    }
    if (o.once) {
      if (rc != 0) {
        fprintf(stderr, "berth: %s\n", d.error);
        exit_code = BERTH_EXIT_FAIL;
      }
      break;
    }
    wait_keys(cli, &o, &d, &f, started + o.interval_s);
  }
  refreshing = 0;
  restore_terminal();
  berth__top_frame_free(&f);
  berth__top_data_free(&d);
  return exit_code;
}
