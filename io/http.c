/* HTTP transfers: one curl multi handle driven by a libuv loop through the
 * socket API (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION). Wiring after
 * curl's docs/examples/multi-uv.c, with every allocation checked, libuv poll
 * errors passed to curl as CURL_CSELECT_ERR, the timer closed, and
 * curl_multi_info_read drained after every curl_multi_socket_action. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "bucket.h"
#include "http_private.h"
#include "io.h"
#include "list.h"
#include "sha256.h"

/* Seconds a resolved name is reused by later transfers. */
#define IO_DNS_CACHE_S 300

/* Body bytes of a redirect response read and dropped so that its connection
 * can be reused; past this the hop is cut and the redirect still followed. */
#define REDIRECT_BODY_MAX (64 * 1024)

/* Descriptors of the connection cache's budget: cmd sizes -j so that each
 * transfer has 3 (its socket, the resolver thread's socketpair) within the
 * limit, beside a fixed few and the workers'; these are the fixed few, with
 * room (see size_connection_cache). */
#define CACHE_RESERVED_FDS 64
#define CACHE_FDS_PER_TRANSFER 3

struct transfer {
    struct io_http *http;
    CURL *easy;
    io_http_done_cb done;
    io_http_connected_cb connected_cb; /* NULL once called, or when none */
    void *user;
    uint8_t *body;
    size_t body_size;
    size_t body_capacity;
    uint64_t started_ns;
    char *origin;        /* of the URL given to io_http_start: where -H headers go */
    char *responded_url; /* the URL of the last hop that gave a status line */
    long responded_status;
    unsigned redirects; /* hops followed so far */
    /* per hop, reset by start_hop */
    size_t header_bytes; /* against IO_HTTP_MAX_HEADER_BYTES */
    size_t discarded;    /* body bytes of a redirect, dropped */
    bool headers_done;   /* the final (non-1xx) header block has ended */
    bool headers_too_big;
    bool connected;
    bool socket_opened; /* the hop's name resolved: libcurl opened a socket to connect */
    bool out_of_memory;
    /* The first hop's TCP connect is done (first_hop_up), on connect_fd. */
    bool tcp_connected;
    curl_socket_t connect_fd;
    bool redirect_cut; /* a redirect's body was over REDIRECT_BODY_MAX */
    bool too_big;
    bool bad_status;
    bool paused;                /* by the rate limit, until http->unpause fires */
    int64_t announced;          /* the final response's Content-Length, -1 unknown */
    struct io__sha256_ctx hash; /* of the body so far */
    char curl_error[CURL_ERROR_SIZE];
    struct io_list link;           /* in http->transfers */
    struct io_list connected_link; /* in http->connecting until told */
};

/* One per socket curl asks us to watch; freed in the poll's close callback. */
struct socket_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    struct io_http *http;
    struct io_list link; /* in http->watches */
};

struct io_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct io_http_options opts;
    char *cacert;
    char *user_agent;
    char *userpwd;
    char *netrc_file;
    char *proxy;
    struct curl_slist *headers; /* -H/--header, shared by every transfer */
    struct curl_slist *accept;  /* the Accept line alone, for other origins' hops */
    struct io_bucket bucket;    /* --rate-limit, when opts.rate_limit > 0 */
    uv_timer_t unpause;         /* resumes paused transfers once out of debt */
    struct io_list transfers;   /* running, for abort */
    struct io_list watches;     /* sockets being polled, for destroy */
    /* Transfers with a connected callback not yet called (report_connected). */
    struct io_list connecting;
    /* No proxy can be in use (none given, none in the environment): a TCP
     * connect is then to the URL's own host. */
    bool direct;
    size_t running;
    size_t peak_running;   /* the most transfers running at once so far */
    long fd_limit;         /* RLIMIT_NOFILE at create; -1 when unknown */
    unsigned open_handles; /* libuv handles not yet closed; free when 0 */
    bool destroying;
    /* Transfers that ended (timed out, cancelled) before their hop's name
     * resolved: libcurl left each lookup's thread to finish on its own
     * (CURLOPT_QUICK_EXIT), holding its descriptors until glibc gives up. */
    size_t lookups_left;
};

void io_http_result_finish(struct io_http_result *result)
{
    if (result == NULL)
        return;
    free(result->body);
    free(result->final_url);
    result->body = NULL;
    result->final_url = NULL;
}

const char *io_curl_version(void)
{
    return curl_version();
}

static void on_watch_closed(uv_handle_t *handle);

static void free_credentials(struct io_http *http)
{
    if (http->userpwd != NULL) {
        /* Not left in freed memory for a core dump to show. */
        memset(http->userpwd, 0, strlen(http->userpwd));
        free(http->userpwd);
    }
    free(http->netrc_file);
    free(http->proxy);
}

