/* io's HTTP decisions that need no socket: the origin a redirect is judged
 * by (where -H headers may go), which statuses are followed, and the failure
 * kind of each libcurl outcome (io/http_outcome.c, io/http_redirect.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_private.h"
#include "io.h"

static void check_origin(const char *url, const char *scheme, const char *origin)
{
    char got_scheme[HTTP_SCHEME_SIZE];
    char *got = NULL;
    CHECK_EQ(http_origin(url, got_scheme, &got), 0);
    CHECK_STR_EQ(got_scheme, scheme);
    if (origin == NULL)
        CHECK(got == NULL);
    else
        CHECK_STR_EQ(got, origin);
    free(got);
}

static void test_origin(void)
{
    /* Host case and the default port do not make another origin. */
    check_origin("http://Example.COM/a.jpg", "http", "http://example.com:80");
    check_origin("http://example.com:80/b?x=1", "http", "http://example.com:80");
    check_origin("HTTPS://example.com/", "https", "https://example.com:443");
    /* Port and scheme do. */
    check_origin("http://example.com:8080/", "http", "http://example.com:8080");
    check_origin("https://example.com:80/", "https", "https://example.com:80");
    check_origin("http://127.0.0.1:5000/x", "http", "http://127.0.0.1:5000");
    check_origin("http://[::1]:81/", "http", "http://[::1]:81");
    /* Other schemes parse (to be refused by name), with or without a host. */
    check_origin("file:///etc/passwd", "file", NULL);
    check_origin("gopher://127.0.0.1:70/1", "gopher", "gopher://127.0.0.1:70");

    char scheme[HTTP_SCHEME_SIZE];
    char *origin = NULL;
    CHECK_EQ(http_origin("not a url", scheme, &origin), -EINVAL);
    CHECK(origin == NULL);
}

static void test_is_redirect(void)
{
    const long followed[] = {301, 302, 303, 307, 308};
    for (size_t i = 0; i < sizeof(followed) / sizeof(followed[0]); i++)
        CHECK(http_is_redirect(followed[i]));
    const long not_followed[] = {0, 200, 204, 300, 304, 305, 306, 309, 399, 400};
    for (size_t i = 0; i < sizeof(not_followed) / sizeof(not_followed[0]); i++)
        CHECK(!http_is_redirect(not_followed[i]));
}

static enum io_http_kind classify(CURLcode code, long status, bool connected, bool headers_done)
{
    struct http_facts facts = {
        .code = code,
        .http_status = status,
        .connected = connected,
        .headers_done = headers_done,
    };
    return http_classify(&facts);
}

