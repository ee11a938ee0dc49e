/* berth: the command-line client for berthd.
 *
 * Parses the global flags, picks the command and hands it the one berth_cli
 * context. Source layout: main.c (this: dispatch and usage), args.c (flags
 * and number parsing), client.c (HTTP calls and errors), wait.c (polling with
 * a progress line), table.c (aligned tables), cmd_*.c (one command group
 * each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "args.h"
#include "cli.h"

#define DEFAULT_CONTROL_URL "http://127.0.0.1:8070"
#define DEFAULT_RUNTIME_URL "http://127.0.0.1:8080"

static berth_cli cli;

typedef struct command {
  const char *name;
  int (*run)(berth_cli *cli, int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
  {"endpoints", berth__cmd_endpoints, "list endpoints"},
  {"ics", berth__cmd_ics, "list inference components"},
  {"instances", berth__cmd_instances, "show instances and the share their copies reserve"},
  {"deploy", berth__cmd_deploy, "create an inference component (and its endpoint) and wait"},
  {"invoke", berth__cmd_invoke, "send a request to an endpoint"},
  {"logs", berth__cmd_logs, "print (or --follow) an inference component's copy logs"},
  {"scale", berth__cmd_scale, "set an inference component's copy count"},
  {"delete", berth__cmd_delete, "delete inference components or an endpoint"},
  {"keys", berth__cmd_keys, "create, list and delete access keys"},
  {"top", berth__cmd_top, "a live view of endpoints, instances and inference components"},
  {"token", berth__cmd_token, "print a bearer token of the signing key (OpenAI clients)"},
};

static void usage(FILE *f) {
  fputs("usage: berth [--control-url URL] [--runtime-url URL] [--ca-file FILE] [--data-dir DIR]\n"
        "             COMMAND [ARGS]\n"
        "\n"
        "Commands:\n", f);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\n"
        "Global flags:\n"
        "  --control-url URL   berthd control API (env BERTH_CONTROL_URL,\n"
        "                      default " DEFAULT_CONTROL_URL ")\n"
        "  --runtime-url URL   berthd runtime API (env BERTH_RUNTIME_URL,\n"
        "                      default " DEFAULT_RUNTIME_URL ")\n"
        "  --ca-file FILE      verify https:// servers against this CA certificate\n"
        "                      (PEM; env BERTH_CA_FILE; default the system's CAs)\n"
        "  --data-dir DIR      berthd's data directory, whose credentials file holds\n"
        "                      the admin key (env BERTH_DATA_DIR, default ./berth-data)\n"
        "\n"
        "Every call is signed (AWS SigV4) with an access key found as the AWS CLI\n"
        "finds one: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the profile\n"
        "AWS_PROFILE (default \"default\") of AWS_SHARED_CREDENTIALS_FILE or\n"
        "~/.aws/credentials; else the admin key berthd wrote to\n"
        "DATA_DIR/credentials.\n"
        "\n"
        "Run 'berth COMMAND --help' for a command's flags.\n", f);
}

static const char *check_url(const char *flag, const char *url) {
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
    berth__usage_error("%s: '%s' is not an http:// or https:// URL", flag, url);
  if (strpbrk(url, " \r\n\t"))
    berth__usage_error("%s: '%s' contains white space", flag, url);
  return url;
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

int main(int argc, char **argv) {
  cli.control_url = env_or("BERTH_CONTROL_URL", DEFAULT_CONTROL_URL);
  cli.runtime_url = env_or("BERTH_RUNTIME_URL", DEFAULT_RUNTIME_URL);
  const char *control_flag = NULL, *runtime_flag = NULL;
  cli.ca_file = env_or("BERTH_CA_FILE", NULL);
  cli.data_dir = env_or("BERTH_DATA_DIR", "berth-data");

  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (berth__args_is_help(argv[i])) {
      usage(stdout);
      return BERTH_EXIT_OK;
    } else if (berth__args_value(argc, argv, &i, "--control-url", &control_flag)) {
      cli.control_url = control_flag;
    } else if (berth__args_value(argc, argv, &i, "--runtime-url", &runtime_flag)) {
      cli.runtime_url = runtime_flag;
    } else if (berth__args_value(argc, argv, &i, "--ca-file", &cli.ca_file)) {
      continue;
    } else if (berth__args_value(argc, argv, &i, "--data-dir", &cli.data_dir)) {
      continue;
    } else {
      berth__usage_error("unknown flag '%s'", argv[i]);
    }
  }
  check_url(control_flag ? "--control-url" : "BERTH_CONTROL_URL", cli.control_url);
  check_url(runtime_flag ? "--runtime-url" : "BERTH_RUNTIME_URL", cli.runtime_url);
  if (i >= argc) {
    usage(stderr);
    return BERTH_EXIT_USAGE;
  }

  const char *name = argv[i];
  if (strcmp(name, "help") == 0) {
    if (i + 1 >= argc) {
      usage(stdout);
      return BERTH_EXIT_OK;
    }
    /* "berth help CMD" is "berth CMD --help". */
    static char help_flag[] = "--help";
    name = argv[i + 1];
    argv[i + 1] = help_flag;
  }
  const command *cmd = NULL;
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (strcmp(commands[c].name, name) == 0) cmd = &commands[c];
  if (!cmd) berth__usage_error("unknown command '%s'", name);
  berth__args_set_command(cmd->name);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fputs("berth: cannot initialise libcurl\n", stderr);
    return BERTH_EXIT_FAIL;
  }
  cli.curl = curl_easy_init();
  if (!cli.curl) {
    fputs("berth: cannot initialise libcurl\n", stderr);
    curl_global_cleanup();
    return BERTH_EXIT_FAIL;
  }
  cli.stdout_tty = isatty(STDOUT_FILENO) == 1;

  int exit_code = cmd->run(&cli, argc - i - 1, argv + i + 1);

  curl_easy_cleanup(cli.curl);
  curl_global_cleanup();
  return exit_code;
}
