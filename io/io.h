/* io: the edges of the world — the URL list, URL checks, safe output names,
 * atomic file writes, and HTTP transfers driven by curl multi on a libuv loop.
 *
 * Functions return 0 or a negative errno-style code; where they take
 * `err`/`err_size` they leave a one-line human reason there. */
#ifndef EDGEFETCH_IO_H
#define EDGEFETCH_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <uv.h>

/* ---- URL list ---------------------------------------------------------- */

struct io_url_entry {
    char *url;    /* trimmed, owned by the list */
    unsigned line; /* 1-based line in the list; 0 for URLs given on the command line */
};

struct io_url_block;

struct io_url_list {
    struct io_url_entry *entries;
    size_t count;
    size_t capacity;
    /* The URL bytes, packed into large blocks rather than one allocation
     * each: a long list costs its text plus an entry per line. */
    struct io_url_block *blocks; /* newest first */
};

void io_url_list_init(struct io_url_list *list);
void io_url_list_finish(struct io_url_list *list);
/* Appends a copy of `url` (surrounding blanks trimmed). */
int io_url_list_add(struct io_url_list *list, const char *url, unsigned line);
/* Reads one URL per line: a UTF-8 BOM at the start, CRLF endings, blank lines,
 * leading/trailing blanks and lines whose first non-blank is '#' are all
 * tolerated or skipped. Lines longer than 64 KiB are an error (-E2BIG). */
int io_url_list_read(struct io_url_list *list, FILE *in, char *err, size_t err_size);

/* Checks that `url` parses and uses http or https with a host, before any I/O. */
int io_url_check(const char *url, char *err, size_t err_size);

/* ---- output names ------------------------------------------------------ */

/* Derives a file name from the URL's last path segment (percent-decoded, then
 * reduced to [A-Za-z0-9._-], no leading dot, at most 120 bytes, "image" when
 * nothing is left), with its extension replaced by ".png". Always a plain
 * name: never empty, never "." or "..", never containing '/'. */
int io_output_name(const char *url, char *name, size_t name_size);

/* Room for any name io_output_name or io_assigned_output_name writes. */
#define IO_OUTPUT_NAME_SIZE 144

/* Gives each of `count` URLs a distinct output name, deterministically from
 * the URLs alone (not their order): a URL whose derived name no other URL in
 * the set shares keeps it; every URL of a colliding group becomes
 * "STEM-XXXXXXXX.png", XXXXXXXX being io_url_hash() in hex. Identical URLs are
 * the same item and must have been removed first. `names[i]` are malloc'd.
 * -EEXIST when even the renamed names clash (a 32-bit hash collision). */
int io_assign_output_names(const char *const *urls, size_t count, char **names);

/* The same decision without keeping any name: sets `hashed[i]` when urls[i]
 * is renamed "STEM-XXXXXXXX.png". It needs 16 bytes per URL while it runs, so
 * a long list can be named without holding every name; io_assigned_output_name
 * gives the name back from the flag. Same errors as io_assign_output_names. */
int io_mark_name_collisions(const char *const *urls, size_t count, bool *hashed);

/* The name io_assign_output_names gives `url` in a set where its derived name
 * collides (`hashed`) or not. name_size >= IO_OUTPUT_NAME_SIZE. */
int io_assigned_output_name(const char *url, bool hashed, char *name, size_t name_size);

/* Stable 32-bit FNV-1a hash of the URL bytes. */
uint32_t io_url_hash(const char *url);

/* "host:port" of an http(s) URL, the host lower-cased and the port explicit
 * (80/443 when the URL has none): the key of the per-host download cap. */
int io_url_host(const char *url, char *host, size_t host_size);

/* ---- files ------------------------------------------------------------- */

/* Writes `size` bytes to DIR/NAME atomically: into a temporary file in DIR
 * that is renamed over NAME only once complete, so NAME is never seen
 * half-written; on failure the temporary file is removed. The file gets
 * permissions `mode` (see io_file_mode). */
int io_write_atomic(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    char *err, size_t err_size);

/* 0666 less the process's umask: what open(O_CREAT, 0666) would give. Call
 * it while single-threaded: umask() can only be read by setting it, process
 * wide, so threads reading it at once can see (and leave) a mask of 0. */
mode_t io_file_mode(void);