static void maybe_free_http(struct io_http *http)
{
    if (http->destroying && http->open_handles == 0) {
        free(http->cacert);
        free(http->user_agent);
        free_credentials(http);
        curl_slist_free_all(http->headers);
        curl_slist_free_all(http->accept);
        free(http);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct io_http *http = handle->data;
    http->open_handles--;
    maybe_free_http(http);
}

static void close_watch(struct socket_watch *watch)
{
    uv_poll_stop(&watch->poll);
    io_list_remove(&watch->link);
    uv_close((uv_handle_t *)&watch->poll, on_watch_closed);
}

static void on_watch_closed(uv_handle_t *handle)
{
    struct socket_watch *watch = handle->data;
    struct io_http *http = watch->http;
    free(watch);
    http->open_handles--;
    maybe_free_http(http);
}

/* The reason of a failed hop, in words; curl's own message when it has one. */
static void describe(struct transfer *t, enum io_http_kind kind, CURLcode code, long status,
                     char *message, size_t size)
{
    const char *curl_said = t->curl_error[0] != '\0' ? t->curl_error : curl_easy_strerror(code);
    switch (kind) {
    case IO_HTTP_CANCELLED:
        snprintf(message, size, "cancelled");
        break;
    case IO_HTTP_TOO_LARGE:
        snprintf(message, size, "body larger than the %zu-byte limit", t->http->opts.max_body);
        break;
    case IO_HTTP_STATUS:
        snprintf(message, size, "HTTP status %ld", status);
        break;
    case IO_HTTP_HEADERS_TOO_LARGE:
        if (t->headers_too_big)
            snprintf(message, size, "response header too large: headers and trailers over %d KiB",
                     IO_HTTP_MAX_HEADER_BYTES / 1024);
        else
            snprintf(message, size, "response header too large: a header line over %d KiB",
                     CURL_MAX_HTTP_HEADER / 1024);
        break;
    case IO_HTTP_MALFORMED:
        snprintf(message, size, "malformed response: %.200s", curl_said);
        break;
    case IO_HTTP_OUT_OF_MEMORY:
        snprintf(message, size, "out of memory");
        break;
    default:
        snprintf(message, size, "%s", curl_said);
        break;
    }
}

/* What a second try can fix: the network, not the request. A refused
 * connection is a server restarting or overloaded as often as a dead one,
 * and the backoff makes a retry cheap. A failed name lookup, TLS and size
 * refusals are the same the next time. */
static bool is_transient(enum io_http_kind kind, CURLcode code, long status)
{
    if (kind == IO_HTTP_STATUS)
        return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
               status == 504;
    if (kind == IO_HTTP_CANCELLED || kind == IO_HTTP_HEADERS_TOO_LARGE || kind == IO_HTTP_RESOLVE ||
        kind == IO_HTTP_RESOLVE_PROXY)
        return false; /* a lookup that timed out is CURLE_OPERATION_TIMEDOUT too */
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* The final response's Content-Type, kept printable: it goes into --json. */
static void copy_content_type(CURL *easy, char *out, size_t size)
{
    char *type = NULL;
    size_t used = 0;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
    for (const char *p = type; p != NULL && *p != '\0' && used + 1 < size; p++)
        out[used++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    out[used] = '\0';
}

/* Removes `t` from the multi and the list, builds its result and calls back.
 * `kind` is IO_HTTP_OK to classify curl's `code` (http_classify), or a kind
 * decided by the caller (cancelled, redirects, the time spent on hops). */
static void finish_transfer(struct transfer *t, CURLcode code, enum io_http_kind kind)
{
    struct io_http *http = t->http;
    struct io_http_result result;
    long status = 0;

    memset(&result, 0, sizeof(result));
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status > 0) {
        char *effective = NULL;
        curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &effective);
        free(t->responded_url);
        t->responded_url = effective != NULL ? strdup(effective) : NULL;
        t->responded_status = status;
    }
    /* final_url and http_status describe the same response: the last one
     * received, on this hop or an earlier one; none came when both are 0. */
    result.http_status = t->responded_status;
    result.final_url = t->responded_url;
    t->responded_url = NULL;
    result.seconds = (double)(uv_hrtime() - t->started_ns) / 1e9;
    result.redirects = t->redirects;

    curl_off_t retry_after = 0;
    result.retry_after_s = -1;
    if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0)
        result.retry_after_s = (long)retry_after;

    if (kind == IO_HTTP_OK) {
        long proxy_connect_status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_HTTP_CONNECTCODE, &proxy_connect_status);
        /* The digest can fail only for want of memory (libcrypto's). */
        bool hash_failed = io__sha256_final(&t->hash, result.sha256) < 0;
        struct http_facts facts = {
            .code = code,
            .http_status = status,
            .too_big = t->too_big,
            .bad_status = t->bad_status,
            .headers_too_big = t->headers_too_big,
            .headers_done = t->headers_done,
            .connected = t->connected,
            .socket_opened = t->socket_opened,
            .direct = http->direct,
            .out_of_memory = t->out_of_memory || hash_failed,
            .proxy_connect_status = proxy_connect_status,
        };
        kind = http_classify(&facts);
    }
    result.kind = kind;
    result.error = http_kind_errno(kind);
    if (kind != IO_HTTP_OK) {
        describe(t, kind, code, status, result.message, sizeof(result.message));
        result.transient = is_transient(kind, code, status);
    } else {
        result.body = t->body;
        result.body_size = t->body_size;
        t->body = NULL;
        copy_content_type(t->easy, result.content_type, sizeof(result.content_type));
    }

    if (!t->socket_opened && (code == CURLE_OPERATION_TIMEDOUT || kind == IO_HTTP_CANCELLED))
        http->lookups_left++;
    curl_multi_remove_handle(http->multi, t->easy);
    curl_easy_cleanup(t->easy);
    io_list_remove(&t->link);
    io_list_remove(&t->connected_link); /* ends without being told: it is over */
    http->running--;

    io_http_done_cb done = t->done;
    void *user = t->user;
    free(t->body);
    free(t->origin);
    free(t->responded_url);
    io__sha256_finish(&t->hash);
    free(t);
    done(&result, user);
    io_http_result_finish(&result);
}

