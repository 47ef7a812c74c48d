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
    char *url;     /* trimmed, owned by the list */
    unsigned line; /* 1-based line in the list; 0 for URLs given on the command line */
    char *name;    /* --name-column: the row's name (trimmed, not empty), else NULL */
};

struct io_url_block;

struct io_url_list {
    struct io_url_entry *entries;
    size_t count;
    size_t capacity;
    /* The URL bytes, packed into large blocks rather than one allocation
     * each: a long list costs its text plus an entry per line. */
    struct io_url_block *blocks; /* newest first */
    /* Lines io_url_list_read(_rows) read, blank and dropped ones included. */
    unsigned lines_read;
};

void io_url_list_init(struct io_url_list *list);
void io_url_list_finish(struct io_url_list *list);
/* Appends a copy of `url` (surrounding blanks trimmed). */
int io_url_list_add(struct io_url_list *list, const char *url, unsigned line);
/* The same with the row's name (NULL, or blank: none). */
int io_url_list_add_named(struct io_url_list *list, const char *url, const char *name,
                          unsigned line);
/* Reads one URL per line: a UTF-8 BOM at the start, CRLF endings, blank lines,
 * leading/trailing blanks and lines whose first non-blank is '#' are all
 * tolerated or skipped. Memory is bounded by the lines kept: a line longer
 * than 64 KiB is never held whole; it becomes an entry with its line number
 * whose text, "(line N: longer than 65536 bytes, not read)", io_url_check
 * refuses (-E2BIG), so it fails alone and the rest of the list runs. A NUL
 * byte refuses the whole list (-EINVAL: a binary file, /dev/zero). */
int io_url_list_read(struct io_url_list *list, FILE *in, char *err, size_t err_size);

/* The streaming list reader: one row at a time, never the whole list, in
 * about 400 KiB whatever its length. Formats (`format`):
 *   plain  one URL a line, as io_url_list_read reads it;
 *   csv    RFC 4180 (quoted fields, "" for a quote, line breaks inside
 *          quotes), a header line first naming the columns;
 *   tsv    as csv with a tab between fields;
 *   jsonl  one JSON object a line (RFC 8259, strict); other fields, nested
 *          ones included, are checked and skipped.
 * Any of them may be gzip (RFC 1952, concatenated members too), inflated in
 * 64 KiB pieces as it is read. A UTF-8 BOM, CRLF ends and blank lines are
 * tolerated in every format; '#' comments in plain only. Bytes are consumed
 * as they arrive: on a pipe, rows come out while the producer still writes. */
enum io_list_format {
    IO_LIST_PLAIN = 0,
    IO_LIST_CSV = 1,
    IO_LIST_TSV = 2,
    IO_LIST_JSONL = 3,
};

enum io_list_compression {
    IO_LIST_COMPRESSION_AUTO = 0, /* gzip when it starts with gzip's magic bytes */
    IO_LIST_GZIP = 1,             /* must be gzip (a ".gz" name): otherwise a setup error */
    IO_LIST_UNCOMPRESSED = 2,     /* read as it is */
};

struct io_list_options {
    enum io_list_format format;
    enum io_list_compression compression;
    const char *url_column;  /* csv/tsv column, jsonl field of the URL; NULL: "url" */
    const char *name_column; /* of the output name; NULL: none */
    /* Polled with the list's descriptor by a read that waits (an eventfd or
     * a pipe's read end, never read by the reader), from the first read on:
     * once it is readable, io_list_reader_create and io_list_reader_next
     * return -ECANCELED, "reading the URL list: Operation canceled", and
     * keep returning it. A stopped run, or a signal before it, is then never
     * held by a producer that writes nothing. Streams without a descriptor
     * ignore it. -1: none. */
    int wake_fd;
};

/* plain, auto compression, "url", no name column, no wake-up. */
void io_list_options_init(struct io_list_options *opts);

/* The format a list's file name implies: ".csv", ".tsv"/".tab",
 * ".jsonl"/".ndjson", else plain; a ".gz" after it sets *gzip. */
enum io_list_format io_list_format_from_path(const char *path, bool *gzip);

