/* edgefetch: download a list of images concurrently and edge-detect each one
 * on every core. This file is the CLI: options, the per-item lines, the
 * report and the exit status. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "config.h"
#include "json.h"
#include "outcome.h"
#include "output.h"
#include "pipeline.h"
#include "printable.h"
#include "process.h"
#include "progress.h"
#include "report.h"

/* Exit statuses, documented in --help. */
enum {
    EXIT_ALL_OK = 0,
    EXIT_SOME_FAILED = 1,
    EXIT_USAGE = 2,
};

/* -H/--header at most; a limit so the array needs no growing. */
#define MAX_HEADERS 64

enum run_mode {
    MODE_CONCURRENT,
    MODE_SEQUENTIAL,
    MODE_COMPARE,
};

struct cli {
    enum run_mode mode;
    const char *input;
    const char *output_dir;
    int verbose; /* -1 quiet, 0 normal, 1 per-item lines */
    bool json;   /* NDJSON results on stdout */
    int progress; /* -1 auto (stderr is a terminal and not -q), 0 off, 1 on */
    const char *headers[MAX_HEADERS];
    struct pl_options pl;
    long fds_at_start;       /* open descriptors before any run, -1 unknown: see count_open_fds */
    struct output *json_out; /* --json: the buffered writer of stdout */
};

/* --compare: the outputs of both runs, by item index. One name per item
 * serves both: names depend on the URL list alone, which both runs share. */
struct produced {
    char **names;  /* of the items either run produced */
    uint8_t *runs; /* PRODUCED_* of the runs that produced it */
    size_t count;
};

enum {
    PRODUCED_SEQUENTIAL = 1,
    PRODUCED_CONCURRENT = 2,
};

/* What the per-item callback needs. */
struct item_log {
    const struct cli *cli;
    const char *mode_name;
    struct produced *produced; /* --compare only */
    uint8_t produced_by;       /* this run's PRODUCED_* bit */
    struct progress *progress; /* NULL when not shown */
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: edgefetch [OPTIONS] [-i LIST] [URL...]\n"
            "Download images concurrently and write an edge map (PNG) of each.\n"
            "\n"
            "Input and output:\n"
            "  -i, --input FILE         URL list, one per line ('-' = standard input);\n"
            "                           blank lines and '#' comments are ignored\n"
            "  -o, --output DIR         where edge maps go (default ./edges); created if missing\n"
            "\n"
            "Mode:\n"
            "      --concurrent         overlap downloads and processing (default)\n"
            "      --sequential         one item at a time: download, process, next\n"
            "      --compare            run sequential then concurrent into DIR/sequential and\n"
            "                           DIR/concurrent, check the outputs match, print both\n"
            "\n"
            "Concurrency:\n"
            "  -j, --max-downloads N    transfers in flight at most (default 4)\n"
            "  -w, --workers N          processing threads (default: online CPUs)\n"
            "      --max-per-host N     transfers in flight per host (default: -j); the\n"
            "                           wait for a slot does not count in --timeout\n"
            "      --rate-limit BYTES   bytes/s for the whole run (k/M/G, powers of 1024)\n"
            "\n");
    /* Two strings: C17 compilers need not take one over 4095 bytes. */
    fprintf(out,
            "Batch jobs:\n"
            "      --json               one JSON object per item on stdout as it finishes,\n"
            "                           then a summary (schema: docs/json.md)\n"
            "      --force              redo items whose output exists (default: skip them)\n"
            "      --no-fsync           do not sync outputs to disk (faster; after a power\n"
            "                           loss a name may hold an empty or partial file)\n"
            "      --shard K/N          only the URLs with FNV-1a-32(URL) %% N == K\n"
            "                           (0 <= K < N); output names do not depend on it\n"
            "      --progress, --no-progress  live progress line on stderr (default: on\n"
            "                           when stderr is a terminal)\n"
            "\n"
            "Processing:\n"
            "      --operator NAME      sobel (default), scharr, prewitt, canny, or tutorial\n"
            "                           (the lesson's kernel)\n"
            "      --sigma S            canny: Gaussian blur first, 0 = none (default 1.4)\n"
            "      --low T, --high T    canny: hysteresis thresholds on |gx|+|gy| of the\n"
            "                           Sobel, 0-2040 (default 40 and 80)\n"
            "      --png-level N        0 stored, 1 fastest (default), 2-3 smaller, 4-9 smallest\n"
            "      --max-pixels N       refuse larger images before decoding (default 100M)\n"
            "\n"
            "Network:\n"
            "      --timeout SECS       whole transfer, per item (default 60)\n"
            "      --connect-timeout SECS  (default 10)\n"
            "      --max-size BYTES     largest body accepted (default 64M; k/M/G suffixes)\n"
            "      --max-redirs N       redirects followed at most (default 5)\n"
            "      --retries N          tries again after a refused connection, a timeout,\n"
            "                           a cut-off body, 408, 429 or 500/502/503/504\n"
            "                           (default 2; 404 and the like fail at once)\n"
            "      --retry-delay SECS   first backoff, doubled each try, with jitter (0.5)\n"
            "      --retry-max-wait SECS  cap on a server's Retry-After (default 60)\n"
            "      --low-speed-limit BYTES  with --low-speed-time: abort a transfer slower\n"
            "      --low-speed-time SECS    than BYTES/s for SECS seconds (default off)\n"
            "      --cacert FILE        trust these CA certificates for https\n"
            "      --insecure           do NOT verify https certificates (says so on stderr)\n"
            "      --user-agent STR\n"
            "  -H, --header 'NAME: VALUE'  extra request header (repeatable)\n"
            "      proxies come from the environment as for curl: http_proxy,\n"
            "      https_proxy, all_proxy, no_proxy\n"
            "\n"
            "Output:\n"
            "  -q, --quiet              print nothing but fatal errors\n"
            "  -v, --verbose            a line per item\n"
            "  -h, --help               this text\n"
            "      --version            versions of edgefetch and its libraries\n"
            "\n");
    fprintf(out,
            "Exit status: 0 all items ok or skipped; 1 some items failed (the others were\n"
            "written); 2 usage error or nothing could run; 130/143 stopped by SIGINT/SIGTERM;\n"
            "141 stopped because --json output could not be written (the reader closed it).\n"
            "\n"
            "Examples:\n"
            "  edgefetch -i urls.txt -o out/\n"
            "  edgefetch --compare -i urls.txt -o out/\n"
            "  cat urls.txt | edgefetch -i - -o out/\n"
            "  edgefetch -o out/ https://example.org/a.jpg https://example.org/b.png\n"
            "  edgefetch -q --json -i urls.txt -o out/ > results.ndjson   # cron: reruns resume\n"
            "  edgefetch --shard 2/8 --json -i urls.txt -o /shared/out/  # one of 8 machines\n"
            "  edgefetch --max-per-host 2 --rate-limit 1M -H 'Referer: https://example.org/' \\\n"
            "            -i urls.txt -o out/\n"
            "See edgefetch(1) for Slurm and Kubernetes examples.\n");
}

