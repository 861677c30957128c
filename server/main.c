/* main.c: start-up, in the order nbdkit does it.
 *
 *   parse options -> load plugin, then filters (.load) -> --help / --version ->
 *   .config for each parameter -> (--dump-plugin) -> .config_complete ->
 *   thread model -> .get_ready -> stdin/stdout to /dev/null -> bind ->
 *   --run fork -> change user -> daemonize -> pid file -> .after_fork ->
 *   serve -> (signal) -> wait for connections -> .cleanup -> .unload
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <poll.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "internal.h"

/* Copies of the original stdin/stdout, for -s and --run. */
int saved_stdin = -1, saved_stdout = -1;

/* Config keys are handed to the plugin, which may keep the pointers for
 * as long as it is loaded.
 */
static struct string_vector config_keys;

static void
dump_config (void)
{
  CLEANUP_FREE char *binary = realpath ("/proc/self/exe", NULL);

  printf ("binary=%s\n", binary ? binary : "nbdkit");
  printf ("bindir=%s\n", BINDIR);
  printf ("exit_with_parent=yes\n");
  printf ("filterdir=%s\n", FILTERDIR);
  printf ("host_cpu=%s\n", HOST_CPU);
  printf ("host_os=linux-gnu\n");
  printf ("libdir=%s\n", LIBDIR);
  printf ("mandir=%s\n", MANDIR);
  printf ("name=nbdkit\n");
  printf ("plugindir=%s\n", PLUGINDIR);
  printf ("root_tls_certificates_dir=%s/pki/nbdkit\n", SYSCONFDIR);
  printf ("sbindir=%s\n", SBINDIR);
  printf ("selinux=no\n");
  printf ("sysconfdir=%s\n", SYSCONFDIR);
  printf ("tls=no\n");
  printf ("version=%s\n", PACKAGE_VERSION);
  printf ("version_major=%d\n", PACKAGE_VERSION_MAJOR);
  printf ("version_minor=%d\n", PACKAGE_VERSION_MINOR);
  printf ("zstd=no\n");
}

