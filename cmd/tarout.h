/* --output-format tar: the run's outputs as webdataset tar shards, written
 * on the loop thread from the items pl_run hands back (png_to_caller). */
#ifndef EDGEFETCH_CMD_TAROUT_H
#define EDGEFETCH_CMD_TAROUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pipeline.h"

struct tar_out;

/* For the rows of one process (this shard's, repeats dropped) in `dir`. */
int tar_out_create(const char *dir, const struct pl_options *opts, struct tar_out **out);
/* While the list is read: is the next row (after shard and repeat checks)
 * kept? False when its tar shard is complete already (resume: counted as
 * skipped); a kept row is entry number tar_out_entries() - 1 of the list. */
bool tar_out_keep_row(struct tar_out *tar);
size_t tar_out_entries(const struct tar_out *tar);
size_t tar_out_skipped(const struct tar_out *tar);
/* The item's place in its tar, "TTTTT.tar/KEY.png", for the report. */
void tar_out_item_name(const struct tar_out *tar, const struct pl_item *item, char *name,
                       size_t size);
/* One finished item: an ok one's KEY.png and KEY.json (`json`, its --json
 * record) go into its tar; a tar every item of which has been reported is
 * renamed into place. 0, or a negative code with `err` (the run goes on,
 * that tar is lost and redone by a rerun). */
int tar_out_item(struct tar_out *tar, const struct pl_item *item, const char *json,
                 size_t json_size, char *err, size_t err_size);
/* The name of this run's `nth` tar (those with rows in it): 0, or -ENOENT
 * past the last. */
int tar_out_name(const struct tar_out *tar, size_t nth, char *name, size_t size);
/* Tars written; the ones still open (a stopped run) are discarded. */
size_t tar_out_written(const struct tar_out *tar);
void tar_out_destroy(struct tar_out *tar);

#endif