/* Parses a non-negative integer with an optional k/M/G suffix (powers of 1024
 * when `binary`, of 1000 otherwise). */
static int parse_size(const char *text, bool binary, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-' || text[0] == '\0')
        return -EINVAL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return -EINVAL;
    uint64_t unit = 1;
    uint64_t base = binary ? 1024 : 1000;
    if (*end == 'k' || *end == 'K')
        unit = base;
    else if (*end == 'm' || *end == 'M')
        unit = base * base;
    else if (*end == 'g' || *end == 'G')
        unit = base * base * base;
    else if (*end != '\0')
        return -EINVAL;
    if (*end != '\0' && end[1] != '\0')
        return -EINVAL;
    if (value > UINT64_MAX / unit)
        return -ERANGE;
    *out = value * unit;
    return 0;
}

static int parse_uint(const char *text, unsigned min, unsigned max, unsigned *out)
{
    uint64_t value;
    if (parse_size(text, false, &value) < 0 || strpbrk(text, "kKmMgG") != NULL || value < min ||
        value > max)
        return -EINVAL;
    *out = (unsigned)value;
    return 0;
}

/* A finite decimal number (Canny's --sigma, --low, --high; ranges are
 * imaging's to check). */
static int parse_real(const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value))
        return -EINVAL;
    *out = value;
    return 0;
}

static int parse_seconds(const char *text, long *out_ms)
{
    char *end;
    errno = 0;
    double seconds = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(seconds >= 0) || seconds > 86400.0 * 365)
        return -EINVAL;
    *out_ms = (long)(seconds * 1000.0 + 0.5);
    return 0;
}

/* "K/N", 0 <= K < N. 0-based, like SLURM_ARRAY_TASK_ID with --array=0-(N-1)
 * and Kubernetes' JOB_COMPLETION_INDEX. */
static int parse_shard(const char *text, unsigned *index, unsigned *count)
{
    char buf[32];
    const char *slash = strchr(text, '/');
    if (slash == NULL || (size_t)(slash - text) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, (size_t)(slash - text));
    buf[slash - text] = '\0';
    if (parse_uint(buf, 0, 1000000, index) < 0 || parse_uint(slash + 1, 1, 1000000, count) < 0 ||
        *index >= *count)
        return -EINVAL;
    return 0;
}

static void print_version(void)
{
    printf("edgefetch %s\n", EDGEFETCH_VERSION);
    printf("  %s\n", io_curl_version());
    printf("  libuv/%s\n", uv_version_string());
    printf("  %s\n", img_library_versions());
}

