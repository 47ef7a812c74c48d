/* argv into settings, settings into the cli: whole option names only (no
 * getopt_long prefix matching: --user is never taken for --user-agent),
 * a suggestion for an unknown name, and the usage mistakes refused before
 * anything runs. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli.h"
#include "config.h"
#include "values.h"

int cli_usage_error(const struct cli_setting *where, const char *fmt, ...)
{
    va_list args;
    fprintf(stderr, "edgefetch: ");
    if (where != NULL && where->file != NULL)
        fprintf(stderr, "%s:%u: ", where->file, where->line);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nTry 'edgefetch --help' for more information.\n");
    return -EINVAL;
}

int cli_settings_add(struct cli_settings *settings, const struct cli_setting *setting)
{
    if (settings->count == settings->capacity) {
        size_t capacity = settings->capacity ? settings->capacity * 2 : 32;
        struct cli_setting *grown = realloc(settings->items, capacity * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        settings->items = grown;
        settings->capacity = capacity;
    }
    settings->items[settings->count++] = *setting;
    return 0;
}

int cli_settings_keep(struct cli_settings *settings, char *text)
{
    if (settings->text_count == settings->text_capacity) {
        size_t capacity = settings->text_capacity ? settings->text_capacity * 2 : 4;
        char **grown = realloc(settings->texts, capacity * sizeof(*grown));
        if (grown == NULL) {
            free(text);
            return -ENOMEM;
        }
        settings->texts = grown;
        settings->text_capacity = capacity;
    }
    settings->texts[settings->text_count++] = text;
    return 0;
}

void cli_settings_finish(struct cli_settings *settings)
{
    for (size_t i = 0; i < settings->text_count; i++)
        free(settings->texts[i]);
    free(settings->texts);
    free(settings->items);
    memset(settings, 0, sizeof(*settings));
}

void cli_finish(struct cli *cli)
{
    cli_settings_finish(&cli->settings);
    free(cli->urls);
    cli->urls = NULL;
}

/* ---- values ------------------------------------------------------------ */

/* --cacert is read by libcurl per transfer, so a missing file would fail
 * every https item one by one: it is opened and read once, at start. */
static int check_cacert(const struct cli_setting *s)
{
    FILE *file = fopen(s->value, "r");
    if (file == NULL)
        return cli_usage_error(s, "--cacert '%s': %s", s->value, strerror(errno));
    int first = fgetc(file);
    int read_errno = ferror(file) ? errno : 0;
    fclose(file);
    if (first == EOF)
        return cli_usage_error(s, "--cacert '%s': %s", s->value,
                               read_errno != 0 ? strerror(read_errno) : "empty file");
    return 0;
}

/* What every value of a kind must not be: a file or folder name that is a
 * URL or an option swallowed the next word (`--cacert https://...` took the
 * URL; `--cacert -k` the option). */
static int check_value_kind(const struct cli_setting *s, const char *spelled)
{
    const char *v = s->value;
    enum opt_value kind = s->opt->value;
    if (kind != OPT_VALUE_FILE && kind != OPT_VALUE_LIST && kind != OPT_VALUE_DIR)
        return 0;
    const char *what = kind == OPT_VALUE_DIR ? "folder" : "file";
    if (v[0] == '\0')
        return cli_usage_error(s, "%s wants a %s name, not an empty one", spelled, what);
    if (strstr(v, "://") != NULL)
        return cli_usage_error(s, "%s wants a %s name, not the URL '%s'", spelled, what, v);
    if (strcmp(v, "-") == 0 && kind == OPT_VALUE_DIR)
        return cli_usage_error(s,
                               "%s wants a folder, not '-': the edge maps are files in a folder, "
                               "standard output cannot hold them (use -o ./- for a folder so "
                               "named)",
                               spelled);
    if (v[0] == '-' && strcmp(v, "-") != 0)
        return cli_usage_error(s, "%s wants a %s name, not the option '%s'", spelled, what, v);
    if (strcmp(v, "-") == 0 && kind != OPT_VALUE_LIST)
        return cli_usage_error(s, "%s wants a file name, not '-'", spelled);
    return 0;
}

/* ---- argv -------------------------------------------------------------- */