/* Compares two files byte for byte: 1 identical, 0 different, or a negative
 * code when either cannot be read. */
int io_files_identical(const char *path_a, const char *path_b);

/* Creates DIR (and parents) if missing and checks it is a writable directory. */
int io_prepare_dir(const char *dir, char *err, size_t err_size);

/* 1 when DIR/NAME is a finished output (a non-empty regular file: outputs are
 * renamed into place only once complete), 0 when not, or a negative code. */
int io_output_exists(const char *dir, const char *name);

/* Yields the output names of a run one at a time, then NULL. A string needs
 * to last only until the next call, so names can be made on the fly. */
typedef const char *(*io_next_name_fn)(void *user);

/* Removes the temporary files io_write_atomic leaves when killed before its
 * rename (".NAME.XXXXXX.tmp"), but only those of the output names that
 * `next_name` yields: other processes (other shards) may be writing into the
 * same folder. The names are asked for only when DIR holds such files.
 * Counts them in *removed. */
int io_remove_stale_temps(const char *dir, io_next_name_fn next_name, void *user, size_t *removed);

/* ---- HTTP -------------------------------------------------------------- */

struct io_http_options {
    long timeout_ms;         /* whole transfer; 0 = none */
    long connect_timeout_ms; /* 0 = libcurl's default */
    size_t max_body;         /* bytes; larger bodies fail the transfer */
    long low_speed_limit;    /* bytes/s; slower than this for low_speed_time_s aborts */
    long low_speed_time_s;   /* 0 = no low-speed abort */
    long max_redirs;
    const char *cacert; /* PEM bundle, or NULL for the system's */
    bool insecure;      /* skip certificate verification (said loudly by the caller) */
    const char *user_agent;
    const char *const *headers; /* extra "Name: value" request headers */
    size_t header_count;
    uint64_t rate_limit; /* bytes/s for all transfers together; 0 = unlimited */
};

/* Why no connection could be made to the host, for the run's host health:
 * the transfer failed before a TCP connection existed. */
enum io_connect_failure {
    IO_CONNECT_OK = 0,    /* connected, or failed for another reason */
    IO_CONNECT_REFUSED,   /* refused (RST) or otherwise could not connect */
    IO_CONNECT_TIMED_OUT, /* --connect-timeout ran out (SYNs unanswered) */
};

/* What a finished transfer hands back. `body` is owned by the result. */
struct io_http_result {
    int error;          /* 0, or negative: the transfer failed (see `message`) */
    long http_status;   /* last response's status, 0 if none */
    uint8_t *body;
    size_t body_size;
    char *final_url;    /* after redirects; owned */
    long retry_after_s; /* the response's Retry-After in seconds (delta or date), -1 if none */
    bool transient;     /* a failure worth retrying: 408/429/5xx gateway-ish, timeout, cut-off */
    enum io_connect_failure connect_failure;
    bool connected;     /* a TCP connection to the host existed (the host answers) */
    double seconds;     /* from io_http_start to completion */
    char message[256];  /* reason when `error` or a non-2xx status */
};

void io_http_result_finish(struct io_http_result *result);

struct io_http;

/* Called on the loop thread when a transfer ends, successfully or not.
 * Takes nothing: the callee may move `result->body` out (set it NULL). */
typedef void (*io_http_done_cb)(struct io_http_result *result, void *user);

/* One curl multi handle driven by `loop` through the socket API. */
int io_http_create(uv_loop_t *loop, const struct io_http_options *opts, struct io_http **out);
/* Starts a GET of `url`; `done` fires exactly once (possibly after
 * io_http_abort_all with error -ECANCELED). */
int io_http_start(struct io_http *http, const char *url, io_http_done_cb done, void *user);
/* Aborts every running transfer; each one's callback fires with -ECANCELED. */
void io_http_abort_all(struct io_http *http);
/* Transfers still running. */
size_t io_http_running(const struct io_http *http);
/* Body bytes received so far by the transfers still running. */
uint64_t io_http_bytes_in_flight(const struct io_http *http);
/* Aborts what is running and starts closing the libuv handles; the memory is
 * released from their close callbacks, so run the loop afterwards. Accepts NULL. */
void io_http_destroy(struct io_http *http);

/* Version strings of the libraries behind io (for --version). */
const char *io_curl_version(void);

#endif
