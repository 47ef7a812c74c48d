/* Private to io/http*.c: how a transfer's end becomes an io_http_kind
 * (http_outcome.c), and where a redirect may go (http_redirect.c). */
#ifndef EDGEFETCH_IO_HTTP_PRIVATE_H
#define EDGEFETCH_IO_HTTP_PRIVATE_H

#include <stdbool.h>

#include <curl/curl.h>

#include "io.h"

/* What libcurl said and what our callbacks saw of one hop. */
struct http_facts {
    CURLcode code;
    long http_status;     /* CURLINFO_RESPONSE_CODE: 0 when no status line was read */
    bool too_big;         /* on_body refused a body over max_body */
    bool bad_status;      /* on_body refused a non-2xx body */
    bool headers_too_big; /* on_header counted past IO_HTTP_MAX_HEADER_BYTES */
    bool headers_done;    /* the final response's header block ended */
    bool connected;       /* a connection was up (CURLOPT_PREREQFUNCTION ran) */
    /* A socket was opened to connect (CURLOPT_SOCKOPTFUNCTION ran): the name
     * to connect to had resolved. A timeout before that was the lookup's. */
    bool socket_opened;
    bool direct;        /* no proxy: the name looked up is the URL's host's */
    bool out_of_memory; /* one of our own allocations failed */
    /* CURLINFO_HTTP_CONNECTCODE: the proxy's answer to our CONNECT, 0 when
     * none was sent. */
    long proxy_connect_status;
};

/* The kind of a finished hop; IO_HTTP_OK for a 2xx response read whole.
 * Redirects, cancellation and the timeout spent across hops are decided by
 * the caller, which knows more. */
enum io_http_kind http_classify(const struct http_facts *facts);

/* The errno-style code that goes with a kind (result.error). */
int http_kind_errno(enum io_http_kind kind);

/* Whether a redirect response with this status is followed (301, 302, 303,
 * 307, 308, as browsers do; 300 and 304 are not redirects to follow). */
bool http_is_redirect(long status);

/* Room for the schemes http_origin writes (longer ones are cut: they are
 * refused either way). */
#define HTTP_SCHEME_SIZE 16

/* Parses an absolute URL of any scheme (a redirect target is judged before
 * it is followed): `scheme` gets its scheme, lower-cased; *origin its
 * origin "scheme://host:port" (host lower-cased, port explicit, the
 * scheme's default when none is given), malloc'd, or NULL when the URL has
 * no host. Returns 0, -EINVAL when it does not parse, or -ENOMEM. */
int http_origin(const char *url, char scheme[HTTP_SCHEME_SIZE], char **origin);

#endif