enum {
    OPT_CONCURRENT = 256,
    OPT_SEQUENTIAL,
    OPT_COMPARE,
    OPT_OPERATOR,
    OPT_SIGMA,
    OPT_LOW,
    OPT_HIGH,
    OPT_PNG_LEVEL,
    OPT_MAX_PIXELS,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_MAX_SIZE,
    OPT_MAX_REDIRS,
    OPT_CACERT,
    OPT_INSECURE,
    OPT_USER_AGENT,
    OPT_VERSION,
    OPT_RETRIES,
    OPT_RETRY_DELAY,
    OPT_RETRY_MAX_WAIT,
    OPT_LOW_SPEED_LIMIT,
    OPT_LOW_SPEED_TIME,
    OPT_JSON,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_FORCE,
    OPT_NO_FSYNC,
    OPT_SHARD,
    OPT_MAX_PER_HOST,
    OPT_RATE_LIMIT,
};

static const struct option long_options[] = {
    {"input", required_argument, NULL, 'i'},
    {"output", required_argument, NULL, 'o'},
    {"concurrent", no_argument, NULL, OPT_CONCURRENT},
    {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
    {"compare", no_argument, NULL, OPT_COMPARE},
    {"max-downloads", required_argument, NULL, 'j'},
    {"workers", required_argument, NULL, 'w'},
    {"operator", required_argument, NULL, OPT_OPERATOR},
    {"sigma", required_argument, NULL, OPT_SIGMA},
    {"low", required_argument, NULL, OPT_LOW},
    {"high", required_argument, NULL, OPT_HIGH},
    {"png-level", required_argument, NULL, OPT_PNG_LEVEL},
    {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"max-redirs", required_argument, NULL, OPT_MAX_REDIRS},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"user-agent", required_argument, NULL, OPT_USER_AGENT},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
    {"retry-max-wait", required_argument, NULL, OPT_RETRY_MAX_WAIT},
    {"low-speed-limit", required_argument, NULL, OPT_LOW_SPEED_LIMIT},
    {"low-speed-time", required_argument, NULL, OPT_LOW_SPEED_TIME},
    {"json", no_argument, NULL, OPT_JSON},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"force", no_argument, NULL, OPT_FORCE},
    {"no-fsync", no_argument, NULL, OPT_NO_FSYNC},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"max-per-host", required_argument, NULL, OPT_MAX_PER_HOST},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"header", required_argument, NULL, 'H'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "edgefetch: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'edgefetch --help' for more information.\n");
    return -EINVAL;
}

/* --cacert is read by libcurl per transfer, so a missing file would fail
 * every https item one by one: it is opened and read once, at start. */
static int check_cacert(const char *path)
{
    char message[512];
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(message, sizeof(message), "--cacert '%%s': %s", strerror(errno));
        return usage_error(message, path);
    }
    int first = fgetc(file);
    int read_errno = ferror(file) ? errno : 0;
    fclose(file);
    if (first == EOF) {
        snprintf(message, sizeof(message), "--cacert '%%s': %s",
                 read_errno != 0 ? strerror(read_errno) : "empty file");
        return usage_error(message, path);
    }
    return 0;
}