static int unknown_long(const char *name, size_t length)
{
    const char *near = options_suggest(name, length);
    if (near != NULL)
        return cli_usage_error(NULL, "unknown option '--%.*s' (did you mean --%s?)", (int)length,
                               name, near);
    return cli_usage_error(NULL, "unknown option '--%.*s'", (int)length, name);
}

/* Short spellings, for messages: "-j" for 'j'. A short name missing here is
 * said by its long name (NULL spelled), never wrongly. */
static const char *const short_spelled[128] = {
    ['i'] = "-i", ['o'] = "-o", ['j'] = "-j", ['w'] = "-w", ['K'] = "-K",
    ['k'] = "-k", ['A'] = "-A", ['H'] = "-H", ['u'] = "-u", ['x'] = "-x",
    ['q'] = "-q", ['s'] = "-s", ['v'] = "-v", ['h'] = "-h",
};

/* argv into settings and URL arguments, in order. "--" ends the options. */
static int read_argv(int argc, char **argv, struct cli *cli)
{
    bool options_done = false;
    cli->urls = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*cli->urls));
    if (cli->urls == NULL)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        struct cli_setting s = {0};
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            cli->urls[cli->url_count++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *equals = strchr(name, '=');
            size_t length = equals != NULL ? (size_t)(equals - name) : strlen(name);
            s.opt = options_find_long(name, length);
            if (s.opt == NULL)
                return unknown_long(name, length);
            /* NULL: said as "--name" (without "=value") in messages. */
            s.spelled = equals != NULL ? NULL : arg;
            if (s.opt->arg == NULL && equals != NULL)
                return cli_usage_error(NULL, "option '--%s' takes no value", s.opt->name);
            if (s.opt->arg != NULL) {
                if (equals != NULL)
                    s.value = equals + 1;
                else if (i + 1 < argc)
                    s.value = argv[++i];
                else
                    return cli_usage_error(NULL, "option '--%s' needs a value (%s)", s.opt->name,
                                           s.opt->arg);
            }
            if (cli_settings_add(&cli->settings, &s) < 0)
                return -ENOMEM;
            continue;
        }
        /* Short options, bundled (-qv) or with the value attached (-j4). */
        for (const char *p = arg + 1; *p != '\0'; p++) {
            unsigned char c = (unsigned char)*p;
            s.opt = c < 128 ? options_find_short((char)c) : NULL;
            if (s.opt == NULL)
                return cli_usage_error(NULL, "unknown option '-%c'", c);
            s.spelled = short_spelled[c];
            s.value = NULL;
            if (s.opt->arg != NULL) {
                if (p[1] != '\0')
                    s.value = p + 1;
                else if (i + 1 < argc)
                    s.value = argv[++i];
                else
                    return cli_usage_error(NULL, "option '-%c' needs a value (%s)", c, s.opt->arg);
            }
            if (cli_settings_add(&cli->settings, &s) < 0)
                return -ENOMEM;
            if (s.value != NULL)
                break;
        }
    }
    return 0;
}

/* ---- settings into the cli --------------------------------------------- */

static bool is_mode(enum opt_id id)
{
    return id == OPT_CONCURRENT || id == OPT_SEQUENTIAL || id == OPT_COMPARE;
}