/* One row. `url` and `name` (NUL-terminated, trimmed) last until the next
 * io_list_reader_next; `name` is NULL when there is no name column or the
 * row's is empty. `line` is the row's first line in the list (1-based,
 * header and blank lines counted). A row that cannot be read (a quote in an
 * unquoted CSV field, a line that is not a JSON object, no URL field, a line
 * over 64 KiB: -E2BIG) has `error` < 0 and `message`, "line N: why", and no
 * URL: it fails alone and the next row is read. */
struct io_list_row {
    const char *url;
    size_t url_len;
    const char *name;
    size_t name_len;
    uint64_t line;
    int error;
    const char *message;
};

struct io_list_reader;

/* Reads `in` (not closed; read(2) on its descriptor when it has one, so it
 * must not have been read through stdio before). Reads the first bytes
 * (gzip?) and, for csv/tsv, the header: -ENOENT when the URL column (or
 * the name column asked for) is not in it, -EINVAL for a .gz that is not
 * gzip, all with the reason in `err` (setup errors: nothing has run). */
int io_list_reader_create(FILE *in, const struct io_list_options *opts, struct io_list_reader **out,
                          char *err, size_t err_size);

/* 1 with a row (see io_list_row.error), 0 at the end of the list, or a
 * negative code that ends the list, with the reason: -EINVAL at a NUL byte
 * (a binary file), a corrupt or cut-short gzip stream, a read error. */
int io_list_reader_next(struct io_list_reader *reader, struct io_list_row *row, char *err,
                        size_t err_size);

/* Lines read so far. */
uint64_t io_list_reader_line(const struct io_list_reader *reader);

/* Accepts NULL. Does not close the stream. */
void io_list_reader_destroy(struct io_list_reader *reader);

/* ---- duplicates: 64-bit fingerprints ------------------------------------ */

/* A 64-bit fingerprint of `len` bytes (not cryptographic: 8 bytes at a time
 * mixed by 64x64->128-bit multiplies; stable across runs and machines of
 * the same endianness). */
uint64_t io_fingerprint64(const void *data, size_t len);

/* Exact duplicate detection in 8 bytes a slot: an open-addressing set of
 * fingerprints, kept between 0.53 and 0.8 full (it grows 1.5x at 0.8), so
 * 10-15 bytes a member, and 25 for the moment of a growth, when the old
 * and the new table both exist. Two distinct URLs with one fingerprint make
 * the second a false repeat (it is not fetched); among n URLs the chance of
 * any is about n^2 / 2^65: 3e-6 for 10 M, 3e-4 for 100 M, 3% for 1 G in one
 * process (see README "URL list"). */
struct io_fp_set;
int io_fp_set_create(struct io_fp_set **out);
/* 1 when `fingerprint` is new (now a member), 0 when it was one, -ENOMEM. */
int io_fp_set_insert(struct io_fp_set *set, uint64_t fingerprint);
size_t io_fp_set_count(const struct io_fp_set *set);
/* Bytes the set holds now: its tables and its header. */
size_t io_fp_set_bytes(const struct io_fp_set *set);
/* Accepts NULL. */
void io_fp_set_destroy(struct io_fp_set *set);

/* io_url_list_read for any format of the streaming reader (below): every
 * row into `list`, in list order. A row that could not be read is kept as
 * the stand-in "(line N: why)", which io_url_check refuses with "why", so
 * it fails alone (an over-long one as io_url_list_read's). The reader's
 * setup errors (a missing column: -ENOENT) are returned with `err`. */
struct io_list_options;
/* With `keep` (not NULL), only the rows it says yes to are kept (the URL, or
 * the stand-in of a row that could not be read): a shard keeps its own. */
typedef bool (*io_url_keep_fn)(const char *url, void *user);
int io_url_list_read_rows(struct io_url_list *list, FILE *in, const struct io_list_options *opts,
                          io_url_keep_fn keep, void *keep_user, char *err, size_t err_size);
/* The text a row stands for: its URL, or for a row that could not be read
 * the stand-in io_url_list_read_rows keeps ("(line N: why)", written into
 * `stand_in`, IO_ROW_STAND_IN_SIZE bytes), which io_url_check refuses. */
#define IO_ROW_STAND_IN_SIZE 320
const char *io_list_row_text(const struct io_list_row *row, char *stand_in);

/* Checks that `url` parses and uses http or https with a host, before any I/O;
 * -E2BIG for the stand-in of an over-long list line, -EINVAL with its reason
 * for the stand-in of a row that could not be read. */