static int start_hop(struct transfer *t, const char *url);

/* A hop ended with a redirect we follow: checks where it goes and starts the
 * next hop on the same easy handle (its connections stay in the multi's
 * cache). Returns false when the transfer must end instead, with *kind and
 * t->curl_error saying why. */
static bool follow_redirect(struct transfer *t, const char *location, enum io_http_kind *kind)
{
    const struct io_http_options *o = &t->http->opts;
    char scheme[HTTP_SCHEME_SIZE];
    char *origin = NULL;

    if (o->max_redirs >= 0 && t->redirects >= (unsigned long)o->max_redirs) {
        *kind = IO_HTTP_TOO_MANY_REDIRECTS;
        snprintf(t->curl_error, sizeof(t->curl_error), "Maximum (%ld) redirects followed",
                 o->max_redirs);
        return false;
    }
    int rc = http_origin(location, scheme, &origin);
    if (rc == -ENOMEM) {
        *kind = IO_HTTP_OUT_OF_MEMORY;
        return false;
    }
    /* Only http(s): a Location: file:///etc/passwd must not read local
     * files, nor gopher:// or dict:// talk to other services. */
    if (rc < 0 || origin == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        *kind = IO_HTTP_REDIRECT_REFUSED;
        snprintf(t->curl_error, sizeof(t->curl_error), "refused redirect off http(s): %s",
                 scheme[0] != '\0' ? scheme : "unparsable Location");
        free(origin);
        return false;
    }
    bool same_origin = t->origin != NULL && strcmp(origin, t->origin) == 0;
    free(origin);

    curl_multi_remove_handle(t->http->multi, t->easy);
    t->redirects++;
    curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, 0L); /* the listed host's alone */
    io_list_remove(&t->connected_link);                   /* told already: a response came */
    /* -H headers only to the listed URL's origin: they often carry a key
     * meant for that server alone (libcurl would send them to every hop). */
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, same_origin ? t->http->headers : t->http->accept);
    /* The same for -u/--user; netrc is matched by libcurl against each
     * hop's own host, so another host gets only its own entry. */
    curl_easy_setopt(t->easy, CURLOPT_USERPWD, same_origin ? t->http->userpwd : NULL);
    rc = start_hop(t, location);
    if (rc < 0) {
        /* finish_transfer removes the handle again: harmless when not added. */
        *kind = rc == -ETIMEDOUT ? IO_HTTP_TIMEOUT : IO_HTTP_OUT_OF_MEMORY;
        if (rc == -ETIMEDOUT)
            snprintf(t->curl_error, sizeof(t->curl_error),
                     "Operation timed out after %ld milliseconds (redirects)", o->timeout_ms);
        return false;
    }
    return true;
}

/* A hop is over: follow its redirect, or end the transfer. */
static void hop_done(struct transfer *t, CURLcode code)
{
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    bool redirect = http_is_redirect(status) && !t->headers_too_big && !t->out_of_memory &&
                    (code == CURLE_OK || (code == CURLE_WRITE_ERROR && t->redirect_cut));
    char *location = NULL;
    if (redirect)
        curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &location);
    if (location == NULL) {
        finish_transfer(t, code, IO_HTTP_OK);
        return;
    }
    /* The redirect is a response received: it is final_url if the next hop
     * gets none. */
    char *effective = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &effective);
    free(t->responded_url);
    t->responded_url = effective != NULL ? strdup(effective) : NULL;
    t->responded_status = status;

    /* `location` lives in the handle until its next transfer: copy it. */
    char *target = strdup(location);
    enum io_http_kind kind = IO_HTTP_OUT_OF_MEMORY;
    if (target != NULL && follow_redirect(t, target, &kind)) {
        free(target);
        return;
    }
    free(target);
    finish_transfer(t, kind == IO_HTTP_TIMEOUT ? CURLE_OPERATION_TIMEDOUT : CURLE_OK, kind);
}

