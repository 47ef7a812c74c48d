/* Private to io/: the locked temporary file io_write_atomic writes through,
 * shared with the tar shards (io/tar.c) so that both kinds of temporary are
 * swept by the same rule (io_remove_stale_temps). */
#ifndef EDGEFETCH_IO_FILES_PRIVATE_H
#define EDGEFETCH_IO_FILES_PRIVATE_H

#include <stddef.h>

/* A new file from `pattern` ("DIR/.NAME.XXXXXX.tmp", mkstemps), held under
 * flock(LOCK_EX) by the descriptor returned; its path in `tmp_path`. A
 * negative code when it cannot be made. */
int io__create_locked_temp(const char *pattern, char *tmp_path, size_t tmp_size);

#endif
