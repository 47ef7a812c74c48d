#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

void progress_init(struct progress *progress, FILE *out)
{
    memset(progress, 0, sizeof(*progress));
    progress->out = out;
}

static void format_bytes(char *buf, size_t size, double bytes)
{
    if (bytes >= 1e9)
        snprintf(buf, size, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        snprintf(buf, size, "%.1f MB", bytes / 1e6);
    else if (bytes >= 1e3)
        snprintf(buf, size, "%.1f kB", bytes / 1e3);
    else
        snprintf(buf, size, "%.0f B", bytes);
}

static void format_duration(char *buf, size_t size, double seconds)
{
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

/* Columns of the terminal, so the line never wraps (a wrapped line cannot
 * be redrawn with a carriage return). */
static size_t terminal_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

void progress_update(const struct pl_progress *state, void *user)
{
    struct progress *progress = user;
    char line[512];
    char bytes[32];
    char rate[32];
    char eta[32] = "--";

    /* Rate: exponentially smoothed over the updates (about a second). */
    double dt = state->elapsed_s - progress->last_s;
    if (dt > 0.05) {
        double now = (double)(state->bytes - progress->last_bytes) / dt;
        progress->rate = progress->last_s == 0 ? now : 0.7 * progress->rate + 0.3 * now;
        progress->last_s = state->elapsed_s;
        progress->last_bytes = state->bytes;
    }
    if (state->finished && state->elapsed_s > 0)
        progress->rate = (double)state->bytes / state->elapsed_s; /* the run's average */
    size_t done = state->ok + state->failed + state->skipped + state->cancelled;
    /* ETA from the items fetched so far (skipped ones cost nothing). */
    size_t worked = state->ok + state->failed;
    if (state->finished)
        format_duration(eta, sizeof(eta), state->elapsed_s);
    else if (worked > 0 && state->total > done)
        format_duration(eta, sizeof(eta),
                        state->elapsed_s / (double)worked * (double)(state->total - done));
    format_bytes(bytes, sizeof(bytes), (double)state->bytes);
    format_bytes(rate, sizeof(rate), progress->rate);

    int len = snprintf(line, sizeof(line),
                       "%zu/%zu done, %zu failed, %zu skipped | dl %zu, %zu waiting | "
                       "cpu %zu queued, %zu busy | %s, %s/s | %s %s",
                       done, state->total, state->failed, state->skipped, state->downloading,
                       state->waiting, state->worker_queue, state->processing, bytes, rate,
                       state->finished ? "took" : "ETA", eta);
    size_t width = terminal_width(progress->out) - 1;
    if (len > 0 && (size_t)len > width)
        line[width] = '\0';
    /* \r to the line's start, the text, then erase what a longer previous
     * line left to the right. */
    fprintf(progress->out, "\r%s\033[K", line);
    if (state->finished) {
        fputc('\n', progress->out);
        progress->shown = false;
    } else {
        progress->shown = true;
    }
    fflush(progress->out);
}

void progress_clear(struct progress *progress)
{
    if (progress == NULL || !progress->shown)
        return;
    fputs("\r\033[K", progress->out);
    progress->shown = false;
}