/* Whether the first hop of `t` has its host's connection: the request is
 * ready to go (CURLOPT_PREREQFUNCTION ran), or its TCP connect is done
 * while TLS may still be under way: the socket libcurl asked us to watch
 * for it has a peer. Without a proxy that is the URL's own host answering,
 * a handshake's round trip or two before CURLOPT_PREREQFUNCTION (libcurl
 * 7.88 fills CURLINFO_CONNECT_TIME_T only once TLS is done too): told
 * then, the host's other transfers start during the handshake and each
 * opens a connection of its own, as when they all started together
 * (tests/bench/results/world_h2path.md), instead of becoming streams on
 * this one once it is known to speak HTTP/2. Asked after each curl call,
 * not on the socket's events: libcurl may connect and send its
 * ClientHello in one call, and the next event would be the server's
 * answer, with the handshake done. */
static bool first_hop_up(struct transfer *t)
{
    if (t->connected || t->tcp_connected)
        return true;
    if (!t->http->direct || t->connect_fd == CURL_SOCKET_BAD)
        return false;
    struct sockaddr_storage peer;
    socklen_t peer_size = sizeof(peer);
    /* AF_INET or AF_INET6 only: the threaded resolver's socketpair, watched
     * for the same transfer while it resolves, has a peer too. */
    t->tcp_connected = getpeername(t->connect_fd, (struct sockaddr *)&peer, &peer_size) == 0 &&
                       (peer.ss_family == AF_INET || peer.ss_family == AF_INET6);
    return t->tcp_connected;
}

/* Tells the transfers whose first hop got its connection during the last
 * curl call, after it returned (libcurl forbids calls into it from its
 * callbacks) and before their ends are drained (a small body may connect
 * and end in one call). Moved to a list of their own first, then told one
 * at a time: a callback may abort others, which unlinks them. */
static void report_connected(struct io_http *http)
{
    struct io_list up;
    struct io_list *node;
    struct io_list *next;
    io_list_init(&up);
    IO_LIST_FOREACH_SAFE(node, next, &http->connecting) {
        struct transfer *t = IO_LIST_ENTRY(node, struct transfer, connected_link);
        if (first_hop_up(t)) {
            io_list_remove(node);
            io_list_insert_tail(&up, node);
        }
    }
    while ((node = io_list_pop_first(&up)) != NULL) {
        struct transfer *t = IO_LIST_ENTRY(node, struct transfer, connected_link);
        io_http_connected_cb connected = t->connected_cb;
        t->connected_cb = NULL;
        connected(t->user);
    }
}

static void drain_messages(struct io_http *http)
{
    CURLMsg *msg;
    report_connected(http);
    int pending;
    while ((msg = curl_multi_info_read(http->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *private_data = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private_data);
        hop_done((struct transfer *)private_data, msg->data.result);
    }
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct socket_watch *watch = poll->data;
    struct io_http *http = watch->http;
    int flags = 0;
    int still_running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(http->multi, watch->fd, flags, &still_running);
    drain_messages(http);
}

static void on_timeout(uv_timer_t *timer)
{
    struct io_http *http = timer->data;
    int still_running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &still_running);
    drain_messages(http);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct io_http *http = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&http->timer);
        return 0;
    }
    /* Never act from inside this callback (curl forbids re-entry): a zero
     * timeout runs on the next loop iteration. */
    return uv_timer_start(&http->timer, on_timeout, (uint64_t)timeout_ms, 0) < 0 ? -1 : 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct io_http *http = userp;
    struct socket_watch *watch = socketp;

    if (what == CURL_POLL_REMOVE) {
        /* Closed (a failed connect, or a happy-eyeballs loser): its number
         * may come back for another connection. */
        struct io_list *node;
        IO_LIST_FOREACH(node, &http->connecting) {
            struct transfer *t = IO_LIST_ENTRY(node, struct transfer, connected_link);
            if (t->connect_fd == fd)
                t->connect_fd = CURL_SOCKET_BAD;
        }
        if (watch != NULL) {
            curl_multi_assign(http->multi, fd, NULL);
            close_watch(watch);
        }
        return 0;
    }
    if (watch == NULL) {
        watch = calloc(1, sizeof(*watch));
        if (watch == NULL)
            return -1;
        if (uv_poll_init_socket(http->loop, &watch->poll, fd) < 0) {
            free(watch);
            return -1;
        }
        watch->fd = fd;
        watch->http = http;
        watch->poll.data = watch;
        io_list_insert_head(&http->watches, &watch->link);
        http->open_handles++;
        curl_multi_assign(http->multi, fd, watch);
    }
    /* The socket of a transfer still connecting: first_hop_up's. */
    char *private_data = NULL;
    if (easy != NULL && curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private_data) == CURLE_OK &&
        private_data != NULL) {
        struct transfer *t = (struct transfer *)private_data;
        if (io_list_linked(&t->connected_link) && !t->connected && !t->tcp_connected)
            t->connect_fd = fd;
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&watch->poll, events, on_poll) < 0 ? -1 : 0;
}