static void test_classify(void)
{
    CHECK_EQ(classify(CURLE_OK, 200, true, true), IO_HTTP_OK);
    CHECK_EQ(classify(CURLE_OK, 404, true, true), IO_HTTP_STATUS);
    CHECK_EQ(classify(CURLE_COULDNT_RESOLVE_HOST, 0, false, false), IO_HTTP_RESOLVE);
    CHECK_EQ(classify(CURLE_COULDNT_CONNECT, 0, false, false), IO_HTTP_CONNECT_REFUSED);
    CHECK_EQ(classify(CURLE_COULDNT_RESOLVE_PROXY, 0, false, false), IO_HTTP_RESOLVE_PROXY);
    CHECK_EQ(classify(CURLE_OPERATION_TIMEDOUT, 200, true, true), IO_HTTP_TIMEOUT);
    /* A timeout before any socket was opened is the lookup's: the host's
     * without a proxy, else the proxy's (the proxy resolves the host). */
    struct http_facts waited = {.code = CURLE_OPERATION_TIMEDOUT, .direct = true};
    CHECK_EQ(http_classify(&waited), IO_HTTP_RESOLVE);
    waited.direct = false;
    CHECK_EQ(http_classify(&waited), IO_HTTP_RESOLVE_PROXY);
    waited.socket_opened = true; /* then the connect's */
    CHECK_EQ(http_classify(&waited), IO_HTTP_CONNECT_TIMEOUT);
    waited.direct = true;
    CHECK_EQ(http_classify(&waited), IO_HTTP_CONNECT_TIMEOUT);
    CHECK_EQ(classify(CURLE_PEER_FAILED_VERIFICATION, 0, true, false), IO_HTTP_TLS);
    /* Never a redirect: we follow those ourselves. */
    CHECK_EQ(classify(CURLE_UNSUPPORTED_PROTOCOL, 0, true, false), IO_HTTP_MALFORMED);
    CHECK_EQ(classify(CURLE_WEIRD_SERVER_REPLY, 0, true, false), IO_HTTP_MALFORMED);
    /* libcurl's "header line over 100 KiB" vs a real allocation failure. */
    CHECK_EQ(classify(CURLE_OUT_OF_MEMORY, 200, true, false), IO_HTTP_HEADERS_TOO_LARGE);
    CHECK_EQ(classify(CURLE_OUT_OF_MEMORY, 200, true, true), IO_HTTP_OUT_OF_MEMORY);
    CHECK_EQ(classify(CURLE_OUT_OF_MEMORY, 0, false, false), IO_HTTP_OUT_OF_MEMORY);
    CHECK_EQ(classify(CURLE_PARTIAL_FILE, 200, true, true), IO_HTTP_CUT_SHORT);
    CHECK_EQ(classify(CURLE_GOT_NOTHING, 0, true, false), IO_HTTP_CUT_SHORT);
    CHECK_EQ(classify(CURLE_RECV_ERROR, 200, true, true), IO_HTTP_NETWORK);

    /* A proxy's refused CONNECT: the host's connect failed (502, 503) or
     * timed out (504) at the proxy; other refusals (407, 403) stay network. */
    struct http_facts tunnel = {.code = CURLE_RECV_ERROR, .proxy_connect_status = 502};
    CHECK_EQ(http_classify(&tunnel), IO_HTTP_CONNECT_REFUSED);
    tunnel.proxy_connect_status = 503;
    CHECK_EQ(http_classify(&tunnel), IO_HTTP_CONNECT_REFUSED);
    tunnel.proxy_connect_status = 504;
    CHECK_EQ(http_classify(&tunnel), IO_HTTP_CONNECT_TIMEOUT);
    tunnel.proxy_connect_status = 407;
    CHECK_EQ(http_classify(&tunnel), IO_HTTP_NETWORK);
    tunnel.proxy_connect_status = 200; /* the tunnel was up: the host's own */
    CHECK_EQ(http_classify(&tunnel), IO_HTTP_NETWORK);

    /* Our own refusals win over the write error they make curl return. */
    struct http_facts facts = {.code = CURLE_WRITE_ERROR, .http_status = 200, .connected = true};
    facts.headers_too_big = true;
    CHECK_EQ(http_classify(&facts), IO_HTTP_HEADERS_TOO_LARGE);
    facts.headers_too_big = false;
    facts.too_big = true;
    CHECK_EQ(http_classify(&facts), IO_HTTP_TOO_LARGE);
    facts.too_big = false;
    facts.bad_status = true;
    facts.http_status = 500;
    CHECK_EQ(http_classify(&facts), IO_HTTP_STATUS);
    facts.bad_status = false;
    facts.out_of_memory = true;
    CHECK_EQ(http_classify(&facts), IO_HTTP_OUT_OF_MEMORY);
}

static void test_names(void)
{
    /* Every kind has its own name and errno; "unknown" only outside. */
    for (int a = IO_HTTP_OK; a <= IO_HTTP_OUT_OF_MEMORY; a++) {
        const char *name = io_http_kind_name((enum io_http_kind)a);
        CHECK(strcmp(name, "unknown") != 0);
        CHECK_EQ(http_kind_errno((enum io_http_kind)a) == 0, a == IO_HTTP_OK);
        for (int b = IO_HTTP_OK; b < a; b++)
            CHECK(strcmp(name, io_http_kind_name((enum io_http_kind)b)) != 0);
    }
    CHECK_STR_EQ(io_http_kind_name(IO_HTTP_MALFORMED), "malformed_response");
    CHECK_STR_EQ(io_http_kind_name((enum io_http_kind)(IO_HTTP_OUT_OF_MEMORY + 1)), "unknown");
}

int main(void)
{
    test_origin();
    test_is_redirect();
    test_classify();
    test_names();
    puts("ok");
    return 0;
}
