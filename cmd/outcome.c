#include "outcome.h"

const char *outcome_stage_name(enum pl_stage stage)
{
    switch (stage) {
    case PL_STAGE_NONE:
        return NULL;
    case PL_STAGE_URL:
        return "url";
    case PL_STAGE_DOWNLOAD:
        return "download";
    case PL_STAGE_DECODE:
        return "decode";
    case PL_STAGE_EDGE:
        return "edge";
    case PL_STAGE_ENCODE:
        return "encode";
    case PL_STAGE_WRITE:
        return "write";
    }
    return NULL;
}

const char *outcome_kind_name(enum pl_kind kind)
{
    switch (kind) {
    case PL_KIND_NONE:
        return NULL;
    case PL_KIND_BAD_URL:
        return "bad_url";
    case PL_KIND_UNSUPPORTED_SCHEME:
        return "unsupported_scheme";
    case PL_KIND_TIMEOUT:
        return "timeout";
    case PL_KIND_CONNECT:
        return "connect";
    case PL_KIND_RESOLVE:
        return "resolve";
    case PL_KIND_HTTP_STATUS:
        return "http_status";
    case PL_KIND_TOO_LARGE:
        return "too_large";
    case PL_KIND_HEADERS_TOO_LARGE:
        return "headers_too_large";
    case PL_KIND_MALFORMED_RESPONSE:
        return "malformed_response";
    case PL_KIND_TOO_MANY_REDIRECTS:
        return "too_many_redirects";
    case PL_KIND_REDIRECT_REFUSED:
        return "redirect_refused";
    case PL_KIND_TLS:
        return "tls";
    case PL_KIND_NETWORK:
        return "network";
    case PL_KIND_NOT_AN_IMAGE:
        return "not_an_image";
    case PL_KIND_UNSUPPORTED_FORMAT:
        return "unsupported_format";
    case PL_KIND_CORRUPT:
        return "corrupt";
    case PL_KIND_TRUNCATED:
        return "truncated";
    case PL_KIND_TOO_MUCH_WORK:
        return "too_much_work";
    case PL_KIND_TOO_MANY_PIXELS:
        return "too_many_pixels";
    case PL_KIND_OVER_BUDGET:
        return "over_budget";
    case PL_KIND_OPERATOR:
        return "operator";
    case PL_KIND_ENCODE:
        return "encode";
    case PL_KIND_WRITE:
        return "write";
    case PL_KIND_OUT_OF_MEMORY:
        return "out_of_memory";
    case PL_KIND_CANCELLED:
        return "cancelled";
    case PL_KIND_OTHER:
        return "other";
    }
    return "other";
}