int io_url_check(const char *url, char *err, size_t err_size);

/* ---- output names ------------------------------------------------------ */

/* Derives a file name from the URL's last path segment (percent-decoded, then
 * reduced to [A-Za-z0-9._-], no leading dot, at most 120 bytes, "image" when
 * nothing is left), with its extension replaced by ".png". Always a plain
 * name: never empty, never "." or "..", never containing '/'. */
int io_output_name(const char *url, char *name, size_t name_size);

/* Room for any name io_output_name or io_leveled_output_name writes. */
#define IO_OUTPUT_NAME_SIZE 192

/* How far a URL's name had to move from its derived name to be its own. */
enum io_name_level {
    IO_NAME_DERIVED = 0, /* "STEM.png", io_output_name */
    IO_NAME_HASH32 = 1,  /* "STEM-XXXXXXXX.png": io_url_hash, 8 hex digits */
    IO_NAME_HASH64 = 2,  /* "STEM-<16 hex>.png": 64-bit FNV-1a of the URL */
    IO_NAME_SHA256 = 3,  /* "STEM-<64 hex>.png": SHA-256 of the URL */
};
#define IO_NAME_LEVEL_MAX 3

/* The name of `url` at `level` (STEM: io_output_name's without ".png").
 * name_size >= IO_OUTPUT_NAME_SIZE, else -ENOSPC; -EINVAL for a bad level. */
int io_leveled_output_name(const char *url, unsigned level, char *name, size_t name_size);

/* The same with the stem from `given` (a --name-column value) when it is not
 * NULL: reduced like a URL's last segment (not percent-decoded: a value is
 * not URL text) to [A-Za-z0-9._-], its extension dropped, no leading dot,
 * at most 120 bytes; the levels' hashes stay the URL's, so two URLs given
 * one name part as two URLs of one last segment do. A value with nothing
 * left (only dots) names the item from its URL instead. */
int io_named_output_name(const char *url, const char *given, unsigned level, char *name,
                         size_t name_size);

/* Gives each of `count` distinct URLs a level so that their names are all
 * different, deterministically from the set of URLs alone (not their order,
 * not the shard): starting from level 0, every URL whose name equals another
 * URL's current name moves up one level, all at once, round after round
 * until no name is shared. It never refuses a set: -EEXIST only for two
 * URLs of one stem and one SHA-256. Identical URLs are the same item and
 * must have been removed first. Needs 16 bytes per URL while it runs (a
 * fingerprint and an index), not the names. */
int io_assign_name_levels(const char *const *urls, size_t count, uint8_t *levels);

/* io_assign_name_levels, keeping the final names' fingerprints (16 bytes a
 * URL) so that names a resume moves to later (io_resume_name) can be checked
 * against every name of the set. */
struct io_name_table;
int io_name_table_create(const char *const *urls, size_t count, uint8_t *levels,
                         struct io_name_table **out);
/* The same where URL i is named from givens[i] (io_named_output_name; NULL
 * or a NULL entry: from the URL). */
int io_name_table_create_named(const char *const *urls, const char *const *givens, size_t count,
                               uint8_t *levels, struct io_name_table **out);
/* True when `name` is (by its 64-bit fingerprint: a false yes is possible,
 * a false no is not) a name of the set or one claimed since. */
bool io_name_table_taken(const struct io_name_table *table, const char *name);
/* Records a name an item moved to, so no later move takes it. 0 or -ENOMEM. */
int io_name_table_claim(struct io_name_table *table, const char *name);
/* Accepts NULL. */
void io_name_table_destroy(struct io_name_table *table);

/* io_assign_name_levels' names, malloc'd into names[i]. */
int io_assign_output_names(const char *const *urls, size_t count, char **names);

/* Stable 32-bit FNV-1a hash of the URL bytes. */
uint32_t io_url_hash(const char *url);

/* "host:port" of an http(s) URL, the host lower-cased and the port explicit
 * (80/443 when the URL has none): the key of the per-host download cap. */
int io_url_host(const char *url, char *host, size_t host_size);

/* ---- files ------------------------------------------------------------- */

/* Batched durability of the renames into one folder (the output folder):
 * io_write_atomic counts its renames and fsyncs the folder every few hundred
 * of them or once a second; io_dir_sync_flush syncs what is left (call it
 * at the end of the run, before its report). Thread-safe. */
