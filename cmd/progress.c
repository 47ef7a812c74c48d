/* The progress line: fields in order of importance, each whole or not at
 * all, as many as the terminal's width holds. */
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
    if (!(seconds < 360000.0)) { /* 100 hours, or not a number: no use as an ETA */
        snprintf(buf, size, "--");
        return;
    }
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

/* The ETA and what it is reckoned by. By bytes when everything left is in
 * flight and every transfer has said its size: the bytes still to come at
 * the current rate. By items otherwise: the time per item so far times the
 * items left, never less than what the known bytes in flight still need. */
static void format_eta(char *buf, size_t size, const struct pl_progress *state, size_t done,
                       double rate)
{
    size_t left =
        state->total > done + state->cancelled ? state->total - done - state->cancelled : 0;
    size_t worked = state->ok + state->failed;
    bool sizes_known = state->downloading > 0 && state->size_unknown == 0 && rate > 0;
    double by_bytes = sizes_known ? (double)state->bytes_remaining / rate : 0;
    char duration[32];

    if (state->finished) {
        format_duration(duration, sizeof(duration), state->elapsed_s);
        snprintf(buf, size, "took %s", duration);
    } else if (left == 0) {
        snprintf(buf, size, "ETA --");
    } else if (sizes_known && state->waiting == 0 && state->downloading >= left) {
        format_duration(duration, sizeof(duration), by_bytes);
        snprintf(buf, size, "ETA %s by bytes", duration);
    } else if (worked > 0) {
        double by_items = state->elapsed_s / (double)worked * (double)left;
        format_duration(duration, sizeof(duration), by_items > by_bytes ? by_items : by_bytes);
        snprintf(buf, size, "ETA %s by items", duration);
    } else {
        snprintf(buf, size, "ETA --");
    }
}

enum {
    FIELD_MAX = 10,
    FIELD_SIZE = 48,
};

void progress_update(const struct pl_progress *state, void *user)
{
    struct progress *progress = user;
    char fields[FIELD_MAX][FIELD_SIZE];
    size_t count = 0;
    char bytes[32];
    char rate[32];

    /* A retried transfer's bytes leave the in-flight count: what is shown
     * never goes back, and the rate is taken from what is shown, so it is
     * never the wrap-around of an unsigned difference. */
    if (state->bytes > progress->shown_bytes)
        progress->shown_bytes = state->bytes;
    double dt = state->elapsed_s - progress->last_s;
    if (dt > 0.05) {
        double now = (double)(progress->shown_bytes - progress->last_bytes) / dt;
        progress->rate = progress->last_s == 0 ? now : 0.7 * progress->rate + 0.3 * now;
        progress->last_s = state->elapsed_s;
        progress->last_bytes = progress->shown_bytes;
    }
    if (state->finished && state->elapsed_s > 0)
        progress->rate = (double)progress->shown_bytes / state->elapsed_s; /* the run's average */
    size_t done = state->ok + state->failed + state->skipped;
    format_bytes(bytes, sizeof(bytes), (double)progress->shown_bytes);
    format_bytes(rate, sizeof(rate), progress->rate);

    /* Most important first: a narrow terminal drops fields from the end. */
    snprintf(fields[count++], FIELD_SIZE, "%zu/%zu done", done, state->total);
    snprintf(fields[count++], FIELD_SIZE, "%zu failed", state->failed);
    if (state->cancelled > 0)
        snprintf(fields[count++], FIELD_SIZE, "%zu cancelled", state->cancelled);
    snprintf(fields[count++], FIELD_SIZE, "%s/s", rate);
    format_eta(fields[count++], FIELD_SIZE, state, done, progress->rate);
    snprintf(fields[count++], FIELD_SIZE, "%s", bytes);
    snprintf(fields[count++], FIELD_SIZE, "%zu skipped", state->skipped);
    snprintf(fields[count++], FIELD_SIZE, "dl %zu, %zu waiting", state->downloading,
             state->waiting);
    snprintf(fields[count++], FIELD_SIZE, "cpu %zu queued, %zu busy", state->worker_queue,
             state->processing);

    char line[FIELD_MAX * (FIELD_SIZE + 3)];
    size_t width = terminal_width(progress->out) - 1;
    size_t used = 0;
    line[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        size_t need = strlen(fields[i]) + (i > 0 ? 3 : 0);
        /* The first field always, even on a tiny terminal. */
        if (i > 0 && used + need > width)
            break;
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s", i > 0 ? " | " : "",
                                 fields[i]);
    }
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
