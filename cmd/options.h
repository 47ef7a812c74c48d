/* The one table of options: name, short form, argument, default and help.
 * --help is printed from it; tests hold the man page, the bash completion
 * and the README's table equal to it (tests/integration/test_options.py, via
 * edgefetch-options, which prints the table). Defaults are not in the table:
 * they are printed from pl_options_init's values (options_default_text). */
#ifndef EDGEFETCH_CMD_OPTIONS_H
#define EDGEFETCH_CMD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pipeline.h"

enum opt_id {
    OPT_INPUT = 0,
    OPT_INPUT_FORMAT,
    OPT_URL_COLUMN,
    OPT_NAME_COLUMN,
    OPT_URL_FIELD,
    OPT_OUTPUT,
    OPT_CONCURRENT,
    OPT_SEQUENTIAL,
    OPT_COMPARE,
    OPT_DRY_RUN,
    OPT_MAX_DOWNLOADS,
    OPT_WORKERS,
    OPT_MAX_PER_HOST,
    OPT_RATE_LIMIT,
    OPT_JSON,
    OPT_FORCE,
    OPT_NO_FSYNC,
    OPT_SHARD,
    OPT_LAYOUT,
    OPT_OUTPUT_FORMAT,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_CONFIG,
    OPT_NO_CONFIG,
    OPT_OPERATOR,
    OPT_SIGMA,
    OPT_LOW,
    OPT_HIGH,
    OPT_PNG_LEVEL,
    OPT_MAX_PIXELS,
    OPT_MAX_MEMORY,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_MAX_SIZE,
    OPT_MAX_REDIRS,
    OPT_RETRIES,
    OPT_RETRY_DELAY,
    OPT_RETRY_MAX_WAIT,
    OPT_HOST_COOLDOWN,
    OPT_LOW_SPEED_LIMIT,
    OPT_LOW_SPEED_TIME,
    OPT_CACERT,
    OPT_INSECURE,
    OPT_USER_AGENT,
    OPT_HEADER,
    OPT_USER,
    OPT_NETRC,
    OPT_NETRC_FILE,
    OPT_PROXY,
    OPT_QUIET,
    OPT_SILENT,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT,
};

/* What an option's value is, for the checks every value of a kind gets and
 * for the completion (file names, folder names, nothing). */
enum opt_value {
    OPT_VALUE_NONE = 0, /* a flag */
    OPT_VALUE_FILE,     /* a file name: never a URL nor an option */
    OPT_VALUE_LIST,     /* a file name, or "-" for standard input */
    OPT_VALUE_DIR,      /* a folder name: never a URL, an option or "-" */
    OPT_VALUE_CHOICE,   /* one of a few words (completed from `choices`) */
    OPT_VALUE_OTHER,    /* a number, a header, a string */
};

enum opt_group {
    OPT_GROUP_INPUT = 0,
    OPT_GROUP_MODE,
    OPT_GROUP_CONCURRENCY,
    OPT_GROUP_BATCH,
    OPT_GROUP_PROCESSING,
    OPT_GROUP_NETWORK,
    OPT_GROUP_OUTPUT,
    OPT_GROUP_COUNT,
};

struct opt_spec {
    enum opt_id id;
    const char *name; /* the long name, without "--" */
    char short_name;  /* 0 when none */
    const char *arg;  /* the value's placeholder in --help ("N", "FILE"); NULL for flags */
    enum opt_value value;
    enum opt_group group;
    const char *choices; /* OPT_VALUE_CHOICE: the words, space-separated */
    /* The default of a setting the CLI owns (not pl_options'); NULL when
     * options_default_text derives it from pl_options_init. */
    const char *cli_default;
    const char *help; /* one paragraph, no trailing period; wrapped by --help */
};

/* Indexed by enum opt_id. */
extern const struct opt_spec options_table[OPT_COUNT];

const char *options_group_title(enum opt_group group);
/* The option with this whole long name (`length` bytes of `name`), or NULL:
 * there is no prefix matching (--user is not --user-agent). */
const struct opt_spec *options_find_long(const char *name, size_t length);
const struct opt_spec *options_find_short(char short_name);
/* The long name nearest to an unknown one, or NULL when none is near: a
 * name it is the start of, else the smallest edit distance, if small. */
const char *options_suggest(const char *name, size_t length);
/* The default of `id` as --help says it ("4", "64M", "sobel", "on"), from
 * `defaults` (pl_options_init's) or the table; "" when there is none. */
void options_default_text(enum opt_id id, const struct pl_options *defaults, char *text,
                          size_t size);
/* The option lines of --help, by group, wrapped at 79 columns. */
void options_print_help(FILE *out, const struct pl_options *defaults);

#endif