/* A key is [A-Za-z][A-Za-z0-9._-]*; anything else is a bare value. */
static bool
is_config_key (const char *s, size_t len)
{
  size_t i;

  if (len == 0)
    return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return false;
  for (i = 1; i < len; ++i) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static void
config_top (const char *key, const char *value)
{
  top->config (top, key, value);
}

static void
configure_plugin (int argc, char *argv[], int plugin_index)
{
  const char *magic = top->magic_config_key (top);
  int i;

  for (i = plugin_index + 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *eq = strchr (arg, '=');

    if (eq && is_config_key (arg, eq - arg)) {
      char *key = strndup (arg, eq - arg);

      if (key == NULL || string_vector_append (&config_keys, key) == -1)
        fatal ("strndup: %m");
      config_top (key, eq + 1);
    }
    else if (magic)
      config_top (magic, arg);
    else if (i == plugin_index + 1)
      config_top ("script", arg);
    else {
      fprintf (stderr,
               "nbdkit: expecting key=value on the command line but got: "
               "%s\n", arg);
      exit (EXIT_FAILURE);
    }
  }
}

/* An installed script plugin: exec it with our arguments minus the
 * plugin name; its #! line runs nbdkit again with the right plugin.
 */
static void
exec_script_plugin (const char *script, int argc, char *argv[],
                    int plugin_index)
{
  char **nargv = calloc (argc + 1, sizeof *nargv);
  int i, j = 0;

  if (nargv == NULL)
    fatal ("calloc: %m");
  nargv[j++] = (char *) script;
  for (i = 1; i < argc; ++i)
    if (i != plugin_index)
      nargv[j++] = argv[i];
  nargv[j] = NULL;
  debug ("executing script plugin %s", script);
  execv (script, nargv);
  fatal ("%s: exec: %m", script);
}

/* -U -: a private socket in a new temporary directory. */
static void
make_private_socket (void)
{
  char tmpl[] = "/tmp/nbdkitXXXXXX";
  char *path;

  if (mkdtemp (tmpl) == NULL)
    fatal ("mkdtemp: /tmp: %m");
  config.unixsocket_tmpdir = strdup (tmpl);
  if (config.unixsocket_tmpdir == NULL ||
      asprintf (&path, "%s/socket", tmpl) == -1)
    fatal ("strdup: %m");
  config.unixsocket = path;
}

static void
remove_private_socket (void)
{
  if (config.unixsocket_tmpdir == NULL)
    return;
  unlink (config.unixsocket);
  rmdir (config.unixsocket_tmpdir);
}

/* Keep copies of stdin/stdout for -s and --run, then point 0 and 1 at
 * /dev/null so that nothing else (plugins included) can read the
 * client's data or corrupt the protocol stream.
 */
static void
switch_stdio (void)
{
  int fd;

  if (config.single || config.run) {
    saved_stdin = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    saved_stdout = fcntl (STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (saved_stdin == -1 || saved_stdout == -1)
      fatal ("fcntl: F_DUPFD_CLOEXEC: %m");
  }
  fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd == -1)
    fatal ("/dev/null: %m");
  if (dup2 (fd, STDIN_FILENO) == -1 || dup2 (fd, STDOUT_FILENO) == -1)
    fatal ("dup2: %m");
  close (fd);
}

static void
check_standard_fds (void)
{
  int fd;

  for (fd = 0; fd <= 2; ++fd)
    if (fcntl (fd, F_GETFL) == -1) {
      /* We may have no stderr to complain on. */
      exit (EXIT_FAILURE);
    }
}

static void
wait_for_quit (void)
{
  struct pollfd pfd = { .fd = quit_fd, .events = POLLIN };

  while (!quit)
    if (poll (&pfd, 1, -1) == -1 && errno != EINTR)
      fatal ("poll: %m");
}

int
main (int argc, char *argv[])
{
  struct startup_actions actions;
  const char *plugin_arg = NULL;
  char *filename;
  bool is_script;
  size_t i;
  int *socks = NULL;
  size_t nr_socks = 0;

  check_standard_fds ();
  umask (0022);

  config.listen_fds = get_socket_activation ();
  config.is_socket_activation = config.listen_fds > 0;

  parse_options (argc, argv, &actions);
  log_init ();
  debug ("nbdkit %s", PACKAGE_VERSION);

  if (actions.dump_config) {
    dump_config ();
    exit (EXIT_SUCCESS);
  }

  if (actions.plugin_index < argc)
    plugin_arg = argv[actions.plugin_index];

  if (plugin_arg == NULL) {
    if (actions.version) {
      printf ("nbdkit %s\n", PACKAGE_VERSION);
      exit (EXIT_SUCCESS);
    }
    if (config.dump_plugin) {
      fprintf (stderr,
               "nbdkit: use 'nbdkit plugin --dump-plugin' or\n"
               "'nbdkit /path/to/plugin.so --dump-plugin' or\n"
               "if you want to find out about the server use "
               "--dump-config\n");
      exit (EXIT_FAILURE);
    }
  }
  check_option_combinations (plugin_arg != NULL);

  if (config.exit_with_parent &&
      prctl (PR_SET_PDEATHSIG, SIGTERM) == -1)
    fatal ("prctl: PR_SET_PDEATHSIG: %m");

  filename = plugin_find (plugin_arg, &is_script);
  if (is_script)
    exec_script_plugin (filename, argc, argv, actions.plugin_index);
  /* Plugins may read stdin (eg. password=-) until configuration ends. */
  in_configuration_phase = true;
  /* The plugin is loaded first, then the filters from the innermost
   * (last on the command line) outwards, each .load as it comes.
   */
  top = plugin_register (plugin_arg, filename); /* owns filename */
  for (i = config.nr_filters; i > 0; --i)
    top = filter_register (top, config.filters[i-1]);
  nr_layers = top->index + 1;

  apply_debug_flags (RTLD_DEFAULT, "nbdkit");
  free_debug_flags ();

  if (actions.help) {
    top->usage (top);
    top->unload (top);
    exit (EXIT_SUCCESS);
  }
  if (actions.version) {
    printf ("nbdkit %s\n", PACKAGE_VERSION);
    top->version (top);
    top->unload (top);
    exit (EXIT_SUCCESS);
  }

  configure_plugin (argc, argv, actions.plugin_index);

  if (config.dump_plugin) {
    lock_init_thread_model ();
    top->dump_fields (top);
    top->unload (top);
    string_vector_free_all (&config_keys);
    exit (EXIT_SUCCESS);
  }

  top->config_complete (top);
  in_configuration_phase = false;
  lock_init_thread_model ();
  top->get_ready (top);

  if (config.swap && mlockall (MCL_CURRENT | MCL_FUTURE) == -1)
    fatal ("mlockall: %m");

  if (config.unixsocket && strcmp (config.unixsocket, "-") == 0)
    make_private_socket ();
  /* The daemon changes directory to /, so remember where -P points. */
  if (config.pidfile) {
    char *abs = nbdkit_absolute_path (config.pidfile);

    if (abs == NULL)
      exit (EXIT_FAILURE);
    config.pidfile = abs;
  }

  switch_stdio ();

  if (config.listen_fds > 0)
    socks = bind_socket_activation (&nr_socks);
  else if (config.unixsocket)
    socks = bind_unix_socket (&nr_socks);
  else if (!config.single)
    socks = bind_tcpip_socket (&nr_socks);

  run_command ();
  change_user ();
  fork_into_background ();
  write_pidfile ();

  /* Only the serving process reacts to signals and quits. */
  set_up_quit_pipe ();
  set_up_signals ();
  if (config.exit_with_parent && prctl (PR_SET_PDEATHSIG, SIGTERM) == -1)
    fatal ("prctl: PR_SET_PDEATHSIG: %m");

  top->after_fork (top);

  if (config.single) {
    start_connection_thread (saved_stdin, saved_stdout);
    saved_stdin = saved_stdout = -1;
    wait_for_quit ();
  }
  else
    accept_incoming_connections (socks, nr_socks);
  free (socks);

  debug ("shutting down: waiting for connections to finish");
  connections_shutdown_all ();

  top->cleanup (top);
  top->unload (top);
  remove_private_socket ();
  string_vector_free_all (&config_keys);
  close_quit_pipe ();
  debug ("exiting");
  exit (EXIT_SUCCESS);
}
