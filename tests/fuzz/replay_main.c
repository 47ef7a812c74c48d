/* A main() for the fuzz harnesses when they are built without libFuzzer:
 * runs LLVMFuzzerTestOneInput once on every file named on the command line,
 * or in the folders named there (not recursive). This is how the committed
 * corpus is replayed as a regression test by any compiler, under ASan and
 * UBSan in the sanitizer build (like libFuzzer's StandaloneFuzzTargetMain). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0;
    size_t capacity = 0;
    int rc = -1;

    if (file == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (size == capacity) {
            capacity = capacity != 0 ? capacity * 2 : 64 * 1024;
            uint8_t *grown = realloc(data, capacity);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                goto out;
            }
            data = grown;
        }
        size_t got = fread(data + size, 1, capacity - size, file);
        size += got;
        if (got == 0)
            break;
    }
    if (ferror(file)) {
        fprintf(stderr, "%s: read error\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(data, size);
    rc = 0;
out:
    free(data);
    fclose(file);
    return rc;
}

int main(int argc, char **argv)
{
    char path[4096];
    unsigned files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (dir == NULL) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            size_t name_len = strlen(entry->d_name);
            /* Hidden files and the folders' README.md are not inputs. */
            if (entry->d_name[0] == '.' ||
                (name_len > 3 && strcmp(entry->d_name + name_len - 3, ".md") == 0))
                continue;
            if (snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name) >= (int)sizeof(path))
                continue;
            if (run_file(path) < 0) {
                closedir(dir);
                return 1;
            }
            files++;
        }
        closedir(dir);
    }
    if (files == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 1;
    }
    printf("replayed %u inputs\n", files);
    return 0;
}