struct io_dir_sync;
int io_dir_sync_create(const char *dir, struct io_dir_sync **out);
/* 0, or the first error any sync of the folder met (sticky). NULL: 0. */
int io_dir_sync_flush(struct io_dir_sync *sync);
/* Accepts NULL. Does not sync. */
void io_dir_sync_destroy(struct io_dir_sync *sync);

/* Writes `size` bytes to DIR/NAME atomically: into a temporary file in DIR,
 * held locked (flock) from its creation until after its rename so that an
 * overlapping run's sweep leaves it alone, and renamed over NAME only once
 * complete, so NAME is never seen half-written; on failure the temporary
 * file is removed. With `sync` (not NULL) the data is fdatasync'ed before
 * the rename and the rename counted into `sync`'s batch: after a power loss
 * NAME holds the complete new file or what it held before. With NULL,
 * nothing is synced (the kernel writes it back when it likes). The file
 * gets permissions `mode` (see io_file_mode). */
int io_write_atomic(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    struct io_dir_sync *sync, char *err, size_t err_size);

/* 0666 less the process's umask: what open(O_CREAT, 0666) would give. Call
 * it while single-threaded: umask() can only be read by setting it, process
 * wide, so threads reading it at once can see (and leave) a mask of 0. */
mode_t io_file_mode(void);

/* Compares two files byte for byte: 1 identical, 0 different, or a negative
 * code when either cannot be read. */
int io_files_identical(const char *path_a, const char *path_b);

/* Creates DIR (and parents) if missing and checks it is a writable directory. */
int io_prepare_dir(const char *dir, char *err, size_t err_size);

/* Who DIR/NAME is the output of, from the tEXt "Source" every output
 * carries before its first IDAT (a small chunk walker, no decoding). */
enum io_output_owner {
    IO_OUTPUT_ABSENT = 0,   /* no file, an empty one, not a regular file, or ours cut short */
    IO_OUTPUT_OURS = 1,     /* Source is `url`, byte for byte, and the file ends with IEND */
    IO_OUTPUT_OTHERS = 2,   /* Source is another URL */
    IO_OUTPUT_UNMARKED = 3, /* no Source: an older edgefetch's output, or a user's file */
};
/* An enum io_output_owner, or a negative code when the file cannot be read. */
int io_output_owner(const char *dir, const char *name, const char *url);

enum io_resume {
    IO_RESUME_FETCH = 0, /* fetch and write under `name` */
    IO_RESUME_DONE = 1,  /* `name` holds this URL's output (or an unmarked file): skip */
};
/* Resume's decision for the item of `url`, whose set name is at `*level`
 * (io_name_table_create). When that name holds another URL's output, the
 * item moves up a level, to the first name that is no name of the set nor
 * claimed (`table`, which it claims) and holds no other URL's output: its
 * own output there means done, a free name means fetch. An unmarked file is
 * kept and counts as done (outputs of edgefetch before Source, and files of
 * the user's, are never overwritten without `force`); with `force`, an
 * own or unmarked name is fetched again. Sets *level and `name`
 * (IO_OUTPUT_NAME_SIZE). Returns an enum io_resume, -EEXIST when every level
 * up to IO_NAME_LEVEL_MAX is held by other URLs' outputs, or -ENOMEM. */
int io_resume_name(const char *dir, const char *url, bool force, struct io_name_table *table,
                   uint8_t *level, char *name, size_t name_size);
/* The same for an item named from `given` (io_named_output_name). */
int io_resume_named(const char *dir, const char *url, const char *given, bool force,
                    struct io_name_table *table, uint8_t *level, char *name, size_t name_size);

/* Yields the output names of a run one at a time, then NULL. A string needs
 * to last only until the next call, so names can be made on the fly. */
typedef const char *(*io_next_name_fn)(void *user);

/* Removes the temporary files io_write_atomic leaves when killed before its
 * rename (".NAME.XXXXXX.tmp"), but only abandoned ones (no process holds
 * them locked: overlapping runs into one folder keep theirs) and only those
 * of the output names that `next_name` yields (other shards' are theirs to
 * sweep). The names are asked for only when DIR holds such files. Counts
 * them in *removed. */
int io_remove_stale_temps(const char *dir, io_next_name_fn next_name, void *user, size_t *removed);