/* Returns 0 to run, 1 when done (help/version), or -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t size;
    unsigned value;
    int opt;
    bool canny_tuned = false;

    memset(cli, 0, sizeof(*cli));
    cli->mode = MODE_CONCURRENT;
    cli->output_dir = "edges";
    cli->progress = -1;
    cli->pl.max_downloads = 4;
    cli->pl.workers = online > 0 ? (unsigned)online : 1;
    cli->pl.op = IMG_OP_SOBEL;
    img_canny_options_init(&cli->pl.canny);
    cli->pl.png_level = 1;
    cli->pl.max_pixels = 100 * 1000 * 1000;
    cli->pl.http.timeout_ms = 60 * 1000;
    cli->pl.http.connect_timeout_ms = 10 * 1000;
    cli->pl.http.max_body = 64 * 1024 * 1024;
    cli->pl.http.max_redirs = 5;
    cli->pl.retries = 2;
    cli->pl.retry_base_s = 0.5;
    cli->pl.retry_after_max_s = 60;
    cli->pl.http.user_agent = "edgefetch/" EDGEFETCH_VERSION;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":i:o:j:w:H:qvh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'i':
            cli->input = optarg;
            break;
        case 'o':
            cli->output_dir = optarg;
            break;
        case OPT_CONCURRENT:
            cli->mode = MODE_CONCURRENT;
            break;
        case OPT_SEQUENTIAL:
            cli->mode = MODE_SEQUENTIAL;
            break;
        case OPT_COMPARE:
            cli->mode = MODE_COMPARE;
            break;
        case 'j':
            if (parse_uint(optarg, 1, 1024, &cli->pl.max_downloads) < 0)
                return usage_error("-j/--max-downloads wants a number from 1 to 1024, not '%s'",
                                   optarg);
            break;
        case 'w':
            if (parse_uint(optarg, 1, 1024, &cli->pl.workers) < 0)
                return usage_error("-w/--workers wants a number from 1 to 1024, not '%s'", optarg);
            break;
        case OPT_OPERATOR:
            if (img_operator_from_name(optarg, &cli->pl.op) < 0)
                return usage_error(
                    "unknown operator '%s' (sobel, scharr, prewitt, canny, tutorial)", optarg);
            break;
        case OPT_SIGMA:
        case OPT_LOW:
        case OPT_HIGH: {
            double *target = opt == OPT_SIGMA ? &cli->pl.canny.sigma
                             : opt == OPT_LOW ? &cli->pl.canny.low
                                              : &cli->pl.canny.high;
            if (parse_real(optarg, target) < 0)
                return usage_error("--sigma, --low and --high want a number, not '%s'", optarg);
            canny_tuned = true;
            break;
        }
        case OPT_PNG_LEVEL:
            if (parse_uint(optarg, 0, 9, &value) < 0)
                return usage_error("--png-level wants 0 to 9, not '%s'", optarg);
            cli->pl.png_level = (int)value;
            break;
        case OPT_MAX_PIXELS:
            if (parse_size(optarg, false, &size) < 0 || size == 0)
                return usage_error("--max-pixels wants a positive number (k/M/G allowed), not '%s'",
                                   optarg);
            cli->pl.max_pixels = size;
            break;
        case OPT_TIMEOUT:
            if (parse_seconds(optarg, &cli->pl.http.timeout_ms) < 0)
                return usage_error("--timeout wants seconds, not '%s'", optarg);
            break;
        case OPT_CONNECT_TIMEOUT:
            if (parse_seconds(optarg, &cli->pl.http.connect_timeout_ms) < 0)
                return usage_error("--connect-timeout wants seconds, not '%s'", optarg);
            break;
        case OPT_MAX_SIZE:
            if (parse_size(optarg, true, &size) < 0 || size == 0 || size > SIZE_MAX / 2)
                return usage_error("--max-size wants a positive byte count (k/M/G allowed), not '%s'",
                                   optarg);
            cli->pl.http.max_body = (size_t)size;
            break;
        case OPT_MAX_REDIRS:
            if (parse_uint(optarg, 0, 100, &value) < 0)
                return usage_error("--max-redirs wants 0 to 100, not '%s'", optarg);
            cli->pl.http.max_redirs = (long)value;
            break;
        case OPT_RETRIES:
            if (parse_uint(optarg, 0, 100, &value) < 0)
                return usage_error("--retries wants 0 to 100, not '%s'", optarg);
            cli->pl.retries = value;
            break;
        case OPT_RETRY_DELAY:
        case OPT_RETRY_MAX_WAIT: {
            long ms;
            if (parse_seconds(optarg, &ms) < 0)
                return usage_error("--retry-delay/--retry-max-wait want seconds, not '%s'", optarg);
            if (opt == OPT_RETRY_DELAY)
                cli->pl.retry_base_s = (double)ms / 1000.0;
            else
                cli->pl.retry_after_max_s = (double)ms / 1000.0;
            break;
        }
        case OPT_LOW_SPEED_LIMIT:
            if (parse_size(optarg, true, &size) < 0 || size == 0 || size > LONG_MAX)
                return usage_error("--low-speed-limit wants bytes per second, not '%s'", optarg);
            cli->pl.http.low_speed_limit = (long)size;
            break;
        case OPT_LOW_SPEED_TIME: {
            long ms;
            if (parse_seconds(optarg, &ms) < 0 || ms < 1000)
                return usage_error("--low-speed-time wants whole seconds (>= 1), not '%s'", optarg);
            cli->pl.http.low_speed_time_s = ms / 1000;
            break;
        }
        case OPT_JSON:
            cli->json = true;
            break;
        case OPT_PROGRESS:
        case OPT_NO_PROGRESS:
            cli->progress = opt == OPT_PROGRESS;
            break;
        case OPT_FORCE:
            cli->pl.force = true;
            break;
        case OPT_NO_FSYNC:
            cli->pl.no_fsync = true;
            break;
        case OPT_SHARD:
            if (parse_shard(optarg, &cli->pl.shard_index, &cli->pl.shard_count) < 0)
                return usage_error("--shard wants K/N with 0 <= K < N (e.g. 0/4), not '%s'",
                                   optarg);
            break;
        case OPT_MAX_PER_HOST:
            if (parse_uint(optarg, 1, 1024, &cli->pl.max_per_host) < 0)
                return usage_error("--max-per-host wants a number from 1 to 1024, not '%s'",
                                   optarg);
            break;
        case OPT_RATE_LIMIT:
            if (parse_size(optarg, true, &size) < 0 || size == 0)
                return usage_error("--rate-limit wants bytes per second (k/M/G allowed), not '%s'",
                                   optarg);
            cli->pl.http.rate_limit = size;
            break;
        case 'H':
            /* "Name: value", or "Name;" for an empty value (as curl). */
            if (strpbrk(optarg, ":;") == NULL || optarg[0] == ':' || strchr(optarg, '\n') ||
                strchr(optarg, '\r'))
                return usage_error("-H/--header wants 'Name: value', not '%s'", optarg);
            if (cli->pl.http.header_count == MAX_HEADERS)
                return usage_error("at most 64 -H/--header options, '%s' is one too many", optarg);
            cli->headers[cli->pl.http.header_count++] = optarg;
            break;
        case OPT_CACERT:
            cli->pl.http.cacert = optarg;
            break;
        case OPT_INSECURE:
            cli->pl.http.insecure = true;
            break;
        case OPT_USER_AGENT:
            /* A CR or LF would end the header and start another one. */
            if (strpbrk(optarg, "\r\n") != NULL)
                return usage_error("--user-agent must be one line, not '%s'", optarg);
            cli->pl.http.user_agent = optarg;
            break;
        case 'q':
            cli->verbose = -1;
            break;
        case 'v':
            cli->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case OPT_VERSION:
            print_version();
            return 1;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (canny_tuned && cli->pl.op != IMG_OP_CANNY)
        return usage_error("%s", "--sigma, --low and --high need --operator canny");
    char canny_err[128];
    if (img_canny_options_check(&cli->pl.canny, canny_err, sizeof(canny_err)) < 0)
        return usage_error("%s", canny_err);
    if (cli->pl.http.cacert != NULL && check_cacert(cli->pl.http.cacert) < 0)
        return -EINVAL;
    cli->pl.http.headers = cli->headers;
    /* A speed floor with no window would never apply: give it curl's usual 30 s. */
    if (cli->pl.http.low_speed_limit > 0 && cli->pl.http.low_speed_time_s == 0)
        cli->pl.http.low_speed_time_s = 30;
    return 0;
}