static void on_unpause(uv_timer_t *timer)
{
    struct io_http *http = timer->data;
    /* curl_easy_pause may deliver the held data at once, calling on_body,
     * which may pause the transfer again and re-arm this (one-shot) timer;
     * the walk goes on past it, so each transfer resumes once per tick. */
    struct io_list *node;
    struct io_list *next;
    IO_LIST_FOREACH_SAFE(node, next, &http->transfers) {
        struct transfer *t = IO_LIST_ENTRY(node, struct transfer, link);
        if (!t->paused)
            continue;
        t->paused = false;
        curl_easy_pause(t->easy, CURLPAUSE_CONT);
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t bytes = size * nmemb;

    if (t->http->opts.rate_limit > 0 && !io_bucket_take(&t->http->bucket, bytes, uv_hrtime())) {
        t->paused = true;
        if (!uv_is_active((uv_handle_t *)&t->http->unpause))
            uv_timer_start(&t->http->unpause, on_unpause,
                           io_bucket_wait_ms(&t->http->bucket, uv_hrtime()), 0);
        return CURL_WRITEFUNC_PAUSE;
    }

    if (t->body == NULL) {
        /* First bytes of the final response: refuse error pages before
         * buffering them, and size the buffer from Content-Length once. */
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (http_is_redirect(status)) {
            /* Read and dropped, so the connection can serve the next hop. */
            t->discarded += bytes;
            if (t->discarded > REDIRECT_BODY_MAX) {
                t->redirect_cut = true;
                return 0;
            }
            return bytes;
        }
        if (status < 200 || status > 299) {
            t->bad_status = true;
            return 0;
        }
        curl_off_t announced = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
        t->announced = announced;
        if (io__sha256_init(&t->hash) < 0) {
            t->out_of_memory = true;
            return 0;
        }
        size_t want = 64 * 1024;
        if (announced > 0 && (uint64_t)announced <= t->http->opts.max_body)
            want = (size_t)announced;
        if (want < bytes)
            want = bytes;
        t->body = malloc(want);
        if (t->body == NULL) {
            t->out_of_memory = true;
            return 0;
        }
        t->body_capacity = want;
    }
    /* Counted as the bytes arrive: a server that sends no Content-Length (or
     * lies in it) still cannot push us past the cap. */
    if (bytes > t->http->opts.max_body - t->body_size) {
        t->too_big = true;
        return 0;
    }
    if (t->body_size + bytes > t->body_capacity) {
        size_t capacity = t->body_capacity * 2;
        if (capacity < t->body_size + bytes)
            capacity = t->body_size + bytes;
        if (capacity > t->http->opts.max_body)
            capacity = t->http->opts.max_body;
        uint8_t *grown = realloc(t->body, capacity);
        if (grown == NULL) {
            t->out_of_memory = true;
            return 0;
        }
        t->body = grown;
        t->body_capacity = capacity;
    }
    memcpy(t->body + t->body_size, data, bytes);
    t->body_size += bytes;
    /* Hashed as it arrives: no second pass over a large body at the end. */
    io__sha256_update(&t->hash, data, bytes);
    return bytes;
}

/* Every header line of the hop comes here: status lines and headers of 1xx
 * and final responses, and the trailers of a chunked body, which libcurl
 * 7.88 hands to this callback too but counts against no limit of its own. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t bytes = size * nmemb;

    if (bytes > IO_HTTP_MAX_HEADER_BYTES - t->header_bytes) {
        t->headers_too_big = true;
        return 0;
    }
    t->header_bytes += bytes;
    if (!t->headers_done && (bytes == 2 || bytes == 1) && (data[0] == '\r' || data[0] == '\n')) {
        /* The blank line ending a header block: the final one unless 1xx. */
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200)
            t->headers_done = true;
    }
    return bytes;
}

/* libcurl calls this once a connection is up (new or reused), before the
 * request goes out: a timeout after it is not a connect timeout. */
static int on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    struct transfer *t = userp;
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    t->connected = true;
    return CURL_PREREQFUNC_OK;
}

/* libcurl calls this for each socket it opens to connect (the host's or
 * the proxy's, never the threaded resolver's socketpair): the name had
 * resolved, so a timeout after it is not the lookup's. */
