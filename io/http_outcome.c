/* Failure kinds of HTTP transfers: decided once, here, from libcurl's code
 * and what the transfer's callbacks saw (see http_facts); io_http_result
 * carries the kind and printers only name it. */
#include <errno.h>

#include "http_private.h"

const char *io_http_kind_name(enum io_http_kind kind)
{
    switch (kind) {
    case IO_HTTP_OK:
        return "ok";
    case IO_HTTP_CANCELLED:
        return "cancelled";
    case IO_HTTP_RESOLVE:
        return "resolve";
    case IO_HTTP_RESOLVE_PROXY:
        return "resolve_proxy";
    case IO_HTTP_CONNECT_REFUSED:
        return "connect_refused";
    case IO_HTTP_CONNECT_TIMEOUT:
        return "connect_timeout";
    case IO_HTTP_TLS:
        return "tls";
    case IO_HTTP_STATUS:
        return "http_status";
    case IO_HTTP_TIMEOUT:
        return "timeout";
    case IO_HTTP_TOO_LARGE:
        return "too_large";
    case IO_HTTP_HEADERS_TOO_LARGE:
        return "headers_too_large";
    case IO_HTTP_MALFORMED:
        return "malformed_response";
    case IO_HTTP_TOO_MANY_REDIRECTS:
        return "too_many_redirects";
    case IO_HTTP_REDIRECT_REFUSED:
        return "redirect_refused";
    case IO_HTTP_CUT_SHORT:
        return "cut_short";
    case IO_HTTP_NETWORK:
        return "network";
    case IO_HTTP_OUT_OF_MEMORY:
        return "out_of_memory";
    }
    return "unknown";
}

int http_kind_errno(enum io_http_kind kind)
{
    switch (kind) {
    case IO_HTTP_OK:
        return 0;
    case IO_HTTP_CANCELLED:
        return -ECANCELED;
    case IO_HTTP_RESOLVE:
    case IO_HTTP_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case IO_HTTP_CONNECT_REFUSED:
        return -ECONNREFUSED;
    case IO_HTTP_CONNECT_TIMEOUT:
    case IO_HTTP_TIMEOUT:
        return -ETIMEDOUT;
    case IO_HTTP_TLS:
        return -EACCES;
    case IO_HTTP_STATUS:
        return -EPROTO;
    case IO_HTTP_TOO_LARGE:
        return -EFBIG;
    case IO_HTTP_HEADERS_TOO_LARGE:
        return -EMSGSIZE;
    case IO_HTTP_MALFORMED:
        return -EBADMSG;
    case IO_HTTP_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case IO_HTTP_REDIRECT_REFUSED:
        return -EPROTONOSUPPORT;
    case IO_HTTP_CUT_SHORT:
    case IO_HTTP_NETWORK:
        return -EIO;
    case IO_HTTP_OUT_OF_MEMORY:
        return -ENOMEM;
    }
    return -EIO;
}

enum io_http_kind http_classify(const struct http_facts *f)
{
    /* Our own refusals first: they made curl stop with a write error. */
    if (f->headers_too_big)
        return IO_HTTP_HEADERS_TOO_LARGE;
    if (f->too_big || f->code == CURLE_FILESIZE_EXCEEDED)
        return IO_HTTP_TOO_LARGE;
    if (f->out_of_memory)
        return IO_HTTP_OUT_OF_MEMORY;
    if (f->bad_status || (f->code == CURLE_OK && (f->http_status < 200 || f->http_status > 299)))
        return IO_HTTP_STATUS;
    /* A proxy that could not reach the host refuses the tunnel (libcurl:
     * "CONNECT tunnel failed", CURLE_RECV_ERROR): 502 and 503 say the host's
     * connect failed, 504 that it timed out. They are the host's connect
     * failures, as without a proxy, so its health counts them (a "network"
     * failure would be a connected host's, tried again for every URL). */
    if (!f->connected && f->code != CURLE_OK) {
        if (f->proxy_connect_status == 502 || f->proxy_connect_status == 503)
            return IO_HTTP_CONNECT_REFUSED;
        if (f->proxy_connect_status == 504)
            return IO_HTTP_CONNECT_TIMEOUT;
    }
    switch (f->code) {
    case CURLE_OK:
        return IO_HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
        /* Through an HTTP proxy libcurl never looks the host up (the proxy
         * does, and answers with a status); through a SOCKS proxy that
         * resolves locally it is the host's name that failed. */
        return IO_HTTP_RESOLVE;
    case CURLE_COULDNT_RESOLVE_PROXY:
        return IO_HTTP_RESOLVE_PROXY;
    case CURLE_COULDNT_CONNECT:
        return IO_HTTP_CONNECT_REFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        if (f->connected)
            return IO_HTTP_TIMEOUT;
        /* No socket yet: the time went on the lookup ("Resolving timed
         * out"), the URL's host's without a proxy, else the proxy's. */
        if (!f->socket_opened)
            return f->direct ? IO_HTTP_RESOLVE : IO_HTTP_RESOLVE_PROXY;
        return IO_HTTP_CONNECT_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return IO_HTTP_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* URLs are checked for http(s) before they get here and redirects
         * are followed (and checked) by us, so this is libcurl refusing what
         * the server sent: an HTTP/0.9 reply ("Received HTTP/0.9 when not
         * allowed"), a status code that is not 3 digits, an unknown version. */
    case CURLE_WEIRD_SERVER_REPLY:
        return IO_HTTP_MALFORMED;
    case CURLE_OUT_OF_MEMORY:
        /* libcurl 7.88 refuses a header line over CURL_MAX_HTTP_HEADER
         * (100 KiB) with this code and no message; while the headers are
         * still coming that is what it is, not a failed malloc. */
        return f->connected && !f->headers_done ? IO_HTTP_HEADERS_TOO_LARGE : IO_HTTP_OUT_OF_MEMORY;
    case CURLE_TOO_MANY_REDIRECTS:
        return IO_HTTP_TOO_MANY_REDIRECTS;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
        return IO_HTTP_CUT_SHORT;
    default:
        return IO_HTTP_NETWORK;
    }
}
