/* The early signal handler (signals.c) around a run's own (run.c). */
#ifndef EDGEFETCH_PIPELINE_SIGNALS_PRIVATE_H
#define EDGEFETCH_PIPELINE_SIGNALS_PRIVATE_H

/* Right after a run closed its signal handles: puts pl_signals_catch's
 * handler back (when it was ever installed), so that a signal while the
 * process still works after the run is kept, not fatal. `stop_signal`: the
 * signal that stopped the run, or 0; when SIGINT or SIGTERM, the next one
 * is the second and exits at once. */
void signals_rearm(int stop_signal);

#endif
