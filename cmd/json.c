#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#include "json.h"
#include "outcome.h"

/* JSON text must be UTF-8 (RFC 8259, 8.1), but URLs and server-provided
 * messages are whatever bytes they are: valid UTF-8 passes through, each
 * byte of an invalid sequence becomes U+FFFD, controls are escaped. */
static size_t utf8_sequence(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void put_string(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p++, out);
        } else if (*p == '\n') {
            fputs("\\n", out), p++;
        } else if (*p == '\t') {
            fputs("\\t", out), p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\u%04x", *p++);
        } else {
            size_t len = utf8_sequence(p);
            if (len == 0) {
                fputs("\\ufffd", out);
                p++;
            } else {
                fwrite(p, 1, len, out);
                p += len;
            }
        }
    }
    fputc('"', out);
}

static double ms(double seconds)
{
    return seconds * 1000.0;
}

static const char *status_name(enum pl_status status)
{
    switch (status) {
    case PL_ITEM_OK:
        return "ok";
    case PL_ITEM_FAILED:
        return "failed";
    case PL_ITEM_SKIPPED:
        return "skipped";
    case PL_ITEM_CANCELLED:
        return "cancelled";
    }
    return "failed";
}

void json_write_item(FILE *out, const struct pl_item *item, const char *output_dir,
                     const char *mode)
{
    bool has_output = item->output_name != NULL &&
                      (item->status == PL_ITEM_OK || item->status == PL_ITEM_SKIPPED);

    fprintf(out, "{\"type\":\"item\",\"schema_version\":%d,\"mode\":", JSON_SCHEMA_VERSION);
    put_string(out, mode);
    fputs(",\"line\":", out);
    if (item->line > 0)
        fprintf(out, "%u", item->line);
    else
        fputs("null", out);
    fputs(",\"url\":", out);
    put_string(out, item->url);
    /* final_url and http_code describe the same response, the last one
     * received: a retry that got none leaves an earlier attempt's URL in
     * the item, which is not the answer this item ended with. */
    fputs(",\"final_url\":", out);
    put_string(out, item->http_status > 0 ? item->final_url : NULL);
    fprintf(out, ",\"status\":\"%s\",\"http_code\":", status_name(item->status));
    if (item->http_status > 0)
        fprintf(out, "%ld", item->http_status);
    else
        fputs("null", out);
    fputs(",\"error\":", out);
    if (item->status == PL_ITEM_FAILED || item->status == PL_ITEM_CANCELLED) {
        const char *kind = outcome_kind_name(item->kind);
        fprintf(out, "{\"kind\":\"%s\",\"stage\":", kind != NULL ? kind : "other");
        put_string(out, outcome_stage_name(item->stage));
        fputs(",\"message\":", out);
        put_string(out, item->message);
        fputc('}', out);
    } else {
        fputs("null", out);
    }
    /* The value imaging decided (pl_item.format), never read back from a
     * message. */
    fputs(",\"format\":", out);
    put_string(out, item->format != IMG_FORMAT_UNKNOWN ? img_format_name(item->format) : NULL);
    fprintf(out, ",\"attempts\":%u,\"bytes\":%zu,\"operator_threads\":%u", item->attempts,
            item->bytes, item->edge_threads);
    if (item->width > 0 && item->height > 0)
        fprintf(out, ",\"width\":%d,\"height\":%d", item->width, item->height);
    else
        fputs(",\"width\":null,\"height\":null", out);
    /* Provenance of what was downloaded, for history and dedup. */
    fputs(",\"content_type\":", out);
    put_string(out, item->content_type);
    fputs(",\"sha256\":", out);
    if (item->sha256 != NULL) {
        fputc('"', out);
        for (int i = 0; i < 32; i++)
            fprintf(out, "%02x", item->sha256[i]);
        fputc('"', out);
    } else {
        fputs("null", out);
    }
    fputs(",\"output_bytes\":", out);
    if (item->status == PL_ITEM_OK && item->output_bytes > 0)
        fprintf(out, "%zu", item->output_bytes);
    else
        fputs("null", out);
    fputs(",\"output\":", out);
    if (has_output) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", output_dir, item->output_name);
        put_string(out, path);
    } else {
        fputs("null", out);
    }
    fprintf(out,
            ",\"times_ms\":{\"queued\":%.3f,\"download\":%.3f,\"decode\":%.3f,\"operator\":%.3f,"
            "\"encode_write\":%.3f}}\n",
            ms(item->queued_s), ms(item->download_s), ms(item->decode_s), ms(item->edge_s),
            ms(item->encode_s));
    fflush(out);
}

static double timeval_ms(struct timeval tv)
{
    return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

/* The peak resident set of this process image, in bytes. getrusage's
 * ru_maxrss also counts the image that exec replaced, which for a process
 * spawned through vfork (posix_spawn, Python's subprocess) is the parent's
 * peak: a large parent hides ours. VmHWM is this image's own; ru_maxrss
 * (KiB on Linux) only where /proc is not there. */
static unsigned long long peak_rss_bytes(const struct rusage *usage)
{
    char line[256];
    unsigned long long kib = (unsigned long long)usage->ru_maxrss;
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL)
        return kib * 1024ull;
    while (fgets(line, sizeof(line), status) != NULL)
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
            break;
    fclose(status);
    return kib * 1024ull;
}