static int apply(struct cli *cli, const struct cli_setting *s, bool *canny_tuned)
{
    const char *v = s->value;
    char spelled[96];
    const char *as = s->spelled;
    uint64_t size;
    unsigned value;
    long ms;

    if (as == NULL) {
        snprintf(spelled, sizeof(spelled), "--%s", s->opt->name);
        as = spelled;
    }
    if (s->value != NULL && check_value_kind(s, as) < 0)
        return -EINVAL;
    switch (s->opt->id) {
    case OPT_INPUT:
        cli->input = v;
        break;
    case OPT_INPUT_FORMAT:
        cli->list_format_auto = strcmp(v, "auto") == 0;
        if (strcmp(v, "plain") == 0)
            cli->list.format = IO_LIST_PLAIN;
        else if (strcmp(v, "csv") == 0)
            cli->list.format = IO_LIST_CSV;
        else if (strcmp(v, "tsv") == 0)
            cli->list.format = IO_LIST_TSV;
        else if (strcmp(v, "jsonl") == 0)
            cli->list.format = IO_LIST_JSONL;
        else if (!cli->list_format_auto)
            return cli_usage_error(s, "unknown list format '%s' (%s)", v, s->opt->choices);
        break;
    case OPT_URL_COLUMN:
    case OPT_URL_FIELD:
    case OPT_NAME_COLUMN:
        if (v[0] == '\0')
            return cli_usage_error(s, "%s wants a name, not ''", as);
        if (s->opt->id == OPT_URL_COLUMN)
            cli->url_column = v;
        else if (s->opt->id == OPT_NAME_COLUMN)
            cli->list.name_column = v;
        else
            cli->url_field = v;
        break;
    case OPT_OUTPUT:
        cli->output_dir = v;
        cli->pl.output_dir = v;
        break;
    case OPT_CONCURRENT:
        cli->mode = CLI_MODE_CONCURRENT;
        break;
    case OPT_SEQUENTIAL:
        cli->mode = CLI_MODE_SEQUENTIAL;
        break;
    case OPT_COMPARE:
        cli->mode = CLI_MODE_COMPARE;
        break;
    case OPT_DRY_RUN:
        cli->dry_run = true;
        break;
    case OPT_MAX_DOWNLOADS:
        if (values_parse_uint(v, 1, 1024, &cli->pl.max_downloads) < 0)
            return cli_usage_error(s, "%s wants a number from 1 to 1024, not '%s'", as, v);
        break;
    case OPT_WORKERS:
        if (values_parse_uint(v, 1, 1024, &cli->pl.workers) < 0)
            return cli_usage_error(s, "%s wants a number from 1 to 1024, not '%s'", as, v);
        break;
    case OPT_MAX_PER_HOST:
        if (values_parse_uint(v, 1, 1024, &cli->pl.max_per_host) < 0)
            return cli_usage_error(s, "%s wants a number from 1 to 1024, not '%s'", as, v);
        break;
    case OPT_RATE_LIMIT:
        if (values_parse_size(v, true, &size) < 0 || size == 0)
            return cli_usage_error(s, "%s wants bytes per second (k/M/G allowed), not '%s'", as, v);
        cli->pl.http.rate_limit = size;
        break;
    case OPT_JSON:
        cli->json = true;
        break;
    case OPT_FORCE:
        cli->pl.force = true;
        break;
    case OPT_NO_FSYNC:
        cli->pl.no_fsync = true;
        break;
    case OPT_SHARD:
        if (values_parse_shard(v, &cli->pl.shard_index, &cli->pl.shard_count) < 0)
            return cli_usage_error(s, "%s wants K/N with 0 <= K < N (e.g. 0/4), not '%s'", as, v);
        break;
    case OPT_LAYOUT:
        if (strcmp(v, "readable") == 0)
            cli->pl.layout = IO_LAYOUT_READABLE;
        else if (strcmp(v, "positional") == 0)
            cli->pl.layout = IO_LAYOUT_POSITIONAL;
        else
            return cli_usage_error(s, "unknown layout '%s' (%s)", v, s->opt->choices);
        break;
    case OPT_OUTPUT_FORMAT:
        if (strcmp(v, "png") != 0 && strcmp(v, "tar") != 0)
            return cli_usage_error(s, "unknown output format '%s' (%s)", v, s->opt->choices);
        cli->tar_output = strcmp(v, "tar") == 0;
        break;
    case OPT_PROGRESS:
    case OPT_NO_PROGRESS:
        cli->progress = s->opt->id == OPT_PROGRESS;
        break;
    case OPT_CONFIG:
    case OPT_NO_CONFIG:
        break; /* read before anything is applied */
    case OPT_OPERATOR:
        if (img_operator_from_name(v, &cli->pl.op) < 0)
            return cli_usage_error(s, "unknown operator '%s' (%s)", v, s->opt->choices);
        break;
    case OPT_SIGMA:
    case OPT_LOW:
    case OPT_HIGH: {
        double *target = s->opt->id == OPT_SIGMA ? &cli->pl.canny.sigma
                         : s->opt->id == OPT_LOW ? &cli->pl.canny.low
                                                 : &cli->pl.canny.high;
        if (values_parse_real(v, target) < 0)
            return cli_usage_error(s, "%s wants a number, not '%s'", as, v);
        *canny_tuned = true;
        break;
    }
    case OPT_PNG_LEVEL:
        if (values_parse_uint(v, 0, 9, &value) < 0)
            return cli_usage_error(s, "%s wants 0 to 9, not '%s'", as, v);
        cli->pl.png_level = (int)value;
        break;
    case OPT_MAX_PIXELS:
        if (values_parse_size(v, false, &size) < 0 || size == 0)
            return cli_usage_error(s, "%s wants a positive number (k/M/G allowed), not '%s'", as,
                                   v);
        cli->pl.max_pixels = size;
        break;
    case OPT_MAX_MEMORY:
        if (values_parse_size(v, true, &size) < 0 || size == 0 || size > SIZE_MAX / 2)
            return cli_usage_error(s, "%s wants a positive byte count (k/M/G allowed), not '%s'",
                                   as, v);
        cli->pl.max_memory = (size_t)size;
        break;
    case OPT_TIMEOUT:
        if (values_parse_seconds(v, &cli->pl.http.timeout_ms) < 0)
            return cli_usage_error(s, "%s wants seconds, not '%s'", as, v);
        break;
    case OPT_CONNECT_TIMEOUT:
        if (values_parse_seconds(v, &cli->pl.http.connect_timeout_ms) < 0)
            return cli_usage_error(s, "%s wants seconds, not '%s'", as, v);
        break;
    case OPT_MAX_SIZE:
        if (values_parse_size(v, true, &size) < 0 || size == 0 || size > SIZE_MAX / 2)
            return cli_usage_error(s, "%s wants a positive byte count (k/M/G allowed), not '%s'",
                                   as, v);
        cli->pl.http.max_body = (size_t)size;
        break;
    case OPT_MAX_REDIRS:
        if (values_parse_uint(v, 0, 100, &value) < 0)
            return cli_usage_error(s, "%s wants 0 to 100, not '%s'", as, v);
        cli->pl.http.max_redirs = (long)value;
        break;
    case OPT_RETRIES:
        if (values_parse_uint(v, 0, 100, &value) < 0)
            return cli_usage_error(s, "%s wants 0 to 100, not '%s'", as, v);
        cli->pl.retries = value;
        break;
    case OPT_RETRY_DELAY:
    case OPT_RETRY_MAX_WAIT:
        if (values_parse_seconds(v, &ms) < 0)
            return cli_usage_error(s, "%s wants seconds, not '%s'", as, v);
        if (s->opt->id == OPT_RETRY_DELAY)
            cli->pl.retry_base_s = (double)ms / 1000.0;
        else
            cli->pl.retry_after_max_s = (double)ms / 1000.0;
        break;
    case OPT_HOST_COOLDOWN:
        if (values_parse_seconds(v, &ms) < 0)
            return cli_usage_error(s, "%s wants seconds, not '%s'", as, v);
        cli->pl.host_cooldown_ms = (uint64_t)ms;
        break;
    case OPT_LOW_SPEED_LIMIT:
        if (values_parse_size(v, true, &size) < 0 || size == 0 || size > LONG_MAX)
            return cli_usage_error(s, "%s wants bytes per second, not '%s'", as, v);
        cli->pl.http.low_speed_limit = (long)size;
        break;
    case OPT_LOW_SPEED_TIME:
        if (values_parse_seconds(v, &ms) < 0 || ms < 1000)
            return cli_usage_error(s, "%s wants whole seconds (>= 1), not '%s'", as, v);
        cli->pl.http.low_speed_time_s = ms / 1000;
        break;
    case OPT_CACERT:
        cli->pl.http.cacert = v;
        break;
    case OPT_INSECURE:
        cli->pl.http.insecure = true;
        break;
    case OPT_USER_AGENT:
        /* A CR or LF would end the header and start another one. */
        if (strpbrk(v, "\r\n") != NULL)
            return cli_usage_error(s, "%s (--user-agent) must be one line, not '%s'", as, v);
        cli->pl.http.user_agent = v;
        break;
    case OPT_HEADER:
        /* "Name: value", or "Name;" for an empty value (as curl). */
        if (strpbrk(v, ":;") == NULL || v[0] == ':' || strpbrk(v, "\r\n") != NULL)
            return cli_usage_error(s, "%s (-H/--header) wants 'Name: value', not '%s'", as, v);
        if (cli->pl.http.header_count == CLI_MAX_HEADERS)
            return cli_usage_error(s, "at most %d -H/--header options, '%s' is one too many",
                                   CLI_MAX_HEADERS, v);
        cli->headers[cli->pl.http.header_count++] = v;
        break;
    case OPT_USER:
        /* The password is not echoed back in the message. */
        if (strchr(v, ':') == NULL || v[0] == ':' || strpbrk(v, "\r\n") != NULL)
            return cli_usage_error(s, "%s (-u/--user) wants USER:PASSWORD", as);
        cli->pl.http.userpwd = v;
        break;
    case OPT_NETRC:
        cli->pl.http.netrc = true;
        break;
    case OPT_NETRC_FILE:
        cli->pl.http.netrc = true;
        cli->pl.http.netrc_file = v;
        break;
    case OPT_PROXY:
        if (v[0] == '\0' || strpbrk(v, " \r\n") != NULL)
            return cli_usage_error(s, "%s (-x/--proxy) wants [scheme://]host[:port], not '%s'", as,
                                   v);
        cli->pl.http.proxy = v;
        break;
    case OPT_QUIET:
        cli->verbose = CLI_QUIET;
        break;
    case OPT_SILENT:
        cli->verbose = CLI_SILENT;
        break;
    case OPT_VERBOSE:
        cli->verbose = CLI_VERBOSE;
        break;
    case OPT_HELP:
    case OPT_VERSION:
    case OPT_COUNT:
        break;
    }
    return 0;
}

