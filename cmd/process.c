#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "process.h"

int process_open_std_fds(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lowest free descriptor is `fd` itself, since those below it
         * are open by now; dup2 only in case something else raced for it. */
        int opened = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (opened < 0)
            return -errno;
        if (opened != fd) {
            int rc = dup2(opened, fd) < 0 ? -errno : 0;
            close(opened);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

void process_ignore_sigpipe(void)
{
    struct sigaction ignore;
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, NULL);
}

void process_return_freed_memory(void)
{
#ifdef __GLIBC__
    /* Setting it also turns glibc's dynamic threshold off. */
    mallopt(M_MMAP_THRESHOLD, PROCESS_MMAP_THRESHOLD);
#endif
}

/* fs.nr_open: the most RLIMIT_NOFILE may be set to; 1048576 is its default. */
static rlim_t nr_open(void)
{
    unsigned long value = 1048576;
    FILE *in = fopen("/proc/sys/fs/nr_open", "r");
    if (in != NULL) {
        if (fscanf(in, "%lu", &value) != 1)
            value = 1048576;
        fclose(in);
    }
    return (rlim_t)value;
}

long process_raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return -1;
    rlim_t want = limit.rlim_max == RLIM_INFINITY ? nr_open() : limit.rlim_max;
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= want)
        return limit.rlim_cur == RLIM_INFINITY ? (long)want : (long)limit.rlim_cur;
    struct rlimit raised = {.rlim_cur = want, .rlim_max = limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
        return (long)want;
    return (long)limit.rlim_cur;
}

unsigned process_fit_downloads(long limit, long in_use, unsigned workers, unsigned wanted)
{
    long holders = workers > 0 ? (long)workers : 1;
    long room = limit - in_use - PROCESS_FIXED_FDS - holders * PROCESS_FDS_PER_WORKER;
    long fit = room / PROCESS_FDS_PER_TRANSFER;
    if (fit < 1)
        return 1;
    return fit < (long)wanted ? (unsigned)fit : wanted;
}

unsigned process_fit_workers(long limit, long in_use, unsigned wanted)
{
    long room = limit - in_use - PROCESS_FIXED_FDS - PROCESS_FDS_PER_TRANSFER;
    long fit = room / PROCESS_FDS_PER_WORKER;
    if (fit < 1)
        return 1;
    return fit < (long)wanted ? (unsigned)fit : wanted;
}
