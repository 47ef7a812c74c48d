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
/* While the list is read (on the run's list reader thread): is the next
 * row (after shard and repeat checks) kept? False when its tar shard is
 * complete already (resume: counted as skipped); a kept row's tar number
 * into *tar_index (its pl_row.tag). The first row of a tar sweeps that
 * tar's abandoned temporaries (tar_out_temps_removed). */
bool tar_out_keep_row(struct tar_out *tar, uint64_t *tar_index);
size_t tar_out_skipped(const struct tar_out *tar);
size_t tar_out_temps_removed(const struct tar_out *tar);
/* The item's place in its tar, "TTTTT.tar/KEY.png", for the report. */
void tar_out_item_name(const struct tar_out *tar, const struct pl_item *item, char *name,
                       size_t size);
/* One finished item (its tar: item->tag): an ok one's KEY.png and KEY.json
 * (`json`, its --json record) go into its tar; a tar whose IO_TAR_ITEMS
 * items have all been reported is renamed into place. 0, or a negative
 * code with `err` (the run goes on, that tar is lost and redone by a
 * rerun). */
int tar_out_item(struct tar_out *tar, const struct pl_item *item, const char *json,
                 size_t json_size, char *err, size_t err_size);
/* The list was read to its end and the run is over: the tars short of
 * IO_TAR_ITEMS (the last one) whose items were all reported are renamed
 * into place. 0 or the first error, with `err`. */
int tar_out_finish(struct tar_out *tar, char *err, size_t err_size);
/* Tars written; the ones still open (a stopped run) are discarded. */
size_t tar_out_written(const struct tar_out *tar);
void tar_out_destroy(struct tar_out *tar);

#endif
