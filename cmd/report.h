/* The end-of-run report printed on stderr: one column per mode. */
#ifndef EDGEFETCH_CMD_REPORT_H
#define EDGEFETCH_CMD_REPORT_H

#include <stdio.h>

#include "pipeline.h"

struct report_column {
    const char *title;
    const struct pl_report *report;
    unsigned max_downloads;
    unsigned workers;
};

/* Prints the table; with two columns, adds the second's speedup over the first. */
void report_print(FILE *out, const struct report_column *columns, size_t count);

#endif