static int on_sockopt(void *userp, curl_socket_t fd, curlsocktype purpose)
{
    struct transfer *t = userp;
    (void)fd;
    (void)purpose;
    t->socket_opened = true;
    return CURL_SOCKOPT_OK;
}

/* The connection cache's size (CURLMOPT_MAXCONNECTS), from the most
 * transfers run at once. libcurl's default, 4 per easy handle in the multi,
 * follows the transfers running now, not the hosts a list comes back to: at
 * -j 32 over 100 hosts at 4 per host it closed idle connections that were
 * wanted again (7 connections over a run to one host that never closed
 * first; test_world.py reuse_many_hosts). The cache needs no count of
 * hosts: an idle connection is reused before a new one is opened to its
 * host, so it holds at most, per host, the transfers that ran there at once,
 * and idle ones go after CURLOPT_MAXAGE_CONN (118 s) or when the server
 * closes them. What bounds it is descriptors, one per connection: the
 * running ones are within the 3 per transfer cmd's -j budget counts; idle
 * ones get half of what the limit leaves beside those (the other half for
 * the workers' files, which io does not see), and none when nothing is
 * left (then libcurl closes each connection as its transfer ends). */
static void size_connection_cache(struct io_http *http)
{
    if (http->fd_limit < 0)
        return; /* no limit known: libcurl's default */
    long connections = (long)http->peak_running;
    long spare =
        http->fd_limit - CACHE_RESERVED_FDS - CACHE_FDS_PER_TRANSFER * (long)http->peak_running;
    if (spare > 0)
        connections += spare / 2;
    if (connections < 1)
        connections = 1;
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, connections);
}

/* The Accept line: the user's -H Accept when there is one (it replaces
 * ours, as either replaces libcurl's any-type default), else ours appended to the
 * -H headers. Hops to other origins, which get no -H headers, get this line
 * alone: what we can decode is no secret. */
static int add_accept(struct io_http *http, const struct io_http_options *opts)
{
    const char *line = NULL;
    for (size_t i = 0; i < opts->header_count; i++) {
        if (strncasecmp(opts->headers[i], "Accept:", 7) == 0)
            line = opts->headers[i];
    }
    char ours[512];
    if (line == NULL && opts->accept != NULL) {
        if ((size_t)snprintf(ours, sizeof(ours), "Accept: %s", opts->accept) >= sizeof(ours))
            return -EINVAL;
        line = ours;
        struct curl_slist *grown = curl_slist_append(http->headers, line);
        if (grown == NULL)
            return -ENOMEM;
        http->headers = grown;
    }
    if (line != NULL) {
        http->accept = curl_slist_append(NULL, line);
        if (http->accept == NULL)
            return -ENOMEM;
    }
    return 0;
}

/* *copy = a copy of `text`, or NULL when `text` is; -ENOMEM. */
static int copy_optional(const char *text, char **copy)
{
    *copy = NULL;
    if (text == NULL)
        return 0;
    *copy = strdup(text);
    return *copy != NULL ? 0 : -ENOMEM;
}

/* Whether libcurl may take a proxy from the environment (the variables it
 * reads when CURLOPT_PROXY is not set; no_proxy is not weighed: with any of
 * them set, only a connection ready for its request tells that a host
 * answers). */
static bool proxy_in_environment(void)
{
    static const char *const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                        "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *value = getenv(names[i]);
        if (value != NULL && value[0] != '\0')
            return true;
    }
    return false;
}