static void print_item_line(const char *where, const char *what, const struct pl_item *item,
                            const char *stage)
{
    fprintf(stderr, "edgefetch: %s%s ", where, what);
    printable_write(stderr, item->url);
    if (stage != NULL) {
        fputs(": ", stderr);
        fputs(stage, stderr);
    }
    fputs(": ", stderr);
    printable_write(stderr, item->message);
    fputc('\n', stderr);
}

/* Hands one NDJSON line (or the summary) to the buffered writer: formatted in
 * memory, so the loop thread never waits for the reader of stdout. */
static void json_append(struct output *out, const struct pl_item *item, const char *output_dir,
                        const char *mode, const struct pl_report *report,
                        const struct json_run_info *info)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem == NULL) {
        fprintf(stderr, "edgefetch: out of memory for a --json line\n");
        return;
    }
    if (item != NULL)
        json_write_item(mem, item, output_dir, mode);
    else
        json_write_summary(mem, report, info);
    if (fclose(mem) != 0 || output_append(out, text, size) < 0)
        fprintf(stderr, "edgefetch: out of memory for a --json line\n");
    free(text);
}

static void on_item(const struct pl_item *item, void *user)
{
    struct item_log *log = user;
    char where[32] = "";

    if (log->cli->json)
        json_append(log->cli->json_out, item, log->cli->output_dir, log->mode_name, NULL, NULL);
    if (log->cli->verbose > 0 || (log->cli->verbose == 0 && item->status == PL_ITEM_FAILED))
        progress_clear(log->progress);
    if (item->line > 0)
        snprintf(where, sizeof(where), "line %u: ", item->line);
    if (item->status == PL_ITEM_CANCELLED) {
        if (log->cli->verbose > 0)
            print_item_line(where, "cancelled", item, NULL);
        return;
    }
    if (item->status == PL_ITEM_FAILED) {
        if (log->cli->verbose >= 0)
            print_item_line(where, "FAILED", item, outcome_stage_name(item->stage));
        return;
    }
    if (item->status == PL_ITEM_SKIPPED) {
        if (log->cli->verbose > 0) {
            fprintf(stderr, "edgefetch: %sskipped ", where);
            printable_write(stderr, item->url);
            fprintf(stderr, ": %s/%s exists (--force redoes it)\n", log->cli->output_dir,
                    item->output_name);
        }
        return;
    }
    struct produced *produced = log->produced;
    if (produced != NULL && item->index < produced->count) {
        if (produced->names[item->index] == NULL)
            produced->names[item->index] = strdup(item->output_name);
        /* Without its name (out of memory) an item is not compared. */
        if (produced->names[item->index] != NULL)
            produced->runs[item->index] |= log->produced_by;
    }
    if (log->cli->verbose > 0) {
        fprintf(stderr, "edgefetch: %sok ", where);
        printable_write(stderr, item->url);
        fprintf(stderr,
                " -> %s/%s (%dx%d, %zu bytes; download %.3f s, decode %.3f s, edge %.3f s, "
                "encode+write %.3f s)\n",
                log->cli->output_dir, item->output_name, item->width, item->height, item->bytes,
                item->download_s, item->decode_s, item->edge_s, item->encode_s);
    }
}

