/* Output names that need no pass over the whole list (io.h, "layouts"): a
 * row's name comes from its line alone, so it is the same in every shard and
 * in a list read as it streams, and two rows never share one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "io.h"

int io_positional_key(uint64_t line, char *key, size_t key_size)
{
    int len = snprintf(key, key_size, "%09" PRIu64, line);
    return len < 0 || (size_t)len >= key_size ? -ENOSPC : 0;
}

int io_positional_path(uint64_t line, char *folder, size_t folder_size, char *file,
                       size_t file_size)
{
    int folder_len = snprintf(folder, folder_size, "%05" PRIu64, line / IO_POSITIONAL_PER_FOLDER);
    if (folder_len < 0 || (size_t)folder_len >= folder_size)
        return -ENOSPC;
    int file_len = snprintf(file, file_size, "%09" PRIu64 ".png", line);
    return file_len < 0 || (size_t)file_len >= file_size ? -ENOSPC : 0;
}

int io_tar_shard_name(unsigned shard_index, unsigned shard_count, uint64_t tar_index, char *name,
                      size_t name_size)
{
    int len = shard_count > 1
                  ? snprintf(name, name_size, "%05u-%05" PRIu64 ".tar", shard_index, tar_index)
                  : snprintf(name, name_size, "%05" PRIu64 ".tar", tar_index);
    return len < 0 || (size_t)len >= name_size ? -ENOSPC : 0;
}
