/* options.c: the command line.
 *
 * getopt_long permutes argv, so server options may come before or
 * after the plugin name and its key=value parameters (nbdkit's own
 * documentation relies on that: "nbdkit memory 1G -f").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>

#include "internal.h"

struct config config;

enum {
  DUMP_CONFIG_OPTION = 256,
  DUMP_PLUGIN_OPTION,
  EXIT_WITH_PARENT_OPTION,
  FILTER_OPTION,
  HELP_OPTION,
  LOG_OPTION,
  LONG_OPTIONS_OPTION,
  MASK_HANDSHAKE_OPTION,
  NO_SR_OPTION,
  RUN_OPTION,
  SELINUX_LABEL_OPTION,
  SHORT_OPTIONS_OPTION,
  SWAP_OPTION,
  TLS_OPTION,
  TLS_CERTIFICATES_OPTION,
  TLS_PSK_OPTION,
  TLS_VERIFY_PEER_OPTION,
  VSOCK_OPTION,
};

static const char short_options[] = "46D:e:fg:i:nop:P:rst:u:U:vV";

static const struct option long_options[] = {
  { "debug",            required_argument, NULL, 'D' },
  { "dump-config",      no_argument,       NULL, DUMP_CONFIG_OPTION },
  { "dump-plugin",      no_argument,       NULL, DUMP_PLUGIN_OPTION },
  { "exit-with-parent", no_argument,       NULL, EXIT_WITH_PARENT_OPTION },
  { "export",           required_argument, NULL, 'e' },
  { "export-name",      required_argument, NULL, 'e' },
  { "exportname",       required_argument, NULL, 'e' },
  { "filter",           required_argument, NULL, FILTER_OPTION },
  { "foreground",       no_argument,       NULL, 'f' },
  { "no-fork",          no_argument,       NULL, 'f' },
  { "group",            required_argument, NULL, 'g' },
  { "help",             no_argument,       NULL, HELP_OPTION },
  { "ip-addr",          required_argument, NULL, 'i' },
  { "ipaddr",           required_argument, NULL, 'i' },
  { "ipv4-only",        no_argument,       NULL, '4' },
  { "ipv6-only",        no_argument,       NULL, '6' },
  { "log",              required_argument, NULL, LOG_OPTION },
  { "long-options",     no_argument,       NULL, LONG_OPTIONS_OPTION },
  { "mask-handshake",   required_argument, NULL, MASK_HANDSHAKE_OPTION },
  { "new-style",        no_argument,       NULL, 'n' },
  { "newstyle",         no_argument,       NULL, 'n' },
  { "no-sr",            no_argument,       NULL, NO_SR_OPTION },
  { "old-style",        no_argument,       NULL, 'o' },
  { "oldstyle",         no_argument,       NULL, 'o' },
  { "pid-file",         required_argument, NULL, 'P' },
  { "pidfile",          required_argument, NULL, 'P' },
  { "port",             required_argument, NULL, 'p' },
  { "read-only",        no_argument,       NULL, 'r' },
  { "readonly",         no_argument,       NULL, 'r' },
  { "run",              required_argument, NULL, RUN_OPTION },
  { "selinux-label",    required_argument, NULL, SELINUX_LABEL_OPTION },
  { "short-options",    no_argument,       NULL, SHORT_OPTIONS_OPTION },
  { "single",           no_argument,       NULL, 's' },
  { "stdin",            no_argument,       NULL, 's' },
  { "swap",             no_argument,       NULL, SWAP_OPTION },
  { "threads",          required_argument, NULL, 't' },
  { "tls",              required_argument, NULL, TLS_OPTION },
  { "tls-certificates", required_argument, NULL, TLS_CERTIFICATES_OPTION },
  { "tls-psk",          required_argument, NULL, TLS_PSK_OPTION },
  { "tls-verify-peer",  no_argument,       NULL, TLS_VERIFY_PEER_OPTION },
  { "unix",             required_argument, NULL, 'U' },
  { "user",             required_argument, NULL, 'u' },
  { "verbose",          no_argument,       NULL, 'v' },
  { "version",          no_argument,       NULL, 'V' },
  { "vsock",            no_argument,       NULL, VSOCK_OPTION },
  { NULL },
};

static void
usage (void)
{
  printf (
"nbdkit [-4|--ipv4-only] [-6|--ipv6-only]\n"
"       [-D|--debug PLUGIN|FILTER|nbdkit.FLAG=N]\n"
"       [--exit-with-parent] [-e|--exportname EXPORTNAME]\n"
"       [--filter=FILTER ...] [-f|--foreground]\n"
"       [-g|--group GROUP] [-i|--ipaddr IPADDR]\n"
"       [--log=stderr|syslog|null] [--mask-handshake=MASK]\n"
"       [-n|--newstyle] [--no-sr] [-o|--oldstyle]\n"
"       [-P|--pidfile PIDFILE] [-p|--port PORT]\n"
"       [-r|--readonly] [--run 'COMMAND ARGS ...']\n"
"       [--selinux-label=LABEL] [-s|--single] [--swap]\n"
"       [-t|--threads THREADS] [--tls=off|on|require]\n"
"       [--tls-certificates=/path/to/certificates]\n"
"       [--tls-psk=/path/to/pskfile] [--tls-verify-peer]\n"
"       [-U|--unix SOCKET|-] [-u|--user USER]\n"
"       [-v|--verbose] [--vsock]\n"
"       PLUGIN [[KEY=]VALUE [KEY=VALUE [...]]]\n"
"\n"
"nbdkit --dump-config\n"
"\n"
"nbdkit PLUGIN --dump-plugin\n"
"\n"
"nbdkit --help\n"
"\n"
"nbdkit [-V|--version]\n"
"\n"
"Please read the nbdkit(1) manual page for full usage.\n");
}

static void
list_short_options (void)
{
  const char *p;

  for (p = short_options; *p; ++p)
    if (*p != ':')
      printf ("-%c\n", *p);
}

static void
list_long_options (void)
{
  const struct option *o;

  for (o = long_options; o->name; ++o)
    printf ("--%s\n", o->name);
}

static void
not_supported (const char *option)
{
  fprintf (stderr,
           "nbdkit: %s is not supported by this version of nbdkit\n",
           option);
  exit (EXIT_FAILURE);
}

/* Parse argv.  On return argv[*plugin_index] is the plugin (or
 * *plugin_index == argc if none was given) and the rest are plugin
 * parameters.
 */
