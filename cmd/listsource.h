/* The URL list as the run takes it: whole (io_url_list, for the readable
 * layout, --compare and --dry-run) or streamed (a pl_source over io's
 * reader, for the positional layout and tar shards), with the rows this
 * process keeps decided as they are read (row_filter). */
#ifndef EDGEFETCH_CMD_LISTSOURCE_H
#define EDGEFETCH_CMD_LISTSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "pipeline.h"

/* Which rows of the list this process keeps: with positional names, only
 * this shard's (the others are hashed and dropped as they are read), no
 * repeats (their 64-bit fingerprints, `seen`: every row kept is then one
 * item), and for tar shards none whose tar is complete already
 * (tar_out_keep_row). Used on one thread at a time. */
struct row_filter {
    const struct pl_options *pl;
    bool own_shard_only;
    struct io_fp_set *seen; /* the fingerprints of the rows kept; NULL: repeats kept */
    struct tar_out *tar;
    size_t repeats;
    uint64_t tag; /* of the last row kept: its tar (tar shards) */
};

/* The list (any format of io's reader, whole) and the URL arguments after
 * it; errors are printed. A read that waits also polls `wake_fd` (-1: none;
 * pl_signal_wake_fd): once it is readable, -ECANCELED, not printed, with the
 * rows read so far in `urls`. */
int list_read_whole(const struct cli *cli, struct io_url_list *urls, struct row_filter *filter,
                    int wake_fd);

/* A streamed list: opens it, reads its header (errors printed, a negative
 * code: nothing has run) and fills `source` for pl_run_stream; the URL
 * arguments come after the list's last row, numbered on after it. Its
 * reads poll `wake_fd` (not closed here; -1: none), which source.cancel
 * writes: once it is readable (a signal, a stop), the list gives no more
 * rows, -ECANCELED. */
struct list_source;
int list_source_create(const struct cli *cli, struct row_filter *filter, int wake_fd,
                       struct list_source **out, struct pl_source *source);
/* Reads up to the first row kept (blocking: a pipe's producer may take its
 * time), which the run then gets first: 1 with one, 0 when there is none
 * (the list and the arguments gave no row, or the shard keeps none of
 * them), -ECANCELED, not printed, when `wake_fd` stopped the read first,
 * or another negative code, printed (the list could not be read: nothing
 * has run). */
int list_source_first(struct list_source *list);
/* Rows the list and the arguments gave (kept or dropped): 0 for an empty
 * list with no arguments. Once the run is over. */
uint64_t list_source_rows(const struct list_source *list);
/* True once every row was read (not stopped before the end). */
bool list_source_complete(const struct list_source *list);
/* Accepts NULL. Closes the list. */
void list_source_destroy(struct list_source *list);

#endif
