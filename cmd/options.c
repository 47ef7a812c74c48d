/* The table of options and what is derived from it: lookup by whole name,
 * the "did you mean" suggestion, the defaults as text, and --help. */
#include <stdint.h>
#include <string.h>

#include "options.h"

#define FLAG(id_, name_, short_, group_, help_)                                                    \
    [id_] = {id_, name_, short_, NULL, OPT_VALUE_NONE, group_, NULL, NULL, help_}
#define VALUE(id_, name_, short_, arg_, value_, group_, help_)                                     \
    [id_] = {id_, name_, short_, arg_, value_, group_, NULL, NULL, help_}

const struct opt_spec options_table[OPT_COUNT] = {
    VALUE(OPT_INPUT, "input", 'i', "FILE", OPT_VALUE_LIST, OPT_GROUP_INPUT,
          "URL list, one per line ('-' = standard input); blank lines and '#' comments are "
          "ignored; CSV, TSV, JSON Lines and gzip too (see --input-format); URLs may also "
          "follow the options"),
    [OPT_INPUT_FORMAT] = {OPT_INPUT_FORMAT, "input-format", 0, "FORMAT", OPT_VALUE_CHOICE,
                          OPT_GROUP_INPUT, "auto plain csv tsv jsonl", "auto",
                          "the list's format: plain (a URL a line), csv or tsv (a header line "
                          "naming the columns, RFC 4180 quoting), jsonl (a JSON object a line); "
                          "auto: from the name's ending (.csv, .tsv, .jsonl, .ndjson), else "
                          "plain; a .gz list, or one starting with gzip's magic bytes, is "
                          "inflated as it is read"},
    [OPT_URL_COLUMN] = {OPT_URL_COLUMN, "url-column", 0, "NAME", OPT_VALUE_OTHER, OPT_GROUP_INPUT,
                        NULL, "url", "csv, tsv: the column of the header holding the URLs"},
    [OPT_NAME_COLUMN] = {OPT_NAME_COLUMN, "name-column", 0, "NAME", OPT_VALUE_OTHER,
                         OPT_GROUP_INPUT, NULL, NULL,
                         "csv, tsv: the column giving each item's output name (readable "
                         "layout: sanitised like a URL's, clashes resolved the same way; an "
                         "empty value names the item from its URL)"},
    [OPT_URL_FIELD] = {OPT_URL_FIELD, "url-field", 0, "NAME", OPT_VALUE_OTHER, OPT_GROUP_INPUT,
                       NULL, "url", "jsonl: the field of each object holding its URL"},
    VALUE(OPT_OUTPUT, "output", 'o', "DIR", OPT_VALUE_DIR, OPT_GROUP_INPUT,
          "folder the edge maps go to, created if missing"),
    FLAG(OPT_CONCURRENT, "concurrent", 0, OPT_GROUP_MODE, "overlap downloads and processing"),
    FLAG(OPT_SEQUENTIAL, "sequential", 0, OPT_GROUP_MODE,
         "one item at a time: download, process, next"),
    FLAG(OPT_COMPARE, "compare", 0, OPT_GROUP_MODE,
         "run sequential then concurrent into DIR/sequential and DIR/concurrent, check the "
         "outputs match, print both reports; -j 4 (the lesson's) unless -j is given"),
    FLAG(OPT_DRY_RUN, "dry-run", 0, OPT_GROUP_MODE,
         "print each URL with its output name, its shard and whether resume would skip it; "
         "send no request, write nothing; not with --json (the plan is text)"),
    VALUE(OPT_MAX_DOWNLOADS, "max-downloads", 'j', "N", OPT_VALUE_OTHER, OPT_GROUP_CONCURRENCY,
          "transfers in flight at most, 1-1024, fixed; without -j the cap starts at 32 and "
          "rises to 256 while the CPU stage waits for bodies, less when --max-memory cannot "
          "hold their bodies (cap + 3 per worker); lowered with a warning when the descriptor "
          "limit cannot hold them"),
    VALUE(OPT_WORKERS, "workers", 'w', "N", OPT_VALUE_OTHER, OPT_GROUP_CONCURRENCY,
          "processing threads, 1-1024"),
    VALUE(OPT_MAX_PER_HOST, "max-per-host", 0, "N", OPT_VALUE_OTHER, OPT_GROUP_CONCURRENCY,
          "transfers in flight per host:port of the listed URL, at most -j; the wait for a "
          "host slot does not count in --timeout"),
    VALUE(OPT_RATE_LIMIT, "rate-limit", 0, "BYTES", OPT_VALUE_OTHER, OPT_GROUP_CONCURRENCY,
          "bytes per second for the whole run, all transfers together (k/M/G, powers of "
          "1024)"),
    FLAG(OPT_JSON, "json", 0, OPT_GROUP_BATCH,
         "one JSON object per item on standard output as it finishes, then a summary "
         "(schema: docs/json.md)"),
    FLAG(OPT_FORCE, "force", 0, OPT_GROUP_BATCH,
         "redo items whose output exists (without it they are skipped: a rerun resumes)"),
    FLAG(OPT_NO_FSYNC, "no-fsync", 0, OPT_GROUP_BATCH,
         "do not sync outputs to disk (faster; after a power loss a name may hold an empty or "
         "partial file)"),
    VALUE(OPT_SHARD, "shard", 0, "K/N", OPT_VALUE_OTHER, OPT_GROUP_BATCH,
          "only the URLs with FNV-1a-32(URL) % N == K, 0 <= K < N; output names do not depend "
          "on it"),
    [OPT_LAYOUT] = {OPT_LAYOUT, "layout", 0, "NAME", OPT_VALUE_CHOICE, OPT_GROUP_BATCH,
                    "readable positional", NULL,
                    "output names: readable (from the URL, NAME.png, clashes resolved over "
                    "the whole list, which is read whole first) or positional "
                    "(FOLDER/LINE.png from the list line, 10,000 files a folder; the list is "
                    "streamed: items start while it is read, and with --shard only this "
                    "shard's rows are kept)"},
    [OPT_OUTPUT_FORMAT] = {OPT_OUTPUT_FORMAT, "output-format", 0, "FORMAT", OPT_VALUE_CHOICE,
                           OPT_GROUP_BATCH, "png tar", "png",
                           "png: a file per item; tar: webdataset tar shards NNNNN.tar of "
                           "10,000 rows each (KKKKK-NNNNN.tar with --shard), KEY.png and "
                           "KEY.json per item, renamed into place when complete; needs "
                           "--layout positional"},
    [OPT_PROGRESS] = {OPT_PROGRESS, "progress", 0, NULL, OPT_VALUE_NONE, OPT_GROUP_BATCH, NULL,
                      "on when standard error is a terminal",
                      "live progress line on standard error: done/total, failures, rate and "
                      "ETA first"},
    FLAG(OPT_NO_PROGRESS, "no-progress", 0, OPT_GROUP_BATCH, "no progress line"),
    [OPT_CONFIG] = {OPT_CONFIG, "config", 'K', "FILE", OPT_VALUE_FILE, OPT_GROUP_BATCH, NULL,
                    "$XDG_CONFIG_HOME/edgefetch/config",
                    "read options from FILE, one per line ('name value' or '--name=value', "
                    "'#' comments; see edgefetch(1)); options on the command line win"},
    FLAG(OPT_NO_CONFIG, "no-config", 0, OPT_GROUP_BATCH, "do not read the default config file"),
    [OPT_OPERATOR] = {OPT_OPERATOR, "operator", 0, "NAME", OPT_VALUE_CHOICE, OPT_GROUP_PROCESSING,
                      "sobel scharr prewitt canny tutorial", NULL,
                      "sobel, scharr, prewitt, canny or tutorial (the lesson's kernel)"},
    VALUE(OPT_SIGMA, "sigma", 0, "S", OPT_VALUE_OTHER, OPT_GROUP_PROCESSING,
          "canny: Gaussian blur first, 0-20, 0 = none"),
    VALUE(OPT_LOW, "low", 0, "T", OPT_VALUE_OTHER, OPT_GROUP_PROCESSING,
          "canny: low hysteresis threshold on |gx|+|gy| of the Sobel, 0-2040"),
    VALUE(OPT_HIGH, "high", 0, "T", OPT_VALUE_OTHER, OPT_GROUP_PROCESSING,
          "canny: high hysteresis threshold, at least --low, 0-2040"),
    [OPT_PNG_LEVEL] = {OPT_PNG_LEVEL, "png-level", 0, "N", OPT_VALUE_CHOICE, OPT_GROUP_PROCESSING,
                       "0 1 2 3 4 5 6 7 8 9", NULL,
                       "0 stored, 1 fastest, 2-9 smaller"},
    VALUE(OPT_MAX_PIXELS, "max-pixels", 0, "N", OPT_VALUE_OTHER, OPT_GROUP_PROCESSING,
          "refuse larger images, from their header, before decoding (k/M/G, powers of 1000)"),
    VALUE(OPT_MAX_MEMORY, "max-memory", 0, "BYTES", OPT_VALUE_OTHER, OPT_GROUP_PROCESSING,
          "memory budget of the decode, operator and encode buffers of all workers together, "
          "reserved per item from its header before decoding; an item waits until it fits, "
          "or fails when it never can (k/M/G, powers of 1024)"),
    VALUE(OPT_TIMEOUT, "timeout", 0, "SECS", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "limit on each download attempt, from its first connection to its last byte, "
          "redirects included; a retry gets a new one; the wait for a download or host slot "
          "is not counted; 0 = none"),
    VALUE(OPT_CONNECT_TIMEOUT, "connect-timeout", 0, "SECS", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "limit on each connection's set-up (name lookup, TCP, TLS)"),
    VALUE(OPT_MAX_SIZE, "max-size", 0, "BYTES", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "largest body accepted, counted as bytes arrive (k/M/G, powers of 1024)"),
    VALUE(OPT_MAX_REDIRS, "max-redirs", 0, "N", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "redirects followed at most, 0-100, to http and https only"),
    VALUE(OPT_RETRIES, "retries", 0, "N", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "times it tries again, 0-100, after a refused or reset connection, a timeout once "
          "connected, a cut-off body, 408, 429, 500, 502, 503 or 504; 404, a connect timeout "
          "and the like fail at once"),
    VALUE(OPT_RETRY_DELAY, "retry-delay", 0, "SECS", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "first backoff, doubled each try, with jitter"),
    VALUE(OPT_RETRY_MAX_WAIT, "retry-max-wait", 0, "SECS", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "cap on a server's Retry-After"),
    VALUE(OPT_HOST_COOLDOWN, "host-cooldown", 0, "SECS", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "after a connect timeout, 3 refusals in a row or a failed lookup of its name, a "
          "host's items fail at once for "
          "SECS, then one is tried as a probe; after each failed probe twice as long, up to "
          "8 times SECS; 0 = the host stays down for the run"),
    VALUE(OPT_LOW_SPEED_LIMIT, "low-speed-limit", 0, "BYTES", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "abort a transfer slower than BYTES/s for --low-speed-time (k/M/G, powers of 1024)"),
    [OPT_LOW_SPEED_TIME] = {OPT_LOW_SPEED_TIME, "low-speed-time", 0, "SECS", OPT_VALUE_OTHER,
                            OPT_GROUP_NETWORK, NULL, "30 with --low-speed-limit",
                            "the window of --low-speed-limit, whole seconds"},
    [OPT_CACERT] = {OPT_CACERT, "cacert", 0, "FILE", OPT_VALUE_FILE, OPT_GROUP_NETWORK, NULL,
                    "the system's",
                    "trust the CA certificates in FILE (PEM) for https; read "
                    "at start"},
    FLAG(OPT_INSECURE, "insecure", 'k', OPT_GROUP_NETWORK,
         "do NOT verify https certificates (said on standard error, even with -s)"),
    VALUE(OPT_USER_AGENT, "user-agent", 'A', "STR", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "the User-Agent header; one line"),
    VALUE(OPT_HEADER, "header", 'H', "'NAME: VALUE'", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "extra request header, repeatable (at most 64); sent only to the origin of the "
          "listed URL, never to a redirect elsewhere"),
    VALUE(OPT_USER, "user", 'u', "USER:PASSWORD", OPT_VALUE_OTHER, OPT_GROUP_NETWORK,
          "HTTP authentication (basic), sent only to the origin (scheme, host, port) of the "
          "listed URL, never across a redirect to another origin"),
    FLAG(OPT_NETRC, "netrc", 0, OPT_GROUP_NETWORK,
         "credentials from ~/.netrc, for the host of each request (netrc has no ports)"),
    VALUE(OPT_NETRC_FILE, "netrc-file", 0, "FILE", OPT_VALUE_FILE, OPT_GROUP_NETWORK,
          "as --netrc, from FILE"),
    [OPT_PROXY] = {OPT_PROXY, "proxy", 'x', "URL", OPT_VALUE_OTHER, OPT_GROUP_NETWORK, NULL,
                   "http_proxy, https_proxy, all_proxy, no_proxy",
                   "the proxy for every transfer ([scheme://]host[:port])"},
    FLAG(OPT_QUIET, "quiet", 'q', OPT_GROUP_OUTPUT,
         "only a line per failed item, warnings and fatal errors; no report"),
    FLAG(OPT_SILENT, "silent", 's', OPT_GROUP_OUTPUT,
         "nothing on standard error but fatal errors and the --insecure warning; the exit "
         "status tells"),
    FLAG(OPT_VERBOSE, "verbose", 'v', OPT_GROUP_OUTPUT, "a line per item"),
    FLAG(OPT_HELP, "help", 'h', OPT_GROUP_OUTPUT, "this text"),
    FLAG(OPT_VERSION, "version", 0, OPT_GROUP_OUTPUT, "versions of edgefetch and its libraries"),
};

