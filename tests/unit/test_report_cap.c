/* The report's "downloads in flight / workers" figure (cmd/report.c,
 * report_format_cap): from the run's report, not the options. An adaptive
 * cap that rose says its start and peak (it said the starting 32 however
 * high the cap went); a fixed one, or one that never rose, its one value.
 * The world test (tests/world/test_adaptive_report.py) holds a real run's
 * report to the same. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "report.h"

static const char *figure(enum pl_cap_mode mode, unsigned start, unsigned peak, unsigned workers)
{
    static char buf[32];
    struct pl_report report;
    memset(&report, 0, sizeof(report));
    report.cap_mode = mode;
    report.cap_start = start;
    report.peak_cap = peak;
    report.final_cap = start;
    report.cap_ceiling = 256;
    report_format_cap(buf, sizeof(buf), &report, workers);
    return buf;
}

int main(void)
{
    CHECK_STR_EQ(figure(PL_CAP_ADAPTIVE, 32, 256, 2), "32-256 / 2");
    CHECK_STR_EQ(figure(PL_CAP_ADAPTIVE, 32, 48, 8), "32-48 / 8");
    /* Adaptive but never risen: the cap was 32 throughout. */
    CHECK_STR_EQ(figure(PL_CAP_ADAPTIVE, 32, 32, 2), "32 / 2");
    /* -j 7 (maybe lowered to fit the descriptor limit: the start is the run's). */
    CHECK_STR_EQ(figure(PL_CAP_FIXED, 7, 7, 2), "7 / 2");
    /* --sequential: one at a time. */
    CHECK_STR_EQ(figure(PL_CAP_FIXED, 1, 1, 1), "1 / 1");
    return 0;
}