/* Two modes from one source (the command line, or one file) contradict
 * each other; a mode on the command line over one in a config file is an
 * override. */
static int check_modes(const struct cli_settings *settings)
{
    for (size_t i = 0; i < settings->count; i++) {
        const struct cli_setting *a = &settings->items[i];
        if (!is_mode(a->opt->id))
            continue;
        for (size_t j = i + 1; j < settings->count; j++) {
            const struct cli_setting *b = &settings->items[j];
            bool same_source = a->file == b->file || (a->file != NULL && b->file != NULL &&
                                                      strcmp(a->file, b->file) == 0);
            if (is_mode(b->opt->id) && b->opt->id != a->opt->id && same_source)
                return cli_usage_error(b, "--%s and --%s together: pick one mode", a->opt->name,
                                       b->opt->name);
        }
    }
    return 0;
}

static void usage(FILE *out, const struct pl_options *defaults)
{
    fputs("Usage: edgefetch [OPTIONS] [-i LIST] [URL...]\n"
          "Download images concurrently and write an edge map (PNG) of each.\n"
          "Long options are taken by their whole name only.\n\n",
          out);
    options_print_help(out, defaults);
    fputs("Exit status: 0 all items ok or skipped; 1 some items failed (the others were\n"
          "written); 2 usage error or nothing could run; 130/143 stopped by SIGINT or\n"
          "SIGTERM; 141 stopped because --json output could not be written (the reader\n"
          "closed it).\n"
          "\n"
          "Examples:\n"
          "  edgefetch -i urls.txt -o out/\n"
          "  edgefetch --compare -i urls.txt -o out/\n"
          "  cat urls.txt | edgefetch -i - -o out/\n"
          "  edgefetch -o out/ https://example.org/a.jpg https://example.org/b.png\n"
          "  edgefetch -q --json -i urls.txt -o out/ >> results.ndjson  # cron: resumes\n"
          "  edgefetch --shard 2/8 --json -i urls.txt -o /shared/out/  # one of 8 machines\n"
          "  edgefetch --max-per-host 2 --rate-limit 1M \\\n"
          "            -H 'Referer: https://example.org/' -i urls.txt -o out/\n"
          "See edgefetch(1) for the config file, Slurm and Kubernetes examples.\n",
          out);
}

