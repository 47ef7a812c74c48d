/* The --json output: lines appended on the loop thread go to a buffer that a
 * writer thread drains into a descriptor, so that a slow reader of stdout
 * (`| less`, a paused consumer) never blocks the loop, where running
 * transfers would time out. What the buffer holds is bounded through the
 * pipeline's gate: above a high-water mark it says HOLD (no new transfers
 * start; those in flight finish and their lines are still appended), below a
 * low-water mark OPEN again; once a write failed (EPIPE: the reader is gone)
 * it says STOP. */
#ifndef EDGEFETCH_CMD_OUTPUT_H
#define EDGEFETCH_CMD_OUTPUT_H

#include <stddef.h>

#include "pipeline.h"

/* Bytes waiting to be written above which the gate holds, and below which it
 * opens again. A few hundred NDJSON lines: enough that a reader that keeps
 * up never holds the run, small next to the bodies the run holds. */
#define OUTPUT_HIGH_WATER (256 * 1024)
#define OUTPUT_LOW_WATER (64 * 1024)
/* The cap on what is held: output_append waits for the reader above it.
 * Lines made while transfers run stay far below it (the gate holds at the
 * high-water mark and the pipeline holds at most -j + 3 x -w items); it is
 * reached by lines made with no transfer running, which waiting stalls
 * nothing: the up-front lines of a long list's skipped or refused items, the
 * cancelled ones after a stop. */
#define OUTPUT_HARD_CAP (16 * 1024 * 1024)

struct output;

/* Starts the writer thread for `fd` (not closed by output_destroy). */
int output_create(int fd, struct output **out);
/* Writes what is buffered (blocking until done or a write fails), stops the
 * writer and frees. Returns output_error's last word. Accepts NULL. */
int output_destroy(struct output *output);
/* Appends a copy of `size` bytes; does not wait for the descriptor below
 * OUTPUT_HARD_CAP. After a write error the bytes are dropped. -ENOMEM when
 * no copy could be made. */
int output_append(struct output *output, const char *data, size_t size);
/* The pipeline's gate (pl_gate_cb), with the output as `user`. */
enum pl_gate output_gate(void *user);
/* 0, or the negative errno of the first failed write (-EPIPE: the reader
 * closed its end). */
int output_error(struct output *output);

#endif
