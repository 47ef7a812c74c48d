/* The defaults of a run, next to the code that uses them: the CLI prints
 * them in --help from here and only overrides what it was told. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pipeline.h"

#define MEMORY_BUDGET_MAX ((uint64_t)4 << 30)
/* When neither the RAM nor a cgroup limit can be read. */
#define MEMORY_BUDGET_FALLBACK ((uint64_t)1 << 30)

/* The limit in the file at `path` (a byte count), or UINT64_MAX when there
 * is none ("max"), it cannot be read, or it is v1's "no limit" (a huge
 * number, which is above any RAM and so never the lower). */
static uint64_t limit_in_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return UINT64_MAX;
    uint64_t limit = 0;
    int got = fscanf(f, "%" SCNu64, &limit);
    fclose(f);
    return got == 1 && limit > 0 ? limit : UINT64_MAX;
}

/* The lowest limit in `file` of the cgroup `dir` (under `mount`) and of
 * each of its ancestors up to the mount: a limit on a parent (a Slurm job's
 * cgroup over its step's, a systemd slice) binds its children too. */
static uint64_t lowest_up_the_path(const char *mount, const char *dir, const char *file)
{
    char path[4096];
    uint64_t lowest = UINT64_MAX;
    int n = snprintf(path, sizeof(path), "%s%s", mount, dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return UINT64_MAX;
    size_t length = (size_t)n;
    while (length > 0 && path[length - 1] == '/')
        path[--length] = '\0';
    for (;;) {
        char at[4096 + 32];
        snprintf(at, sizeof(at), "%s/%s", path, file);
        uint64_t limit = limit_in_file(at);
        if (limit < lowest)
            lowest = limit;
        if (length <= strlen(mount))
            break;
        char *slash = strrchr(path, '/');
        if (slash == NULL || (size_t)(slash - path) < strlen(mount))
            break;
        *slash = '\0';
        length = (size_t)(slash - path);
    }
    return lowest;
}

/* The memory limit of the cgroup this process is in, in bytes, or
 * UINT64_MAX when there is none or it cannot be read. /proc/self/cgroup
 * names the process's own cgroup ("0::/PATH" in v2, "N:memory:/PATH" in
 * v1): its memory.max (v1: memory.limit_in_bytes) and its ancestors' count,
 * not only the mount's top, which without a cgroup namespace (a Slurm step,
 * a systemd service) is the root's, with no limit. */
static uint64_t cgroup_memory_limit(void)
{
    char line[4096];
    uint64_t lowest = UINT64_MAX;
    FILE *self = fopen("/proc/self/cgroup", "r");
    if (self != NULL) {
        while (fgets(line, sizeof(line), self) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            char *controllers = strchr(line, ':');
            char *dir = controllers != NULL ? strchr(controllers + 1, ':') : NULL;
            if (dir == NULL || dir[1] != '/')
                continue;
            *dir++ = '\0';
            *controllers++ = '\0';
            uint64_t limit = UINT64_MAX;
            if (strcmp(line, "0") == 0 && controllers[0] == '\0')
                limit = lowest_up_the_path("/sys/fs/cgroup", dir, "memory.max");
            else if (strstr(controllers, "memory") != NULL)
                limit = lowest_up_the_path("/sys/fs/cgroup/memory", dir, "memory.limit_in_bytes");
            if (limit < lowest)
                lowest = limit;
        }
        fclose(self);
    }
    /* No limit found that way (or no /proc): the mount's top, as a
     * container with its own cgroup namespace sees its own cgroup. */
    if (lowest == UINT64_MAX) {
        lowest = limit_in_file("/sys/fs/cgroup/memory.max");
        uint64_t v1 = limit_in_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        if (v1 < lowest)
            lowest = v1;
    }
    return lowest;
}

/* Half of what this process may use (the physical RAM, or the cgroup's
 * limit when that is lower), at most 4 GiB: the other half is left for the
 * bodies in flight, the libraries and everything else on the machine. A
 * budget is per run; several runs on one host share the RAM and want a
 * --max-memory each. */
static size_t default_max_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    uint64_t available =
        pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : UINT64_MAX;
    uint64_t cgroup = cgroup_memory_limit();
    if (cgroup < available)
        available = cgroup;
    uint64_t budget = available == UINT64_MAX ? MEMORY_BUDGET_FALLBACK : available / 2;
    if (budget > MEMORY_BUDGET_MAX)
        budget = MEMORY_BUDGET_MAX;
    if (budget > SIZE_MAX / 2)
        budget = SIZE_MAX / 2;
    return budget > 0 ? (size_t)budget : MEMORY_BUDGET_FALLBACK;
}

void pl_options_init(struct pl_options *opts)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);

    memset(opts, 0, sizeof(*opts));
    opts->mode = PL_CONCURRENT;
    /* Chosen on the many-host test world (tests/bench/results/world_defaults.md):
     * 32 in flight keep a list spread over many hosts busy where 4 left the
     * link idle; 4 per host keep a one-host list as polite as the lesson's 4
     * in flight (2 per host was slower: a dead host then takes two connect
     * timeouts to find; 8 was no faster). */
    opts->max_downloads = 32;
    /* ...and from there up to PL_ADAPT_CEILING while the CPU stage waits
     * for bodies on a latency-bound list (adapt.h; world_adaptive.md). */
    opts->cap_mode = PL_CAP_ADAPTIVE;
    opts->max_downloads_ceiling = PL_ADAPT_CEILING;
    opts->max_per_host = 4;
    opts->workers = online > 0 ? (unsigned)online : 1;
    opts->op = IMG_OP_SOBEL;
    img_canny_options_init(&opts->canny);
    opts->png_level = 1; /* imaging/PNG_SETTINGS.md: the best time per byte saved */
    opts->max_pixels = 100 * 1000 * 1000;
    opts->max_memory = default_max_memory();
    opts->output_dir = "edges";
    opts->http.timeout_ms = 60 * 1000;
    /* Three SYNs (at 0, 1 and 3 s) and a slow handshake fit; a dead host
     * costs one of these (retry.c does not retry it), not 10 s. */
    opts->http.connect_timeout_ms = 5 * 1000;
    opts->http.max_body = 64 * 1024 * 1024;
    opts->http.max_redirs = 5;
    opts->http.user_agent = "edgefetch/" EDGEFETCH_VERSION;
    opts->retries = 2;
    opts->retry_base_s = 0.5;
    opts->retry_after_max_s = 60;
    /* Long next to a connect timeout (a probe costs at most one per
     * cool-down: 5 s in 30 s, then 60 s, ... 240 s, of one slot), short
     * next to a long run, so a host that blinked comes back. */
    opts->host_cooldown_ms = 30 * 1000;
}