static int read_urls(const struct cli *cli, int argc, char **argv, struct io_url_list *urls)
{
    char err[256];
    int rc;

    if (cli->input != NULL) {
        FILE *in = strcmp(cli->input, "-") == 0 ? stdin : fopen(cli->input, "r");
        if (in == NULL) {
            fprintf(stderr, "edgefetch: cannot open URL list %s: %s\n", cli->input,
                    strerror(errno));
            return -errno;
        }
        rc = io_url_list_read(urls, in, err, sizeof(err));
        if (in != stdin)
            fclose(in);
        if (rc < 0) {
            fprintf(stderr, "edgefetch: %s: %s\n", cli->input, err);
            return rc;
        }
    }
    for (int i = optind; i < argc; i++) {
        rc = io_url_list_add(urls, argv[i], 0);
        if (rc < 0) {
            fprintf(stderr, "edgefetch: out of memory\n");
            return rc;
        }
    }
    return 0;
}

/* The descriptors this process has open, or -1 without /proc. A run must
 * give back all it opens (sockets, the loop's epoll and eventfd, output
 * files): the count after each run is checked against the one at start and
 * a difference reported as an internal error, in --json as `fds_leaked`. */
static long count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own */
}

/* One run of the pipeline into `dir`; returns 0 or a negative setup error. */
static int run_once(struct cli *cli, enum pl_mode mode, const char *dir,
                    const struct io_url_list *urls, struct item_log *log, struct pl_report *report)
{
    char err[512];
    struct pl_options opts = cli->pl;
    opts.mode = mode;
    opts.output_dir = dir;

    int rc = io_prepare_dir(dir, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        return rc;
    }
    struct progress progress;
    if (cli->progress == 1 || (cli->progress == -1 && cli->verbose >= 0 && isatty(STDERR_FILENO))) {
        progress_init(&progress, stderr);
        opts.on_progress = progress_update;
        opts.progress_user = &progress;
        opts.progress_interval_ms = 200;
        log->progress = &progress;
    }
    log->mode_name = mode == PL_SEQUENTIAL ? "sequential" : "concurrent";
    struct cli shown = *cli;
    shown.output_dir = dir;
    log->cli = &shown;
    rc = pl_run(&opts, urls, on_item, log, report, err, sizeof(err));
    log->cli = cli;
    log->progress = NULL;
    if (rc < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        return rc;
    }
    long fds_now = count_open_fds();
    bool fds_counted = cli->fds_at_start >= 0 && fds_now >= 0;
    long fds_leaked = fds_counted ? fds_now - cli->fds_at_start : 0;
    if (fds_leaked != 0 && cli->verbose >= 0)
        fprintf(stderr,
                "edgefetch: internal error: %ld file descriptor(s) open before the run, %ld "
                "after it\n",
                cli->fds_at_start, fds_now);
    if (report->stale_temps_removed > 0 && cli->verbose > 0)
        fprintf(stderr, "edgefetch: removed %zu temporary file(s) an interrupted run left in %s\n",
                report->stale_temps_removed, dir);
    if (cli->json) {
        struct json_run_info info = {
            .mode = log->mode_name,
            .output_dir = dir,
            .shard_index = cli->pl.shard_index,
            .shard_count = cli->pl.shard_count,
            .fds_counted = fds_counted,
            .fds_leaked = fds_leaked,
            .exit_code = report->signal != 0 ? 128 + report->signal
                         : report->failed > 0 ? EXIT_SOME_FAILED
                                              : EXIT_ALL_OK,
        };
        json_append(cli->json_out, NULL, NULL, NULL, report, &info);
    }
    return rc;
}

/* --compare: every item both runs produced must be byte-identical. Returns
 * how many differ (or could not be read), and counts the pairs checked. */
static size_t compare_outputs(const char *dir_a, const char *dir_b, const struct produced *produced,
                              size_t *checked)
{
    char path_a[PATH_MAX];
    char path_b[PATH_MAX];
    size_t differ = 0;
    const uint8_t both = PRODUCED_SEQUENTIAL | PRODUCED_CONCURRENT;

    *checked = 0;
    for (size_t i = 0; i < produced->count; i++) {
        if (produced->runs[i] != both)
            continue;
        (*checked)++;
        const char *name = produced->names[i];
        int same = -ENAMETOOLONG;
        if (snprintf(path_a, sizeof(path_a), "%s/%s", dir_a, name) < (int)sizeof(path_a) &&
            snprintf(path_b, sizeof(path_b), "%s/%s", dir_b, name) < (int)sizeof(path_b))
            same = io_files_identical(path_a, path_b);
        if (same != 1) {
            differ++;
            fprintf(stderr, "edgefetch: --compare: %s and %s %s\n", path_a, path_b,
                    same == 0 ? "differ" : "could not be read");
        }
    }
    return differ;
}