static void print_version(void)
{
    printf("edgefetch %s\n", EDGEFETCH_VERSION);
    printf("  %s\n", io_curl_version());
    printf("  libuv/%s\n", uv_version_string());
    printf("  %s\n", img_library_versions());
}

/* The config files' settings go first, so that argv's win: the default
 * file (unless --no-config), then each --config in order. */
static int read_configs(struct cli *cli)
{
    struct cli_settings from_argv = cli->settings;
    struct cli_settings merged = {0};
    bool no_default = false;
    int rc = 0;

    for (size_t i = 0; i < from_argv.count; i++)
        if (from_argv.items[i].opt->id == OPT_NO_CONFIG)
            no_default = true;
    if (!no_default) {
        char path[4096];
        if (config_default_path(path, sizeof(path)) == 0) {
            char *kept = strdup(path);
            if (kept == NULL || cli_settings_keep(&merged, kept) < 0) {
                rc = -ENOMEM;
                goto out;
            }
            rc = config_read(kept, true, &merged);
            if (rc < 0)
                goto out;
        }
    }
    for (size_t i = 0; i < from_argv.count; i++) {
        if (from_argv.items[i].opt->id != OPT_CONFIG)
            continue;
        rc = config_read(from_argv.items[i].value, false, &merged);
        if (rc < 0)
            goto out;
    }
    for (size_t i = 0; i < from_argv.count; i++) {
        rc = cli_settings_add(&merged, &from_argv.items[i]);
        if (rc < 0)
            goto out;
    }
out:
    /* merged owns the config texts; argv's list owned none. */
    free(from_argv.items);
    cli->settings = merged;
    if (rc == -ENOMEM)
        fprintf(stderr, "edgefetch: out of memory\n");
    return rc;
}

