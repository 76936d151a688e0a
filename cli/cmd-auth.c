/* isoctl login and logout: POST /auth, and the credentials in isoctl's config file. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/auth.h"
#include "cli/isoctl-internal.h"
#include "common/json.h"
#include "common/util.h"

/* The most a password on stdin may be. */
#define PASSWORD_MAX ((size_t)64 * 1024)

/* Reads one line from the terminal on stdin, without echo when secret. The trailing newline is
 * dropped. malloc'd, NULL at end of input or on OOM. */
static char *prompt_line(const char *prompt, bool secret)
{
    struct termios old, quiet;
    bool restore = false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    fputs(prompt, stdout);
    fflush(stdout);
    if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    n = getline(&line, &cap, stdin);
    if (restore) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stdout);
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

/* All of stdin, without the line ending at its end (as docker's --password-stdin). */
static int read_password_stdin(char **ret, struct iso_err *err)
{
    _cleanup_free_ char *buf = malloc(PASSWORD_MAX + 1);
    ssize_t n;

    if (!buf)
        return iso_err_set(err, ENOMEM, "out of memory");
    n = iso_read_all(STDIN_FILENO, buf, PASSWORD_MAX + 1);
    if (n < 0)
        return iso_err_set_errno(err, (int)n, "read password from stdin");
    if ((size_t)n > PASSWORD_MAX)
        return iso_err_set(err, EFBIG, "password on stdin longer than 64 KiB");
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *ret = TAKE_PTR(buf);
    return 0;
}

/* Overwrites a secret before it is freed. */
static void wipe(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void wipep(char **s)
{
    wipe(*s);
}
#define _cleanup_wipe_ _cleanup_(wipep)

int ctl_cmd_login(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *user = NULL, *server = NULL, *path = NULL, *body = NULL;
    _cleanup_json_ json_t *resp = NULL, *config = NULL, *req_json = NULL;
    _cleanup_wipe_ char *password = NULL;
    const char *token, *status;
    struct iso_err err = {0};
    bool password_stdin = false;
    int c, r;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:u:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            free(user);
            user = strdup(optarg);
            if (!user)
                return ctl_oom();
            break;
        case 'p':
            wipe(password);
            password = strdup(optarg);
            if (!password)
                return ctl_oom();
            break;
        case 'S':
            password_stdin = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind > 1)
        return ctl_usage_error(cmd, "requires at most 1 argument");
    if (password && password_stdin)
        return ctl_usage_error(cmd, "--password and --password-stdin are mutually exclusive");
    if (password_stdin && !user)
        return ctl_usage_error(cmd, "must provide --username with --password-stdin");
    if (password)
        fputs("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n", stderr);

    server = ctl_auth_server_key(optind < argc ? argv[optind] : "");
    if (!server)
        return ctl_oom();

    r = 0;
    if (password_stdin)
        r = read_password_stdin(&password, &err);
    if (r >= 0 && (!user || !password) && !ctl_isatty(STDIN_FILENO))
        r = iso_err_set(&err, EINVAL, "cannot perform an interactive login from a non TTY device");
    if (r >= 0 && !user) {
        user = prompt_line("Username: ", false);
        if (!user)
            r = iso_err_set(&err, EINVAL, "username is required");
    }
    if (r >= 0 && !*user)
        r = iso_err_set(&err, EINVAL, "username cannot be empty");
    if (r >= 0 && !password) {
        password = prompt_line("Password: ", true);
        if (!password)
            r = iso_err_set(&err, EINVAL, "password is required");
    }
    if (r >= 0 && !*password)
        r = iso_err_set(&err, EINVAL, "password is required");
    if (r < 0)
        return ctl_report(&err);

    req_json = json_pack("{s:s, s:s, s:s}", "username", user, "password", password, "serveraddress",
                         server);
    body = req_json ? iso_json_dump(req_json) : NULL;
    if (!body)
        return ctl_oom();
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    const struct ctl_http_request req = {.method = "POST",
                                         .target = "/auth",
                                         .headers = headers,
                                         .body = body,
                                         .body_len = strlen(body)};
    r = ctl_client_call_json(cl, &req, &resp, &err);
    explicit_bzero(body, strlen(body));
    /* The request object holds a copy of the password too. */
    json_object_set_new(req_json, "password", json_string(""));
    if (r < 0)
        return ctl_report(&err);

    token = json_string_value(json_object_get(resp, "IdentityToken"));
    r = ctl_auth_config_path(&path, &err);
    if (r >= 0)
        r = ctl_auth_load(path, &config, &err);
    if (r >= 0 && ctl_auth_set(config, server, user, password, token) < 0)
        r = iso_err_set(&err, ENOMEM, "out of memory");
    if (r >= 0)
        r = ctl_auth_save(path, config, &err);
    if (r < 0)
        return ctl_report(&err);

    fprintf(stderr, "WARNING! Your password is stored unencrypted in '%s'.\n", path);
    status = json_string_value(json_object_get(resp, "Status"));
    printf("%s\n", status && *status ? status : "Login Succeeded");
    return CTL_EXIT_OK;
}

int ctl_cmd_logout(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_free_ char *server = NULL, *path = NULL;
    _cleanup_json_ json_t *config = NULL;
    struct iso_err err = {0};
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (argc - optind > 1)
        return ctl_usage_error(cmd, "requires at most 1 argument");

    server = ctl_auth_server_key(optind < argc ? argv[optind] : "");
    if (!server)
        return ctl_oom();
    r = ctl_auth_config_path(&path, &err);
    if (r >= 0)
        r = ctl_auth_load(path, &config, &err);
    if (r < 0)
        return ctl_report(&err);

    if (ctl_auth_remove(config, server) == 0) {
        printf("Not logged in to %s\n", server);
        return CTL_EXIT_OK;
    }
    printf("Removing login credentials for %s\n", server);
    r = ctl_auth_save(path, config, &err);
    if (r < 0)
        return ctl_report(&err);
    return CTL_EXIT_OK;
}
