/* The names of failure stages and kinds: the only place where the codes the
 * pipeline carries become text (for the FAILED lines and --json). */
#ifndef EDGEFETCH_CMD_OUTCOME_H
#define EDGEFETCH_CMD_OUTCOME_H

#include "pipeline.h"

/* "url", "download", "decode", "edge", "encode", "write"; NULL for NONE. */
const char *outcome_stage_name(enum pl_stage stage);
/* The JSON kind (docs/json.md lists them all): "timeout", "not_an_image", … */
const char *outcome_kind_name(enum pl_kind kind);

#endif