/* ---- layouts: names from the list line ---------------------------------- */

/* The positional layout: the row of list line L is FOLDER/FILE with FOLDER
 * = L / 10000 in 5 digits and FILE = L in 9 digits and ".png"
 * ("00012/000123456.png"): at most 10,000 files a folder, unique for every
 * row (a row has its own first line), the same whatever --shard and however
 * the list is read. Wider numbers past 10^9 lines. -ENOSPC when it does not
 * fit. */
#define IO_POSITIONAL_PER_FOLDER 10000
#define IO_POSITIONAL_NAME_SIZE 32
int io_positional_path(uint64_t line, char *folder, size_t folder_size, char *file,
                       size_t file_size);
/* The row's key, the 9 digits alone ("000123456"): a tar entry's stem. */
int io_positional_key(uint64_t line, char *key, size_t key_size);

/* Items a tar shard holds at most: the rows of one shard process, in list
 * order, 10,000 to a tar. */
#define IO_TAR_ITEMS 10000
/* The name of tar number `tar_index` (the row's rank among its shard's rows
 * / IO_TAR_ITEMS): "NNNNN.tar", or "KKKKK-NNNNN.tar" with --shard K/N,
 * N > 1, so shards never write one file. */
int io_tar_shard_name(unsigned shard_index, unsigned shard_count, uint64_t tar_index, char *name,
                      size_t name_size);

/* Which names outputs get. READABLE: io_leveled_output_name's, from the
 * URL, levels assigned over the whole list (io_assign_name_levels), which
 * therefore needs the whole list. POSITIONAL: io_positional_path's
 * "FOLDER/FILE" from the row's line, which needs nothing but the row. */
enum io_layout {
    IO_LAYOUT_READABLE = 0,
    IO_LAYOUT_POSITIONAL = 1,
};

/* The output name of a row in `layout`: readable at `level`, or positional
 * ("00012/000123456.png", relative to the output folder). name_size >=
 * IO_OUTPUT_NAME_SIZE. */
int io_layout_name(enum io_layout layout, const char *url, unsigned level, uint64_t line,
                   char *name, size_t name_size);
/* The same for a readable name from `given` (io_named_output_name). */
int io_layout_named(enum io_layout layout, const char *url, const char *given, unsigned level,
                    uint64_t line, char *name, size_t name_size);

/* io_output_owner for a name of either layout ("FILE" or "FOLDER/FILE"). */
int io_output_owner_at(const char *dir, const char *name, const char *url);

/* Resume's decision for a positional name, which belongs to its line and
 * has no level to move to: IO_RESUME_DONE when it holds this URL's output
 * or an unmarked file (unless `force`), IO_RESUME_FETCH when it is free (or
 * `force`), -EEXIST when it holds another URL's output: the folder holds a
 * run of another list, which is never overwritten, so that item fails. */
int io_layout_resume(const char *dir, const char *url, bool force, const char *name);

/* Batched durability of the renames into the output folder and into its
 * layout subfolders: an io_dir_sync for DIR and one for each subfolder
 * written into (kept open for the few in use, flushed and closed when idle
 * and more than 8 are open). Thread-safe. */
struct io_output_sync;
int io_output_sync_create(const char *dir, struct io_output_sync **out);
/* Syncs every folder with renames not yet synced: 0 or the first error. */
int io_output_sync_flush(struct io_output_sync *sync);
/* Accepts NULL. Does not sync. */
void io_output_sync_destroy(struct io_output_sync *sync);

/* io_write_atomic for a name of either layout: a "FOLDER/FILE" name is
 * written into DIR/FOLDER, made (and its entry in DIR synced) on first use.
 * `sync` NULL: nothing synced (--no-fsync). */
int io_write_output(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    struct io_output_sync *sync, char *err, size_t err_size);

/* io_remove_stale_temps for names of either layout: each folder's names
 * (consecutive, as list order gives them) sweep that folder. */
int io_remove_stale_temps_nested(const char *dir, io_next_name_fn next_name, void *user,
                                 size_t *removed);

/* ---- tar shards --------------------------------------------------------- */

