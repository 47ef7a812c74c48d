/* The live one-line progress display on a terminal (stderr). Driven by the
 * run's progress callback on the loop thread, the same thread that prints
 * the per-item lines, so the two never race. */
#ifndef EDGEFETCH_CMD_PROGRESS_H
#define EDGEFETCH_CMD_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "pipeline.h"

struct progress {
    FILE *out;
    bool shown;      /* a line is on screen, not yet ended by a newline */
    double rate;     /* bytes/s, smoothed */
    double last_s;   /* elapsed at the previous update */
    uint64_t last_bytes;  /* shown_bytes then */
    uint64_t shown_bytes; /* the most ever reported: never goes back */
};

void progress_init(struct progress *progress, FILE *out);
/* A pl_progress_cb; `user` is the struct progress. Redraws the line, and
 * ends it with a newline on the run's last call. */
void progress_update(const struct pl_progress *state, void *user);
/* Erases the line before other output goes to the same terminal; the next
 * update draws it again. Accepts NULL. */
void progress_clear(struct progress *progress);

#endif
