/* The command line, read into what the run needs: settings from the
 * default config file, --config files and argv, in that order (later ones
 * win), applied over pl_options_init's defaults. */
#ifndef EDGEFETCH_CMD_CLI_H
#define EDGEFETCH_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "pipeline.h"
#include "tarout.h"

/* -H/--header at most; a limit so the array needs no growing. */
#define CLI_MAX_HEADERS 64

enum cli_mode {
    CLI_MODE_CONCURRENT = 0,
    CLI_MODE_SEQUENTIAL,
    CLI_MODE_COMPARE,
};

/* How much goes to standard error. */
enum cli_verbosity {
    CLI_SILENT = -2, /* -s: fatal errors and the --insecure warning only */
    CLI_QUIET = -1,  /* -q: a line per failed item, warnings, fatal errors */
    CLI_NORMAL = 0,  /* failures and the report */
    CLI_VERBOSE = 1, /* -v: a line per item */
};

/* One option as given: where (file and line, or argv), as spelled, and
 * its value (NULL for a flag). Strings live as long as the cli. */
struct cli_setting {
    const struct opt_spec *opt;
    const char *value;
    const char *spelled; /* "-j", "--max-downloads" (argv) or the config's name */
    const char *file;    /* NULL: the command line */
    unsigned line;
};

struct cli_settings {
    struct cli_setting *items;
    size_t count;
    size_t capacity;
    char **texts; /* config files' contents, which the values point into */
    size_t text_count;
    size_t text_capacity;
};

struct cli {
    enum cli_mode mode;
    bool dry_run;
    const char *input;
    /* How the list is read (io_list_options); `list_format_auto`: from
     * the list's name (--input-format auto, the default). */
    struct io_list_options list;
    bool list_format_auto;
    const char *url_column; /* --url-column, for csv and tsv */
    const char *url_field;  /* --url-field, for jsonl */
    const char *output_dir;
    bool tar_output;     /* --output-format tar */
    struct tar_out *tar; /* its shards (tarout.h), NULL for png */
    enum cli_verbosity verbose;
    bool json;    /* NDJSON results on stdout */
    int progress; /* -1 auto (stderr is a terminal and not -q/-s), 0 off, 1 on */
    const char *headers[CLI_MAX_HEADERS];
    struct pl_options pl;
    const char **urls; /* the URL arguments */
    size_t url_count;
    struct cli_settings settings;
    long fds_at_start;       /* open descriptors before any run, -1 unknown */
    struct output *json_out; /* --json: the buffered writer of stdout */
};

/* Fills `cli`. Returns 0 to run, 1 when done (--help, --version), or
 * -EINVAL after printing a usage error (exit 2). Call cli_finish either way. */
int cli_parse(int argc, char **argv, struct cli *cli);
void cli_finish(struct cli *cli);

/* Appends a setting; 0 or -ENOMEM. */
int cli_settings_add(struct cli_settings *settings, const struct cli_setting *setting);
/* Takes `text` (malloc'd): freed with the settings. 0 or -ENOMEM (then freed). */
int cli_settings_keep(struct cli_settings *settings, char *text);
void cli_settings_finish(struct cli_settings *settings);

/* config.c: reads the options of a config file into `settings`. Format (as
 * curl's -K, documented in edgefetch(1)): one option per line, its long
 * name with or without "--", then its value after blanks, '=' or ':' (or
 * "--name=value"); a value in double quotes may hold \" \\ \t \n, one
 * without runs to the end of the line, trailing blanks dropped; blank lines
 * and lines starting with '#' are skipped. Errors print "FILE:LINE: reason"
 * and return -EINVAL; a missing file is 0 when `missing_ok`, else -ENOENT. */
int config_read(const char *path, bool missing_ok, struct cli_settings *settings);
/* The default config file's path ($XDG_CONFIG_HOME/edgefetch/config, else
 * $HOME/.config/edgefetch/config) into `path`; -ENOENT when neither is set. */
int config_default_path(char *path, size_t size);

/* Prints "edgefetch: [FILE:LINE: ]MESSAGE" and the --help hint; -EINVAL. */
int cli_usage_error(const struct cli_setting *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