/* One tar (POSIX pax, ustar headers where they suffice) written through
 * libarchive into a locked temporary ".NAME.XXXXXX.tmp" in DIR, renamed to
 * DIR/NAME only by io_tar_commit: a final name only ever holds a complete
 * tar, so "DIR/NAME exists" means every item of it is done, and a temporary
 * left by a killed run is swept by io_remove_stale_temps as any other.
 * Not thread-safe: one thread writes a tar (the loop thread, or a writer). */
struct io_tar;
int io_tar_create(const char *dir, const char *name, mode_t mode, struct io_tar **out, char *err,
                  size_t err_size);
/* Appends a regular file `entry` (a plain name) of `size` bytes. */
int io_tar_add(struct io_tar *tar, const char *entry, const void *data, size_t size, char *err,
               size_t err_size);
/* Ends the archive, syncs it (`sync`: file and folder) and renames it to its
 * name. Destroys `tar` whatever it returns; on failure the temporary is
 * removed. */
int io_tar_commit(struct io_tar *tar, bool sync, char *err, size_t err_size);
/* Removes the temporary and destroys `tar`. Accepts NULL. */
void io_tar_abort(struct io_tar *tar);
/* Entries written so far. */
size_t io_tar_entries(const struct io_tar *tar);

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
    /* Extra "Name: value" request headers, sent only to the origin (scheme,
     * host and port) of the URL given to io_http_start: a redirect elsewhere
     * does not get them (they often carry API keys). */
    const char *const *headers;
    size_t header_count;
    /* The Accept value sent with every request (to every hop), unless a -H
     * header is an Accept: then that one, alone. NULL: libcurl's default, any type. */
    const char *accept;
    uint64_t rate_limit; /* bytes/s for all transfers together; 0 = unlimited */
    /* "user:password" for HTTP authentication, sent (CURLOPT_USERPWD) only on
     * hops to the origin of the URL given to io_http_start, like `headers`;
     * NULL = none. */
    const char *userpwd;
    /* libcurl's netrc (CURLOPT_NETRC optional): credentials of the machine
     * entry matching each hop's host name (netrc knows no ports), from
     * `netrc_file`, or ~/.netrc when it is NULL. An explicit `userpwd`
     * wins on the listed origin. */
    bool netrc;
    const char *netrc_file;
    const char *proxy; /* CURLOPT_PROXY; NULL = the environment's (http_proxy, ...) */
};

/* Why a transfer failed, decided in io where it failed (from libcurl's code
 * and what the callbacks saw), so that callers print it and never guess it
 * back from errno or the message. The values are stable within a build only;
 * io_http_kind_name gives a stable name. */
enum io_http_kind {
    IO_HTTP_OK = 0,
    IO_HTTP_CANCELLED,       /* io_http_abort_all */
    IO_HTTP_RESOLVE,         /* the host's name did not resolve, or its lookup timed out */
    IO_HTTP_RESOLVE_PROXY,   /* the proxy's name did not resolve (or timed out): not the host's */
    IO_HTTP_CONNECT_REFUSED, /* no connection: refused, or no route */
    IO_HTTP_CONNECT_TIMEOUT, /* no connection within the connect (or whole) timeout */
    IO_HTTP_TLS,             /* handshake, certificate or CA file */
    IO_HTTP_STATUS,          /* a final status outside 2xx (see http_status) */
    IO_HTTP_TIMEOUT,         /* connected, then the whole-transfer timeout or the low-speed abort */
    IO_HTTP_TOO_LARGE,       /* body over max_body */
    IO_HTTP_HEADERS_TOO_LARGE,  /* header and trailer bytes over IO_HTTP_MAX_HEADER_BYTES, or a
                                 * header line over libcurl's 100 KiB */
    IO_HTTP_MALFORMED,          /* not an HTTP/1.x or 2 response: HTTP/0.9, a bad status line */
    IO_HTTP_TOO_MANY_REDIRECTS, /* more than max_redirs */
    IO_HTTP_REDIRECT_REFUSED,   /* a redirect to a scheme other than http or https */
    IO_HTTP_CUT_SHORT,          /* the connection ended before the response did (or gave none) */
    IO_HTTP_NETWORK,            /* other send/receive failures (a reset, bad chunk framing, ...) */
    IO_HTTP_OUT_OF_MEMORY,
};

/* "ok", "cancelled", "resolve", "resolve_proxy", "connect_refused", "connect_timeout", "tls",
 * "http_status", "timeout", "too_large", "headers_too_large",
 * "malformed_response", "too_many_redirects", "redirect_refused",
 * "cut_short", "network", "out_of_memory"; "unknown" for other values. */
