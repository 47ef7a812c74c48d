/* The defaults of a run, next to the code that uses them: the CLI prints
 * them in --help from here and only overrides what it was told. */
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pipeline.h"

void pl_options_init(struct pl_options *opts)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);

    memset(opts, 0, sizeof(*opts));
    opts->mode = PL_CONCURRENT;
    /* The lesson's 4: enough to hide latency, polite to one server. */
    opts->max_downloads = 4;
    opts->workers = online > 0 ? (unsigned)online : 1;
    opts->op = IMG_OP_SOBEL;
    img_canny_options_init(&opts->canny);
    opts->png_level = 1; /* imaging/PNG_SETTINGS.md: the best time per byte saved */
    opts->max_pixels = 100 * 1000 * 1000;
    opts->output_dir = "edges";
    opts->http.timeout_ms = 60 * 1000;
    opts->http.connect_timeout_ms = 10 * 1000;
    opts->http.max_body = 64 * 1024 * 1024;
    opts->http.max_redirs = 5;
    opts->http.user_agent = "edgefetch/" EDGEFETCH_VERSION;
    opts->retries = 2;
    opts->retry_base_s = 0.5;
    opts->retry_after_max_s = 60;
}