/* RFC 3339 in UTC with milliseconds: "2026-12-01T11:41:39.123Z". */
static void put_time(FILE *out, struct timespec when)
{
    struct tm utc;
    char text[32];
    if (gmtime_r(&when.tv_sec, &utc) == NULL ||
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc) == 0) {
        fputs("null", out);
        return;
    }
    fprintf(out, "\"%s.%03ldZ\"", text, when.tv_nsec / 1000000);
}

static void put_settings(FILE *out, const char *mode, const struct pl_options *o)
{
    fputs(",\"settings\":{\"mode\":", out);
    put_string(out, mode);
    fprintf(out, ",\"max_downloads\":%u,\"workers\":%u,\"max_per_host\":", o->max_downloads,
            o->workers);
    if (o->max_per_host > 0)
        fprintf(out, "%u", o->max_per_host);
    else
        fputs("null", out);
    fputs(",\"operator\":", out);
    put_string(out, img_operator_name(o->op));
    fputs(",\"operator_params\":", out);
    if (o->op == IMG_OP_CANNY)
        fprintf(out, "{\"sigma\":%g,\"low\":%g,\"high\":%g}", o->canny.sigma, o->canny.low,
                o->canny.high);
    else
        fputs("{}", out);
    fprintf(out, ",\"retries\":%u,\"png_level\":%d}", o->retries, o->png_level);
}

void json_write_summary(FILE *out, const struct pl_report *report, const struct json_run_info *info)
{
    char host[256] = "";
    struct rusage usage;
    memset(&usage, 0, sizeof(usage));
    getrusage(RUSAGE_SELF, &usage);

    fprintf(out, "{\"type\":\"summary\",\"schema_version\":%d,\"mode\":", JSON_SCHEMA_VERSION);
    put_string(out, info->mode);
    fputs(",\"edgefetch_version\":", out);
    put_string(out, EDGEFETCH_VERSION);
    fputs(",\"started_at\":", out);
    put_time(out, info->started);
    fputs(",\"ended_at\":", out);
    put_time(out, info->ended);
    fputs(",\"host\":", out);
    /* POSIX leaves a truncated name unterminated: the last byte says. */
    put_string(out, gethostname(host, sizeof(host) - 1) == 0 ? host : NULL);
    put_settings(out, info->mode, info->settings);
    fputs(",\"output_dir\":", out);
    put_string(out, info->output_dir);
    fputs(",\"shard\":", out);
    if (info->shard_count > 1)
        fprintf(out, "{\"index\":%u,\"count\":%u}", info->shard_index, info->shard_count);
    else
        fputs("null", out);
    fprintf(out,
            ",\"items\":%zu,\"ok\":%zu,\"failed\":%zu,\"skipped\":%zu,\"cancelled\":%zu,"
            "\"duplicates\":%zu,\"retries\":%zu,\"stale_temps_removed\":%zu,\"bytes\":%llu",
            report->items, report->ok, report->failed, report->skipped, report->cancelled,
            report->duplicates, report->retries, report->stale_temps_removed,
            (unsigned long long)report->bytes);
    /* Network time and CPU time are sums over items: with overlap they add
     * up to more than the wall time, which is the point. */
    fprintf(out,
            ",\"wall_ms\":%.3f,\"network_ms\":%.3f,\"cpu_ms\":%.3f,"
            "\"stage_ms\":{\"download\":%.3f,\"decode\":%.3f,\"operator\":%.3f,"
            "\"encode_write\":%.3f}",
            ms(report->wall_s), ms(report->download_s),
            ms(report->decode_s + report->edge_s + report->encode_s), ms(report->download_s),
            ms(report->decode_s), ms(report->edge_s), ms(report->encode_s));
    /* Process-wide, so with --compare the second summary includes the
     * first run. */
    fprintf(out,
            ",\"process_cpu_ms\":{\"user\":%.3f,\"system\":%.3f},\"peak_rss_bytes\":%llu,"
            "\"peak_items_held\":%zu,\"memory_budget_bytes\":%zu,\"peak_reserved_bytes\":%zu",
            timeval_ms(usage.ru_utime), timeval_ms(usage.ru_stime), peak_rss_bytes(&usage),
            report->peak_held, report->memory_budget, report->peak_reserved);
    /* The download cap: where it started, how high it could and did go,
     * and the most transfers in flight at once. */
    fprintf(out,
            ",\"downloads\":{\"adaptive\":%s,\"start\":%u,\"ceiling\":%u,\"peak_cap\":%u,"
            "\"rises_to_peak\":%u,\"final_cap\":%u,\"peak_in_flight\":%u}",
            report->cap_mode == PL_CAP_ADAPTIVE ? "true" : "false", report->cap_start,
            report->cap_ceiling, report->peak_cap, report->rises_to_peak, report->final_cap,
            report->peak_in_flight);
    fputs(",\"fds_leaked\":", out);
    if (info->fds_counted)
        fprintf(out, "%ld", info->fds_leaked);
    else
        fputs("null", out);
    fputs(",\"signal\":", out);
    if (report->signal != 0)
        fprintf(out, "\"SIG%s\"", sigabbrev_np(report->signal));
    else
        fputs("null", out);
    fprintf(out, ",\"exit_code\":%d}\n", info->exit_code);
    fflush(out);
}