/* Whether the command line or a config file set option `id`. */
static bool given(const struct cli_settings *settings, enum opt_id id)
{
    for (size_t i = 0; i < settings->count; i++)
        if (settings->items[i].opt->id == id)
            return true;
    return false;
}

int cli_parse(int argc, char **argv, struct cli *cli)
{
    bool canny_tuned = false;
    int rc;

    memset(cli, 0, sizeof(*cli));
    cli->progress = -1;
    cli->fds_at_start = -1;
    pl_options_init(&cli->pl);
    io_list_options_init(&cli->list);
    cli->list_format_auto = true;
    cli->output_dir = cli->pl.output_dir;

    rc = read_argv(argc, argv, cli);
    if (rc < 0)
        return -EINVAL;
    /* --help and --version before any config file: a broken one must not
     * hide the help. */
    for (size_t i = 0; i < cli->settings.count; i++) {
        enum opt_id id = cli->settings.items[i].opt->id;
        if (id == OPT_HELP) {
            usage(stdout, &cli->pl);
            return 1;
        }
        if (id == OPT_VERSION) {
            print_version();
            return 1;
        }
    }
    if (read_configs(cli) < 0)
        return -EINVAL;
    if (check_modes(&cli->settings) < 0)
        return -EINVAL;
    for (size_t i = 0; i < cli->settings.count; i++)
        if (apply(cli, &cli->settings.items[i], &canny_tuned) < 0)
            return -EINVAL;
    if (canny_tuned && cli->pl.op != IMG_OP_CANNY)
        return cli_usage_error(NULL, "--sigma, --low and --high need --operator canny");
    char canny_err[128];
    if (img_canny_options_check(&cli->pl.canny, canny_err, sizeof(canny_err)) < 0)
        return cli_usage_error(NULL, "%s", canny_err);
    for (size_t i = cli->settings.count; i-- > 0;) {
        const struct cli_setting *s = &cli->settings.items[i];
        if (s->opt->id == OPT_CACERT) {
            if (check_cacert(s) < 0)
                return -EINVAL;
            break;
        }
    }
    if (cli->mode == CLI_MODE_COMPARE && !given(&cli->settings, OPT_MAX_DOWNLOADS))
        cli->pl.max_downloads = PL_LESSON_DOWNLOADS;
    /* The cap adapts only when nobody chose it: an explicit -j (command
     * line or config) is kept exactly, and --compare reproduces the
     * lesson's fixed 4. */
    if (given(&cli->settings, OPT_MAX_DOWNLOADS) || cli->mode != CLI_MODE_CONCURRENT)
        cli->pl.cap_mode = PL_CAP_FIXED;
    cli->pl.http.headers = cli->headers;
    /* A speed floor with no window would never apply: give it curl's usual 30 s. */
    if (cli->pl.http.low_speed_limit > 0 && cli->pl.http.low_speed_time_s == 0)
        cli->pl.http.low_speed_time_s = 30;
    return 0;
}