int io_http_create(uv_loop_t *loop, const struct io_http_options *opts, struct io_http **out)
{
    int rc = -ENOMEM;
    struct io_http *http = calloc(1, sizeof(*http));
    if (http == NULL)
        return -ENOMEM;
    http->loop = loop;
    http->opts = *opts;
    io_list_init(&http->transfers);
    io_list_init(&http->watches);
    io_list_init(&http->connecting);
    http->direct = opts->proxy == NULL && !proxy_in_environment();
    if (opts->cacert != NULL) {
        http->cacert = strdup(opts->cacert);
        if (http->cacert == NULL)
            goto fail_free;
    }
    http->user_agent = strdup(opts->user_agent != NULL ? opts->user_agent : "edgefetch");
    if (http->user_agent == NULL)
        goto fail_free;
    http->opts.cacert = http->cacert;
    http->opts.user_agent = http->user_agent;
    if (copy_optional(opts->userpwd, &http->userpwd) < 0 ||
        copy_optional(opts->netrc_file, &http->netrc_file) < 0 ||
        copy_optional(opts->proxy, &http->proxy) < 0)
        goto fail_free;
    http->opts.userpwd = http->userpwd;
    http->opts.netrc_file = http->netrc_file;
    http->opts.proxy = http->proxy;
    for (size_t i = 0; i < opts->header_count; i++) {
        struct curl_slist *grown = curl_slist_append(http->headers, opts->headers[i]);
        if (grown == NULL)
            goto fail_free;
        http->headers = grown;
    }
    http->opts.headers = NULL; /* copied into http->headers */
    rc = add_accept(http, opts);
    if (rc < 0)
        goto fail_free;
    rc = -ENOMEM;

    http->multi = curl_multi_init();
    if (http->multi == NULL)
        goto fail_free;
    rc = uv_timer_init(loop, &http->timer);
    if (rc < 0)
        goto fail_multi;
    http->timer.data = http;
    rc = uv_timer_init(loop, &http->unpause);
    if (rc < 0) {
        /* The first timer is open: close it through the usual path. */
        http->destroying = true;
        http->open_handles = 1;
        curl_multi_cleanup(http->multi);
        uv_close((uv_handle_t *)&http->timer, on_handle_closed);
        return rc;
    }
    http->unpause.data = http;
    http->open_handles = 2;
    if (opts->rate_limit > 0)
        io_bucket_init(&http->bucket, opts->rate_limit, uv_hrtime());

    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    /* HTTP/2 multiplexing when the server offers it (libcurl's default, said
     * here because connection reuse is a promise of ours). */
    curl_multi_setopt(http->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* cmd raised the soft limit to the hard one already. No "unlimited"
     * holds for descriptors: the kernel's fs.nr_open (2^20 by default) does. */
    struct rlimit fds;
    http->fd_limit = -1;
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0)
        http->fd_limit = fds.rlim_cur == RLIM_INFINITY || fds.rlim_cur > (1u << 20)
                             ? (long)(1u << 20)
                             : (long)fds.rlim_cur;
    size_connection_cache(http);
    *out = http;
    return 0;

fail_multi:
    curl_multi_cleanup(http->multi);
fail_free:
    free(http->cacert);
    free(http->user_agent);
    free_credentials(http);
    curl_slist_free_all(http->headers);
    curl_slist_free_all(http->accept);
    free(http);
    return rc;
}

/* Sets the options of one hop to `url` on t->easy and adds it to the multi;
 * the per-hop state starts afresh. The whole-transfer timeout counts from
 * io_http_start, across hops: -ETIMEDOUT when it is already spent. */
static int start_hop(struct transfer *t, const char *url)
{
    struct io_http *http = t->http;
    const struct io_http_options *o = &http->opts;
    CURL *e = t->easy;

    t->header_bytes = 0;
    t->discarded = 0;
    t->headers_done = false;
    t->headers_too_big = false;
    t->connected = false;
    t->socket_opened = false;
    t->redirect_cut = false;
    t->bad_status = false;
    t->curl_error[0] = '\0';
    long timeout_ms = o->timeout_ms;
    if (timeout_ms > 0) {
        long spent_ms = (long)((uv_hrtime() - t->started_ns) / 1000000u);
        if (spent_ms >= timeout_ms)
            return -ETIMEDOUT;
        timeout_ms -= spent_ms;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* Never wait for a connection still being set up to turn out to speak
     * HTTP/2 (CURLOPT_PIPEWAIT): transfers that start together on one host
     * each open their own connection, at most --max-per-host of them (the
     * pipeline's cap; a new host's others start at its first's TCP connect,
     * first_hop_up, in time for that); once a host's connection is known
     * to multiplex, new transfers become streams on it. One TCP connection carrying every
     * stream of a burst pays its slow start alone: on a 100 ms / 100 Mbit/s
     * path, 12 photos at -j 12 were downloaded in 0.99 s on one multiplexed
     * connection and 0.67 s on 12 (tests/bench/results/world_h2path.md);
     * capping at 4 connections (CURLMOPT_MAX_HOST_CONNECTIONS, or waiting
     * after the 4th) gained little, as libcurl then stacks the other streams
     * on one of them. Over plain http waiting would only serialise transfers
     * behind the first (1.25x the lower bound with it, 1.02x without, in
     * make bench). */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 0L);
    CURLMcode mc = curl_multi_add_handle(http->multi, e);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    return 0;
}

