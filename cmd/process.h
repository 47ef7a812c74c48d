/* The process around a run: the standard descriptors, SIGPIPE, and the
 * descriptor limit that bounds how many transfers can be in flight. */
#ifndef EDGEFETCH_CMD_PROCESS_H
#define EDGEFETCH_CMD_PROCESS_H

#include <stdbool.h>

/* Opens /dev/null on whichever of 0, 1 and 2 is closed, so that no
 * descriptor the process opens later (libuv's epoll fd, which libuv asserts
 * is above 2; an output file) takes their place and receives what is meant
 * for stdout or stderr. Call first in main. */
int process_open_std_fds(void);

/* SIGPIPE ignored: a reader that closes stdout is seen as EPIPE by the write
 * and handled (the run stops, exit 141) instead of killing the process
 * mid-run. */
void process_ignore_sigpipe(void);

/* Large allocations (image buffers, >= PROCESS_MMAP_THRESHOLD) come from
 * mmap and go back to the kernel when freed, so that the memory budget
 * (--max-memory) bounds the RSS: glibc's default raises that threshold to
 * 32 MiB after the first large free, and then each worker's arena keeps the
 * freed buffers of its last item (measured: 4 workers, 41 MP images one at
 * a time under a 160 MiB budget peaked at 211 MiB, 113 MiB with it). A
 * no-op outside glibc. */
#define PROCESS_MMAP_THRESHOLD (256 << 10)
void process_return_freed_memory(void);

/* Raises the soft RLIMIT_NOFILE to the hard limit (to the kernel's
 * fs.nr_open when the hard limit is unlimited). Returns the soft limit now in
 * force, or -1 when it cannot be read. */
long process_raise_fd_limit(void);

/* Descriptors the run needs besides its transfers and workers: libuv's epoll
 * fd and eventfd, curl's multi wake-up pair, the output folder while it is
 * swept, /proc reads for the report, with room to spare. */
#define PROCESS_FIXED_FDS 16
/* A transfer: its socket and the socketpair of curl's resolver thread. */
#define PROCESS_FDS_PER_TRANSFER 3
/* A worker: the temporary file it writes, and the folder it may open to
 * sync the rename. */
#define PROCESS_FDS_PER_WORKER 2

/* The most transfers (at most `wanted`, at least 1) that fit in `limit`
 * descriptors when `in_use` are open already and `workers` threads (at
 * least one: sequential mode writes on the loop thread) each hold theirs.
 * Pure, for its unit test. */
unsigned process_fit_downloads(long limit, long in_use, unsigned workers, unsigned wanted);

/* The most workers (at most `wanted`, at least 1) that fit in `limit` with
 * one transfer besides them. */
unsigned process_fit_workers(long limit, long in_use, unsigned wanted);

#endif
