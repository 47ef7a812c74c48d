/* A deflate encoder made for filtered PNG rows of edge maps (png_rle.c),
 * private to imaging/. It codes what zlib's Z_RLE codes (literals, and runs
 * as matches at distance 1) but in two passes per block: find the runs and
 * count the symbols, then write the block with a dynamic Huffman code (or
 * the fixed one, or stored, when smaller), with no hashing, no lazy
 * evaluation and no per-symbol bookkeeping. PNG_SETTINGS.md has the
 * measurements that chose it.
 *
 * A stream is raw deflate (RFC 1951) written into a growing buffer. Each
 * img__rle_block call codes its bytes as one or more blocks that never refer
 * to bytes outside the call, so a caller may reuse its buffer between calls.
 * With `final`, the call's last block is the stream's last (BFINAL).
 * img__rle_end closes the stream: after a final
 * block it pads to a byte; otherwise it writes an empty stored block, which
 * ends on a byte boundary (what zlib's Z_SYNC_FLUSH writes), so another
 * stream's bytes may follow and the two decode as one. */
#ifndef EDGEFETCH_IMAGING_PNG_RLE_H
#define EDGEFETCH_IMAGING_PNG_RLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* img__rle_block codes at most this many bytes as one piece (larger calls
 * are cut): it bounds the symbol counts. */
#define IMG__RLE_CALL_MAX ((size_t)4 << 20)

/* img__encode_png_with's `strategy` for this encoder (zlib's are 0-4). */
#define IMG__STRATEGY_FAST_RLE 100

struct img__rle_stream {
    uint8_t *out;    /* malloc'd; `head` bytes the caller reserved, then the data */
    size_t head;     /* bytes in front of the deflate data */
    size_t used;     /* bytes written, `head` included */
    size_t capacity; /* of `out` */
    uint64_t bits;   /* pending bits, LSB first */
    unsigned bit_count;
    bool borrowed;            /* `out` is the caller's (img__rle_init_in) until it must grow */
    size_t populated;         /* borrowed: out[0, populated) was asked for (img__populate) */
    size_t symbols_per_block; /* 0: one block per call */
    uint32_t *runs;           /* per call: start, length pairs of the runs found */
    size_t run_count;
    size_t run_capacity; /* pairs */
    /* The portable code only, not the AVX2 paths the CPU check picks (for
     * the tests, which compare the two bit for bit); img__rle_init* clear it. */
    bool portable;
};

/* Allocates room for about `expected` bytes of output after `head` reserved
 * bytes (the caller fills those). Blocks end after `symbols_per_block`
 * symbols (literals and runs; zlib's blocks are 16383 at its default memory
 * level) and at the end of each call; 0: only at the end of each call (what
 * encode.c uses; the symbol limit is what PNG_SETTINGS.md measured for
 * two-level maps). 0 or -ENOMEM. */
int img__rle_init(struct img__rle_stream *s, size_t head, size_t expected,
                  size_t symbols_per_block);
/* img__rle_init writing into the caller's `buffer` of `capacity` bytes
 * (the first `head` are the caller's) instead of a buffer of its own. The
 * stream never frees it; if the data outgrows it (or, for a block coded
 * from estimated counts, its worst case while it is written: 14 bits a
 * byte), the stream moves to a malloc'd copy of its own (s->out then differs from `buffer`, and is
 * the caller's to free as with img__rle_init). 0 or -EINVAL (capacity under head plus the writer's
 * slack). */
int img__rle_init_in(struct img__rle_stream *s, uint8_t *buffer, size_t capacity, size_t head,
                     size_t symbols_per_block);
/* Codes `size` (> 0) bytes: the blocks depend on the bytes, on
 * `symbols_per_block` and on where the calls begin and end, nothing else.
 * 0 or -ENOMEM. */
int img__rle_block(struct img__rle_stream *s, const uint8_t *data, size_t size, bool final);
/* Ends the stream (see above); `final` as in the last img__rle_block call.
 * 0 or -ENOMEM. The data is s->out[head, used). */
int img__rle_end(struct img__rle_stream *s, bool final);
/* Frees the buffers (out included, unless the caller took it: set it NULL,
 * or it is still the buffer given to img__rle_init_in). */
void img__rle_finish(struct img__rle_stream *s);

#endif