void
parse_options (int argc, char *argv[], struct startup_actions *actions)
{
  int c;

  memset (actions, 0, sizeof *actions);
  config.mask_handshake = ~0U;

  for (;;) {
    c = getopt_long (argc, argv, short_options, long_options, NULL);
    if (c == -1)
      break;

    switch (c) {
    case '4':
      config.ipv4_only = true;
      config.ipv6_only = false;
      break;
    case '6':
      config.ipv6_only = true;
      config.ipv4_only = false;
      break;
    case 'D':
      add_debug_flag (optarg);
      break;
    case 'e':
      config.exportname = optarg;
      break;
    case 'f':
      config.foreground = true;
      break;
    case 'g':
      config.group = optarg;
      break;
    case 'i':
      config.ipaddr = optarg;
      break;
    case 'n':
      config.oldstyle = false;
      break;
    case 'o':
      config.oldstyle = true;
      break;
    case 'P':
      config.pidfile = optarg;
      break;
    case 'p':
      config.port = optarg;
      break;
    case 'r':
      config.readonly = true;
      break;
    case 's':
      config.single = true;
      break;
    case 't':
      if (nbdkit_parse_unsigned ("threads", optarg, &config.threads) == -1)
        exit (EXIT_FAILURE);
      break;
    case 'U':
      config.unixsocket = optarg;
      break;
    case 'u':
      config.user = optarg;
      break;
    case 'v':
      config.verbose = true;
      break;
    case 'V':
      actions->version = true;
      break;
    case DUMP_CONFIG_OPTION:
      actions->dump_config = true;
      break;
    case DUMP_PLUGIN_OPTION:
      config.dump_plugin = true;
      break;
    case EXIT_WITH_PARENT_OPTION:
      config.exit_with_parent = true;
      config.foreground = true;
      break;
    case FILTER_OPTION:
      /* Kept in command line order: the first is the outermost. */
      if (config.nr_filters == MAX_FILTERS) {
        fprintf (stderr, "nbdkit: too many --filter options (at most %d)\n",
                 MAX_FILTERS);
        exit (EXIT_FAILURE);
      }
      config.filters[config.nr_filters++] = optarg;
      break;
    case HELP_OPTION:
      actions->help = true;
      break;
    case LOG_OPTION:
      if (strcmp (optarg, "stderr") == 0)
        config.log_to = LOG_TO_STDERR;
      else if (strcmp (optarg, "syslog") == 0)
        config.log_to = LOG_TO_SYSLOG;
      else if (strcmp (optarg, "null") == 0)
        config.log_to = LOG_TO_NULL;
      else {
        fprintf (stderr,
                 "nbdkit: --log must be \"stderr\", \"syslog\" or \"null\"\n");
        exit (EXIT_FAILURE);
      }
      break;
    case LONG_OPTIONS_OPTION:
      list_long_options ();
      exit (EXIT_SUCCESS);
    case MASK_HANDSHAKE_OPTION:
      if (nbdkit_parse_unsigned ("mask-handshake", optarg,
                                 &config.mask_handshake) == -1)
        exit (EXIT_FAILURE);
      break;
    case NO_SR_OPTION:
      config.no_sr = true;
      break;
    case RUN_OPTION:
      config.run = optarg;
      config.foreground = true;
      break;
    case SELINUX_LABEL_OPTION:
      not_supported ("--selinux-label");
      break;
    case SHORT_OPTIONS_OPTION:
      list_short_options ();
      exit (EXIT_SUCCESS);
    case SWAP_OPTION:
      config.swap = true;
      break;
    case TLS_OPTION:
      /* Plain "off" (or any false word) is harmless and accepted. */
      if (strcmp (optarg, "require") != 0 &&
          strcmp (optarg, "required") != 0 &&
          strcmp (optarg, "force") != 0 &&
          nbdkit_parse_bool (optarg) == 0)
        break;
      not_supported ("--tls");
      break;
    case TLS_CERTIFICATES_OPTION:
      not_supported ("--tls-certificates");
      break;
    case TLS_PSK_OPTION:
      not_supported ("--tls-psk");
      break;
    case TLS_VERIFY_PEER_OPTION:
      not_supported ("--tls-verify-peer");
      break;
    case VSOCK_OPTION:
      not_supported ("--vsock");
      break;
    default:
      /* getopt_long has printed a message. */
      usage ();
      exit (EXIT_FAILURE);
    }
  }

  if (actions->help) {
    usage ();
    if (optind >= argc)
      exit (EXIT_SUCCESS);
  }

  actions->plugin_index = optind;
}

/* Check combinations that cannot work.  Called once the plugin
 * argument is known.
 */
void
check_option_combinations (bool have_plugin)
{
  const bool p = config.port != NULL;
  const bool u = config.unixsocket != NULL;
  const bool s = config.single;
  const bool r = config.run != NULL;
  const bool d = config.dump_plugin;

  if ((p && u) || (p && s) || (u && s) || (s && r) || (s && d)) {
    fprintf (stderr,
             "nbdkit: --dump-plugin, -p, --run, -s, -U or --vsock options "
             "cannot be used in this combination\n");
    exit (EXIT_FAILURE);
  }

  if (config.listen_fds > 0 &&
      (config.ipaddr || p || s || u || r)) {
    fprintf (stderr,
             "nbdkit: socket activation cannot be used with "
             "-i, -p, -s, -U or --run\n");
    exit (EXIT_FAILURE);
  }

  if (!have_plugin) {
    fprintf (stderr,
             "nbdkit: no plugins given on the command line.\n"
             "Use 'nbdkit --help' or read the nbdkit(1) manual page "
             "for documentation.\n");
    exit (EXIT_FAILURE);
  }

  if (config.single || config.listen_fds > 0)
    config.foreground = true;
}