int io_http_start(struct io_http *http, const char *url, unsigned flags, io_http_done_cb done,
                  io_http_connected_cb connected, void *user)
{
    char scheme[HTTP_SCHEME_SIZE];

    if (http->destroying)
        return -ECANCELED;
    struct transfer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->http = http;
    t->done = done;
    t->connected_cb = connected;
    t->user = user;
    io_list_init(&t->link);
    io_list_init(&t->connected_link);
    t->connect_fd = CURL_SOCKET_BAD;
    /* No origin (an unparsable URL, which curl then refuses): no -H headers. */
    if (http_origin(url, scheme, &t->origin) == -ENOMEM) {
        free(t);
        return -ENOMEM;
    }
    t->easy = curl_easy_init();
    if (t->easy == NULL) {
        free(t->origin);
        free(t);
        return -ENOMEM;
    }
    CURL *e = t->easy;
    const struct io_http_options *o = &http->opts;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    /* A proxy's CONNECT answer is not the server's: kept out of on_header,
     * whose "final header block" would otherwise be the proxy's. */
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Only http(s). Redirects are followed by us (hop_done), not libcurl,
     * which would send the -H headers to every host of the chain; the
     * target's scheme is checked there. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    /* Every easy handle of the multi shares its DNS cache (libcurl does that
     * for handles without a CURLOPT_SHARE): a host's name is resolved once
     * per IO_DNS_CACHE_S, not per URL. libcurl does not see the records'
     * TTLs; its default, 60 s, would resolve a host of a long list again
     * every minute. A huge list wants a local caching resolver as well
     * (README, "Many hosts"). */
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, (long)IO_DNS_CACHE_S);
    /* A lookup still unanswered at --connect-timeout (or --timeout, or a
     * cancel) ends the transfer; libcurl 7.88 would then join its resolver
     * thread, blocked in getaddrinfo until glibc's own timeouts, on this
     * (the loop's) thread: every other transfer stalled for the rest of the
     * lookup (2 s per silent name in the test world). QUICK_EXIT detaches
     * the thread instead; it frees its own state and closes its socketpair
     * end when getaddrinfo returns (io_http_lookups_left counts them).
     * libcurl before 7.87 has no such option: the loop waits there. */
#if LIBCURL_VERSION_NUM >= 0x075700
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
    if (o->low_speed_time_s > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
                         o->low_speed_limit > 0 ? o->low_speed_limit : 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
    if (http->headers != NULL)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, http->headers);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (o->cacert != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
    if (o->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* The listed URL is its own origin: the first hop gets -u. */
    if (o->userpwd != NULL && t->origin != NULL)
        curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
    if (o->netrc) {
        curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
        if (o->netrc_file != NULL)
            curl_easy_setopt(e, CURLOPT_NETRC_FILE, o->netrc_file);
    }
    if (o->proxy != NULL)
        curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
    if (flags & IO_HTTP_NEW_CONNECTION)
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    t->announced = -1;
    /* An empty 200 body calls on_body never. */
    int rc = io__sha256_init(&t->hash);

    t->started_ns = uv_hrtime();
    if (rc == 0)
        rc = start_hop(t, url);
    if (rc < 0) {
        curl_easy_cleanup(e);
        io__sha256_finish(&t->hash);
        free(t->origin);
        free(t);
        return rc;
    }
    io_list_insert_head(&http->transfers, &t->link);
    if (connected != NULL)
        io_list_insert_tail(&http->connecting, &t->connected_link);
    http->running++;
    if (http->running > http->peak_running) {
        http->peak_running = http->running;
        size_connection_cache(http);
    }
    return 0;
}

void io_http_abort_all(struct io_http *http)
{
    struct io_list *node;
    while ((node = io_list_first(&http->transfers)) != NULL)
        finish_transfer(IO_LIST_ENTRY(node, struct transfer, link), CURLE_ABORTED_BY_CALLBACK,
                        IO_HTTP_CANCELLED);
}

size_t io_http_running(const struct io_http *http)
{
    return http->running;
}

size_t io_http_lookups_left(const struct io_http *http)
{
    return http->lookups_left;
}

uint64_t io_http_bytes_in_flight(const struct io_http *http)
{
    uint64_t bytes = 0;
    const struct io_list *node;
    IO_LIST_FOREACH(node, &http->transfers)
        bytes += IO_LIST_ENTRY(node, const struct transfer, link)->body_size;
    return bytes;
}

uint64_t io_http_bytes_remaining(const struct io_http *http, size_t *unknown)
{
    uint64_t bytes = 0;
    *unknown = 0;
    const struct io_list *node;
    IO_LIST_FOREACH(node, &http->transfers) {
        const struct transfer *t = IO_LIST_ENTRY(node, const struct transfer, link);
        /* A body over its Content-Length fails (curl): never below 0. */
        if (t->body != NULL && t->announced >= 0 && (uint64_t)t->announced >= t->body_size)
            bytes += (uint64_t)t->announced - t->body_size;
        else
            (*unknown)++;
    }
    return bytes;
}

void io_http_destroy(struct io_http *http)
{
    if (http == NULL)
        return;
    io_http_abort_all(http);
    http->destroying = true;
    /* Closes the cached connections; curl tells on_curl_socket to remove
     * each watched socket, which closes its poll handle. */
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    /* Whatever curl did not hand back (it need not, once it is gone). */
    struct io_list *node;
    while ((node = io_list_first(&http->watches)) != NULL)
        close_watch(IO_LIST_ENTRY(node, struct socket_watch, link));
    uv_close((uv_handle_t *)&http->timer, on_handle_closed);
    uv_close((uv_handle_t *)&http->unpause, on_handle_closed);
}
