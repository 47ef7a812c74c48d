/* SIGINT and SIGTERM outside a run (pipeline.h, pl_signals_catch). A run
 * takes the two signals with its own libuv handles (cancel.c), but only once
 * it has started: before it the process reads its list, which may wait on a
 * pipe for ever, and the signals' default action would end it without a
 * report. This handler keeps the first signal for the run to come and wakes
 * the list's reader; libuv's handlers replace it when the run starts them,
 * and it is put back as soon as the run closes them (libuv leaves the
 * default action): after a run the process may still wait, on a --json
 * reader or between --compare's runs, and a signal then must not kill it.
 *
 * Between libuv's putting the default action back (uv_close of the run's
 * signal handles) and signals_rearm there are a few system calls in which
 * a signal still ends the process by its default action (shown under gdb
 * with SIGTERM sent at signals_rearm's entry; a loop of 2,200 runs
 * signalled near their end never hit it). Blocking the two signals in the
 * loop thread across the hand-over would not close it: the kernel then
 * hands the signal to another thread (a worker, the --json writer, libuv's
 * pool), where the default action kills as well; closing it means every
 * other thread blocks them for its whole life. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pipeline.h"
#include "signals_private.h"

/* Written by the handler, read by the loop thread once the run's own
 * handlers are in place (so no signal comes between). */
static volatile sig_atomic_t caught_signal;
static int taken_signal;
/* Set by pl_signals_no_run: no run will take a signal kept now. */
static volatile sig_atomic_t no_run_to_come;
static int wake_fd = -1; /* set before the handler is installed, never after */

static void on_early_signal(int signum)
{
    if (caught_signal != 0 || no_run_to_come) {
        /* A second signal: the user means it, as during a run. With no
         * run to come, a kept one would change nothing (the process may
         * wait on a write that SA_RESTART restarts): the first is enough. */
        _exit(128 + signum);
    }
    caught_signal = signum;
    int saved = errno;
    uint64_t one = 1;
    /* Read once: pl_signals_finish sets it to -1 before it closes it. */
    int fd = wake_fd;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* An eventfd's counter does not overflow at 1: nothing to do. */
    }
    errno = saved;
}

static int install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_early_signal;
    /* Restarted: the reads that must end poll the eventfd too (a poll is
     * never restarted), every other call just goes on. */
    action.sa_flags = SA_RESTART;
    sigfillset(&action.sa_mask);
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0)
        return -errno;
    return 0;
}

int pl_signals_catch(void)
{
    if (wake_fd < 0) {
        wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd < 0)
            return -errno;
    }
    return install();
}

void signals_rearm(int stop_signal)
{
    if (wake_fd < 0)
        return; /* never caught (a library caller): as libuv left them */
    /* Nothing handles the two signals now (libuv's handlers are gone): no
     * handler can race these stores. A run a signal stopped makes the next
     * one the second, which exits at once, as during the run. */
    if ((stop_signal == SIGINT || stop_signal == SIGTERM) && caught_signal == 0) {
        caught_signal = stop_signal;
        taken_signal = stop_signal;
    }
    install(); /* fails only for a bad signal number: not these */
}

void pl_signals_no_run(void)
{
    no_run_to_come = 1;
}

int pl_signal_wake_fd(void)
{
    return wake_fd;
}

int pl_signal_pending(void)
{
    return taken_signal != 0 ? 0 : caught_signal;
}

int pl_signal_take(void)
{
    int signum = pl_signal_pending();
    if (signum != 0)
        taken_signal = signum;
    return signum;
}

void pl_signals_finish(void)
{
    /* The handler stays until the process exits (a signal while it frees
     * and returns changes nothing; a second one exits at once); only its
     * wake-up goes. A handler already past its read of wake_fd on another
     * thread writes to a closed descriptor: nothing opens one after this. */
    int fd = wake_fd;
    wake_fd = -1;
    if (fd >= 0)
        close(fd);
}