static void free_names(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static void say_stopped(const struct cli *cli, const struct pl_report *report)
{
    if (report->signal != 0 && cli->verbose >= 0)
        fprintf(stderr,
                "edgefetch: stopped by %s: %zu item(s) cancelled, finished outputs kept\n",
                strsignal(report->signal), report->cancelled);
}

static int exit_status(const struct pl_report *report)
{
    if (report->signal != 0)
        return 128 + report->signal;
    return report->failed > 0 ? EXIT_SOME_FAILED : EXIT_ALL_OK;
}

static int run_compare(struct cli *cli, const struct io_url_list *urls)
{
    char dir_seq[PATH_MAX];
    char dir_con[PATH_MAX];
    struct pl_report seq_report;
    struct pl_report con_report;
    struct produced produced = {.count = urls->count};
    struct item_log seq_log = {
        .cli = cli, .produced = &produced, .produced_by = PRODUCED_SEQUENTIAL};
    struct item_log con_log = {
        .cli = cli, .produced = &produced, .produced_by = PRODUCED_CONCURRENT};
    int status = EXIT_USAGE;

    if (snprintf(dir_seq, sizeof(dir_seq), "%s/sequential", cli->output_dir) >=
            (int)sizeof(dir_seq) ||
        snprintf(dir_con, sizeof(dir_con), "%s/concurrent", cli->output_dir) >=
            (int)sizeof(dir_con)) {
        fprintf(stderr, "edgefetch: output path too long\n");
        return EXIT_USAGE;
    }
    produced.names = calloc(urls->count, sizeof(*produced.names));
    produced.runs = calloc(urls->count, sizeof(*produced.runs));
    if (produced.names == NULL || produced.runs == NULL) {
        fprintf(stderr, "edgefetch: out of memory\n");
        goto out;
    }
    /* Both output folders are checked before the first download. */
    char err[512];
    if (io_prepare_dir(dir_seq, err, sizeof(err)) < 0 ||
        io_prepare_dir(dir_con, err, sizeof(err)) < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        goto out;
    }
    if (cli->verbose >= 0)
        fprintf(stderr, "edgefetch: --compare: sequential run into %s\n", dir_seq);
    if (run_once(cli, PL_SEQUENTIAL, dir_seq, urls, &seq_log, &seq_report) < 0)
        goto out;
    if (seq_report.signal != 0) {
        say_stopped(cli, &seq_report);
        status = exit_status(&seq_report);
        goto out;
    }
    if (cli->verbose >= 0)
        fprintf(stderr, "edgefetch: --compare: concurrent run into %s\n", dir_con);
    if (run_once(cli, PL_CONCURRENT, dir_con, urls, &con_log, &con_report) < 0)
        goto out;

    size_t checked = 0;
    size_t differ = compare_outputs(dir_seq, dir_con, &produced, &checked);
    if (cli->verbose >= 0) {
        struct report_column columns[2] = {
            {"sequential", &seq_report, 1, 1},
            {"concurrent", &con_report, cli->pl.max_downloads, cli->pl.workers},
        };
        report_print(stderr, columns, 2);
        fprintf(stderr, "  outputs byte-identical: %zu of %zu%s\n", checked - differ, checked,
                differ ? "  <-- MISMATCH" : "");
        fprintf(stderr, "  edge maps in %s and %s\n\n", dir_seq, dir_con);
    }
    say_stopped(cli, &con_report);
    status = exit_status(&con_report);
    if (status == EXIT_ALL_OK && (differ > 0 || seq_report.failed > 0))
        status = EXIT_SOME_FAILED;
out:
    free_names(produced.names, urls->count);
    free(produced.runs);
    return status;
}

static int run_single(struct cli *cli, const struct io_url_list *urls)
{
    struct pl_report report;
    struct item_log log = {.cli = cli};
    enum pl_mode mode = cli->mode == MODE_SEQUENTIAL ? PL_SEQUENTIAL : PL_CONCURRENT;

    if (run_once(cli, mode, cli->output_dir, urls, &log, &report) < 0)
        return EXIT_USAGE;
    if (cli->verbose >= 0) {
        struct report_column column = {
            mode == PL_SEQUENTIAL ? "sequential" : "concurrent",
            &report,
            mode == PL_SEQUENTIAL ? 1 : cli->pl.max_downloads,
            mode == PL_SEQUENTIAL ? 1 : cli->pl.workers,
        };
        report_print(stderr, &column, 1);
        if (report.duplicates > 0)
            fprintf(stderr, "  %zu repeated URL(s) fetched once\n", report.duplicates);
        if (report.skipped > 0)
            fprintf(stderr, "  %zu output(s) already there, skipped (--force redoes them)\n",
                    report.skipped);
        if (cli->pl.shard_count > 1)
            fprintf(stderr, "  shard %u of %u (0-based): %zu item(s) of the list\n",
                    cli->pl.shard_index, cli->pl.shard_count, report.items);
        fprintf(stderr, "  edge maps in %s\n\n", cli->output_dir);
    }
    say_stopped(cli, &report);
    return exit_status(&report);
}

/* -j as asked, or fewer when the descriptor limit cannot hold that many
 * transfers besides the workers' files: an item must never fail after its
 * download for want of a descriptor to write it with. */
static void fit_downloads(struct cli *cli, long fd_limit)
{
    if (fd_limit < 0 || cli->fds_at_start < 0 || cli->mode == MODE_SEQUENTIAL)
        return;
    unsigned workers = process_fit_workers(fd_limit, cli->fds_at_start, cli->pl.workers);
    if (workers < cli->pl.workers) {
        if (cli->verbose >= 0)
            fprintf(stderr,
                    "edgefetch: warning: -w %u does not fit in %ld file descriptors (ulimit -n): "
                    "running -w %u\n",
                    cli->pl.workers, fd_limit, workers);
        cli->pl.workers = workers;
    }
    unsigned wanted = cli->pl.max_downloads;
    unsigned fit = process_fit_downloads(fd_limit, cli->fds_at_start, cli->pl.workers, wanted);
    if (fit >= wanted)
        return;
    cli->pl.max_downloads = fit;
    if (cli->pl.max_per_host > fit)
        cli->pl.max_per_host = 0; /* the global cap alone is the smaller one now */
    if (cli->verbose >= 0)
        fprintf(stderr,
                "edgefetch: warning: -j %u needs about %u file descriptors, the limit is %ld "
                "(ulimit -n): running -j %u\n",
                wanted,
                (unsigned)(cli->fds_at_start + PROCESS_FIXED_FDS +
                           (long)cli->pl.workers * PROCESS_FDS_PER_WORKER +
                           (long)wanted * PROCESS_FDS_PER_TRANSFER),
                fd_limit, fit);
}

int main(int argc, char **argv)
{
    struct cli cli;
    struct io_url_list urls;
    int status = EXIT_USAGE;

    /* Before anything opens a descriptor: see process.h. Nothing can be
     * said when this fails: stderr may be the closed one. */
    if (process_open_std_fds() < 0)
        return EXIT_USAGE;
    process_ignore_sigpipe();
    long fd_limit = process_raise_fd_limit();

    int parsed = parse_args(argc, argv, &cli);
    if (parsed != 0)
        return parsed > 0 ? EXIT_ALL_OK : EXIT_USAGE;

    io_url_list_init(&urls);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "edgefetch: cannot initialise libcurl\n");
        return EXIT_USAGE;
    }
    /* libuv keeps a process-wide pipe from its first loop on (until
     * uv_library_shutdown): not a leak of a run. One loop opened and closed
     * first puts it in the baseline. */
    uv_loop_t first_loop;
    if (uv_loop_init(&first_loop) == 0)
        uv_loop_close(&first_loop);
    cli.fds_at_start = count_open_fds();
    if (read_urls(&cli, argc, argv, &urls) < 0)
        goto out;
    if (urls.count == 0) {
        fprintf(stderr, "edgefetch: no URLs given (use -i FILE, -i - or URL arguments)\n"
                        "Try 'edgefetch --help' for more information.\n");
        goto out;
    }
    /* Even under -q: turning verification off is never silent. */
    if (cli.pl.http.insecure)
        fprintf(stderr, "edgefetch: warning: --insecure: https certificates are NOT verified\n");
    fit_downloads(&cli, fd_limit);
    if (cli.json) {
        if (output_create(STDOUT_FILENO, &cli.json_out) < 0) {
            fprintf(stderr, "edgefetch: cannot start the --json writer\n");
            goto out;
        }
        cli.pl.gate = output_gate;
        cli.pl.gate_user = cli.json_out;
    }
    status = cli.mode == MODE_COMPARE ? run_compare(&cli, &urls) : run_single(&cli, &urls);
    /* Blocks until the reader has it all (or is gone): the run is over. */
    int written = output_destroy(cli.json_out);
    if (written < 0) {
        fprintf(stderr, "edgefetch: writing the --json output: %s%s\n", strerror(-written),
                written == -EPIPE ? " (its reader closed it)" : "");
        /* Lines are missing even when the run itself got to its end. */
        if (status < 128)
            status = 128 + SIGPIPE;
    }

out:
    io_url_list_finish(&urls);
    curl_global_cleanup();
    return status;
}
