/* The end-of-run report printed on stderr: one column per mode. */
#ifndef EDGEFETCH_CMD_REPORT_H
#define EDGEFETCH_CMD_REPORT_H

#include <stdio.h>

#include "pipeline.h"

struct report_column {
    const char *title;
    const struct pl_report *report; /* its cap too: where it started, how high it rose */
    unsigned workers;
};

/* The "downloads in flight / workers" figure: "N / W" for a fixed cap (-j,
 * --compare, --sequential) and an adaptive one that never rose, "START-PEAK
 * / W" for one that did (as the "download cap adapted" line says it). */
void report_format_cap(char *buf, size_t size, const struct pl_report *report, unsigned workers);

/* Prints the table; with two columns, adds the second's speedup over the first. */
void report_print(FILE *out, const struct report_column *columns, size_t count);

#endif
