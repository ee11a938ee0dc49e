/* cli: the berth command-line client's shared context and command entry
 * points.
 *
 * main.c owns the one berth_cli value (URLs, the curl handle, whether stdout
 * is a terminal) and passes it to each command. A command returns the
 * process exit status: 0 success, 1 failure (after printing one line
 * "berth: <reason>" on stderr), 2 usage error. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>

typedef struct berth_cli {
  const char *control_url;  /* e.g. http://127.0.0.1:8070 */
  const char *runtime_url;  /* e.g. http://127.0.0.1:8080 */
  void *curl;               /* CURL *, reused so polls keep the connection */
  bool stdout_tty;
  const char *ca_file;      /* --ca-file: verify https servers with it */
  const char *data_dir;     /* BERTH_DATA_DIR: where berthd's credentials are */
  char region[64];          /* the SigV4 credential scope's */
  char access_key_id[129];
  char secret_access_key[129];
} berth_cli;

enum { BERTH_EXIT_OK = 0, BERTH_EXIT_FAIL = 1, BERTH_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name. */
int berth__cmd_endpoints(berth_cli *cli, int argc, char **argv);
int berth__cmd_ics(berth_cli *cli, int argc, char **argv);
int berth__cmd_deploy(berth_cli *cli, int argc, char **argv);
int berth__cmd_scale(berth_cli *cli, int argc, char **argv);
int berth__cmd_invoke(berth_cli *cli, int argc, char **argv);
int berth__cmd_delete(berth_cli *cli, int argc, char **argv);
int berth__cmd_instances(berth_cli *cli, int argc, char **argv);
int berth__cmd_keys(berth_cli *cli, int argc, char **argv);
int berth__cmd_token(berth_cli *cli, int argc, char **argv);
int berth__cmd_top(berth_cli *cli, int argc, char **argv);
int berth__cmd_logs(berth_cli *cli, int argc, char **argv);

#endif
