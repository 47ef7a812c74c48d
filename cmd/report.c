#include <stddef.h>
#include <stdint.h>

#include "report.h"

static void format_bytes(char *buf, size_t size, uint64_t bytes)
{
    if (bytes >= 1000 * 1000)
        snprintf(buf, size, "%.1f MB", (double)bytes / 1e6);
    else if (bytes >= 1000)
        snprintf(buf, size, "%.1f kB", (double)bytes / 1e3);
    else
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
}

static void row_seconds(FILE *out, const char *label, const struct report_column *columns,
                        size_t count, size_t offset)
{
    fprintf(out, "  %-28s", label);
    for (size_t i = 0; i < count; i++) {
        double value = *(const double *)((const char *)columns[i].report + offset);
        fprintf(out, " %12.2f s", value);
    }
    fputc('\n', out);
}

void report_format_cap(char *buf, size_t size, const struct pl_report *report, unsigned workers)
{
    /* The run's own figures, not the options': -j may have been lowered to
     * fit the descriptor limit, and an adaptive cap moves. */
    if (report->cap_mode == PL_CAP_ADAPTIVE && report->peak_cap > report->cap_start)
        snprintf(buf, size, "%u-%u / %u", report->cap_start, report->peak_cap, workers);
    else
        snprintf(buf, size, "%u / %u", report->cap_start, workers);
}

void report_print(FILE *out, const struct report_column *columns, size_t count)
{
    char buf[32];

    fprintf(out, "\n  %-28s", "");
    for (size_t i = 0; i < count; i++)
        fprintf(out, " %14s", columns[i].title);
    fputc('\n', out);

    fprintf(out, "  %-28s", "downloads in flight / workers");
    for (size_t i = 0; i < count; i++) {
        report_format_cap(buf, sizeof(buf), columns[i].report, columns[i].workers);
        fprintf(out, " %14s", buf);
    }
    fputc('\n', out);
    fprintf(out, "  %-28s", "images ok");
    for (size_t i = 0; i < count; i++)
        fprintf(out, " %14zu", columns[i].report->ok);
    fputc('\n', out);
    fprintf(out, "  %-28s", "images failed");
    for (size_t i = 0; i < count; i++)
        fprintf(out, " %14zu", columns[i].report->failed);
    fputc('\n', out);
    for (size_t i = 0; i < count; i++) {
        if (columns[i].report->cancelled == 0)
            continue;
        fprintf(out, "  %-28s", "images cancelled (signal)");
        for (size_t j = 0; j < count; j++)
            fprintf(out, " %14zu", columns[j].report->cancelled);
        fputc('\n', out);
        break;
    }
    fprintf(out, "  %-28s", "bytes downloaded");
    for (size_t i = 0; i < count; i++) {
        format_bytes(buf, sizeof(buf), columns[i].report->bytes);
        fprintf(out, " %14s", buf);
    }
    fputc('\n', out);

    fprintf(out, "  %-28s", "download retries");
    for (size_t i = 0; i < count; i++)
        fprintf(out, " %14zu", columns[i].report->retries);
    fputc('\n', out);
    fprintf(out, "  %-28s", "peak images held / limit");
    for (size_t i = 0; i < count; i++) {
        snprintf(buf, sizeof(buf), "%zu / %zu", columns[i].report->peak_held,
                 columns[i].report->held_limit);
        fprintf(out, " %14s", buf);
    }
    fputc('\n', out);
    row_seconds(out, "wall time", columns, count, offsetof(struct pl_report, wall_s));
    /* The lesson's point: where the time goes. Sums over items, so with
     * overlap they add up to more than the wall time. */
    row_seconds(out, "network wait (sum)", columns, count,
                offsetof(struct pl_report, download_s));
    row_seconds(out, "decode (sum)", columns, count, offsetof(struct pl_report, decode_s));
    row_seconds(out, "edge operator (sum)", columns, count, offsetof(struct pl_report, edge_s));
    row_seconds(out, "encode + write (sum)", columns, count,
                offsetof(struct pl_report, encode_s));
    fprintf(out, "  %-28s", "CPU work (sum)");
    for (size_t i = 0; i < count; i++) {
        const struct pl_report *r = columns[i].report;
        fprintf(out, " %12.2f s", r->decode_s + r->edge_s + r->encode_s);
    }
    fputc('\n', out);
    /* A run a signal stopped did not do the work the other did: no ratio. */
    if (count == 2 && columns[1].report->wall_s > 0 && columns[0].report->signal == 0 &&
        columns[1].report->signal == 0) {
        fprintf(out, "  %-28s %14s %13.2fx\n", "speedup", "",
                columns[0].report->wall_s / columns[1].report->wall_s);
    }
    fputc('\n', out);
}