const char *io_http_kind_name(enum io_http_kind kind);

/* Header bytes of one response (1xx interim responses and chunked trailers
 * included) at most: libcurl caps headers, not trailers, so a server could
 * otherwise send trailer lines for ever. Each redirect hop has its own. */
#define IO_HTTP_MAX_HEADER_BYTES (256 * 1024)

/* What a finished transfer hands back. `body` is owned by the result. */
struct io_http_result {
    int error;              /* 0, or negative: the transfer failed (see `message`) */
    enum io_http_kind kind; /* IO_HTTP_OK, or why it failed */
    long http_status;       /* the last response's status, 0 if none came */
    uint8_t *body;
    size_t body_size;
    /* The URL of the last response received (after redirects); NULL when
     * none came (refused, unresolved, cancelled before an answer). Owned. */
    char *final_url;
    long retry_after_s; /* the response's Retry-After in seconds (delta or date), -1 if none */
    bool transient;     /* a failure worth retrying: 408/429/5xx gateway-ish, timeout, cut-off */
    double seconds;     /* from io_http_start to completion */
    /* Redirects followed: more than 0 means the listed URL's host answered,
     * whatever `kind` says of a later hop's (another host's) connection. */
    unsigned redirects;
    /* Of the final response, when it succeeded: its Content-Type as sent
     * (printable ASCII, at most 127 bytes, "" when none), and the SHA-256
     * of the body, hashed as the bytes arrived. */
    char content_type[128];
    uint8_t sha256[32];
    char message[256]; /* reason when `error` or a non-2xx status */
};

void io_http_result_finish(struct io_http_result *result);

struct io_http;

/* Called on the loop thread when a transfer ends, successfully or not.
 * Takes nothing: the callee may move `result->body` out (set it NULL). */
typedef void (*io_http_done_cb)(struct io_http_result *result, void *user);

/* Called on the loop thread, at most once and before `done`, when the
 * first hop of a transfer has a connection to its host: its TCP connect is
 * done (TLS may still be under way; with a proxy, given or from the
 * environment, only once the connection is ready for the request), or it
 * reuses one. Never from inside libcurl: it may start and abort transfers. */
typedef void (*io_http_connected_cb)(void *user);

/* io_http_start's flags. */
enum {
    /* The first hop opens a connection of its own (CURLOPT_FRESH_CONNECT)
     * rather than taking one the cache holds, idle or multiplexing; the
     * connection is cached afterwards as any other. */
    IO_HTTP_NEW_CONNECTION = 1u << 0,
};

/* One curl multi handle driven by `loop` through the socket API. */
int io_http_create(uv_loop_t *loop, const struct io_http_options *opts, struct io_http **out);
/* Starts a GET of `url` (`flags`: IO_HTTP_*); `done` fires exactly once
 * (possibly after io_http_abort_all with error -ECANCELED); `connected`,
 * which may be NULL, as said above. */
int io_http_start(struct io_http *http, const char *url, unsigned flags, io_http_done_cb done,
                  io_http_connected_cb connected, void *user);
/* Aborts every running transfer; each one's callback fires with -ECANCELED. */
void io_http_abort_all(struct io_http *http);
/* Transfers still running. */
size_t io_http_running(const struct io_http *http);
/* Transfers so far that ended while their name was being looked up (timed
 * out or cancelled): each lookup's thread was left to finish by itself, and
 * holds a descriptor or two until glibc's own timeouts (resolv.conf) end it. */
size_t io_http_lookups_left(const struct io_http *http);
/* Body bytes received so far by the transfers still running. */
uint64_t io_http_bytes_in_flight(const struct io_http *http);
/* Body bytes the running transfers still have to receive, by their final
 * responses' Content-Length; *unknown counts the running transfers whose
 * size is not known (no response yet, chunked, a redirect being followed). */
uint64_t io_http_bytes_remaining(const struct io_http *http, size_t *unknown);
/* Aborts what is running and starts closing the libuv handles; the memory is
 * released from their close callbacks, so run the loop afterwards. Accepts NULL. */
void io_http_destroy(struct io_http *http);

/* Version strings of the libraries behind io (for --version). */
const char *io_curl_version(void);

#endif