const char *options_group_title(enum opt_group group)
{
    static const char *const titles[OPT_GROUP_COUNT] = {
        "Input and output", "Mode", "Concurrency", "Batch jobs", "Processing", "Network", "Output",
    };
    return group < OPT_GROUP_COUNT ? titles[group] : "";
}

const struct opt_spec *options_find_long(const char *name, size_t length)
{
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strlen(options_table[i].name) == length &&
            memcmp(options_table[i].name, name, length) == 0)
            return &options_table[i];
    return NULL;
}

const struct opt_spec *options_find_short(char short_name)
{
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (short_name != 0 && options_table[i].short_name == short_name)
            return &options_table[i];
    return NULL;
}

/* Edit distance counting a swap of two neighbours as one edit ("jsno" is
 * one from "json"): the optimal string alignment distance. Names are short;
 * only their first 32 bytes count. */
static size_t edit_distance(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t d[33][33];
    if (a_len > 32)
        a_len = 32;
    if (b_len > 32)
        b_len = 32;
    for (size_t i = 0; i <= a_len; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= b_len; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= a_len; i++) {
        for (size_t j = 1; j <= b_len; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[a_len][b_len];
}

const char *options_suggest(const char *name, size_t length)
{
    if (length == 0)
        return NULL;
    /* --out, --comp: what getopt_long would have taken them for. */
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strncmp(options_table[i].name, name, length) == 0)
            return options_table[i].name;
    const char *best = NULL;
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const char *candidate = options_table[i].name;
        size_t distance = edit_distance(name, length, candidate, strlen(candidate));
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    /* A typo or two, not a different word. */
    size_t allowed = length <= 4 ? 1 : 2 + length / 8;
    return best_distance <= allowed ? best : NULL;
}

/* 100000000 -> "100M" (powers of 1000 or 1024), as the parsers read them. */
static void format_count(char *text, size_t size, uint64_t value, bool binary)
{
    uint64_t base = binary ? 1024 : 1000;
    const char *units = "kMG";
    int unit = -1;
    while (unit < 2 && value >= base && value % base == 0) {
        value /= base;
        unit++;
    }
    if (unit < 0)
        snprintf(text, size, "%llu", (unsigned long long)value);
    else
        snprintf(text, size, "%llu%c", (unsigned long long)value, units[unit]);
}

void options_default_text(enum opt_id id, const struct pl_options *d, char *text, size_t size)
{
    text[0] = '\0';
    if (id >= OPT_COUNT)
        return;
    if (options_table[id].cli_default != NULL) {
        snprintf(text, size, "%s", options_table[id].cli_default);
        return;
    }
    switch (id) {
    case OPT_OUTPUT:
        snprintf(text, size, "%s", d->output_dir);
        break;
    case OPT_CONCURRENT:
        snprintf(text, size, "%s", d->mode == PL_CONCURRENT ? "on" : "");
        break;
    case OPT_SEQUENTIAL:
        snprintf(text, size, "%s", d->mode == PL_SEQUENTIAL ? "on" : "");
        break;
    case OPT_MAX_DOWNLOADS:
        snprintf(text, size, "%u", d->max_downloads);
        break;
    case OPT_WORKERS:
        /* pl_options_init asks sysconf: a number that is this machine's. */
        snprintf(text, size, "online CPUs");
        break;
    case OPT_MAX_PER_HOST:
        if (d->max_per_host == 0)
            snprintf(text, size, "-j");
        else
            snprintf(text, size, "%u", d->max_per_host);
        break;
    case OPT_RATE_LIMIT:
        if (d->http.rate_limit == 0)
            snprintf(text, size, "unlimited");
        else
            format_count(text, size, d->http.rate_limit, true);
        break;
    case OPT_OPERATOR:
        snprintf(text, size, "%s", img_operator_name(d->op));
        break;
    case OPT_LAYOUT:
        snprintf(text, size, "%s", d->layout == IO_LAYOUT_POSITIONAL ? "positional" : "readable");
        break;
    case OPT_SIGMA:
        snprintf(text, size, "%g", d->canny.sigma);
        break;
    case OPT_LOW:
        snprintf(text, size, "%g", d->canny.low);
        break;
    case OPT_HIGH:
        snprintf(text, size, "%g", d->canny.high);
        break;
    case OPT_PNG_LEVEL:
        snprintf(text, size, "%d", d->png_level);
        break;
    case OPT_MAX_PIXELS:
        format_count(text, size, d->max_pixels, false);
        break;
    case OPT_MAX_MEMORY:
        /* pl_options_init reads this machine's RAM and cgroup limit. */
        snprintf(text, size, "half the RAM or cgroup limit, at most 4G");
        break;
    case OPT_TIMEOUT:
        snprintf(text, size, "%g", (double)d->http.timeout_ms / 1000.0);
        break;
    case OPT_CONNECT_TIMEOUT:
        snprintf(text, size, "%g", (double)d->http.connect_timeout_ms / 1000.0);
        break;
    case OPT_MAX_SIZE:
        format_count(text, size, d->http.max_body, true);
        break;
    case OPT_MAX_REDIRS:
        snprintf(text, size, "%ld", d->http.max_redirs);
        break;
    case OPT_RETRIES:
        snprintf(text, size, "%u", d->retries);
        break;
    case OPT_RETRY_DELAY:
        snprintf(text, size, "%g", d->retry_base_s);
        break;
    case OPT_RETRY_MAX_WAIT:
        snprintf(text, size, "%g", d->retry_after_max_s);
        break;
    case OPT_HOST_COOLDOWN:
        snprintf(text, size, "%g", (double)d->host_cooldown_ms / 1000.0);
        break;
    case OPT_LOW_SPEED_LIMIT:
        if (d->http.low_speed_limit == 0)
            snprintf(text, size, "off");
        else
            snprintf(text, size, "%ld", d->http.low_speed_limit);
        break;
    case OPT_USER_AGENT:
        snprintf(text, size, "%s", d->http.user_agent);
        break;
    default:
        break;
    }
}

enum {
    HELP_TEXT_COLUMN = 27,
    HELP_WIDTH = 79,
};

/* Words of `text` from column `column` on, wrapped at HELP_WIDTH. */
static void print_wrapped(FILE *out, const char *text, size_t column)
{
    size_t at = column;
    const char *p = text;
    while (*p != '\0') {
        const char *end = strchr(p, ' ');
        size_t word = end != NULL ? (size_t)(end - p) : strlen(p);
        if (at > column && at + 1 + word > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)column, "");
            at = column;
        } else if (at > column) {
            fputc(' ', out);
            at++;
        }
        fwrite(p, 1, word, out);
        at += word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

void options_print_help(FILE *out, const struct pl_options *defaults)
{
    char text[1024];
    char value[128];
    for (int group = 0; group < OPT_GROUP_COUNT; group++) {
        fprintf(out, "%s:\n", options_group_title((enum opt_group)group));
        for (size_t i = 0; i < OPT_COUNT; i++) {
            const struct opt_spec *o = &options_table[i];
            if ((int)o->group != group)
                continue;
            char left[96];
            int used = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                                o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ",
                                o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            fputs(left, out);
            if (used + 2 > HELP_TEXT_COLUMN)
                fprintf(out, "\n%*s", HELP_TEXT_COLUMN, "");
            else
                fprintf(out, "%*s", HELP_TEXT_COLUMN - used, "");
            options_default_text(o->id, defaults, value, sizeof(value));
            if (strcmp(value, "on") == 0)
                snprintf(text, sizeof(text), "%s (the default)", o->help);
            else if (value[0] != '\0')
                snprintf(text, sizeof(text), "%s (default: %s)", o->help, value);
            else
                snprintf(text, sizeof(text), "%s", o->help);
            print_wrapped(out, text, HELP_TEXT_COLUMN);
        }
        fputc('\n', out);
    }
}
