/* Grayscale PNG encoding into memory, in row bands that threads may share.
 *
 * The image is cut into bands of whole rows whose layout depends only on the
 * image's size (never on how many threads run them), so every caller gets
 * the same bytes. Each band filters its rows (the previous row, for UP, AVG
 * and PAETH, is read from the image, so bands are independent), compresses
 * them as a raw deflate stream of its own, with png_rle.c (levels 1-9) or
 * zlib (level 0, two-level maps), that ends on a byte boundary after an
 * empty stored block (Z_SYNC_FLUSH's marker; the last band ends with the
 * final block instead), and computes the adler32 of its filtered bytes.
 * Concatenated, the pieces are one valid deflate stream (pigz does the
 * same); the finish wraps it in the zlib header and the combined adler32
 * (adler32_combine) and in the PNG chunks (RFC 1950, RFC 1951; PNG spec,
 * section 5).
 *
 * The finish writes the file itself (PNG spec, section 5; the bytes libpng's
 * png_write_info and png_write_chunk wrote before issue 16, checked by
 * libpng, stb_image and pngcheck in the tests): signature and IHDR, the tEXt
 * "Source" when the caller set one, then each band's compressed data as an
 * IDAT chunk, a 4-byte IDAT with the adler32, and IEND, each chunk's CRC-32
 * by libdeflate (PCLMUL). png_rle bands write their data straight into the
 * file (img_png_bands's `file`), so nothing is copied; zlib bands are
 * copied in.
 *
 * Fused bands (fused.c) have no image to read: each computes its rows of a
 * 3x3 operator block by block (filter_fused_rows) and filters them from
 * there; everything else is the same, so are the bytes. */
#include <errno.h>
#include <libdeflate.h>
#include <png.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <zlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"
#include "png_rle.h"

/* Chosen by measurement on Sobel and tutorial maps of the sample photos
 * (imaging/PNG_SETTINGS.md has the tables). Sobel maps of photos are dense
 * texture, not sparse lines: LZ matches are rare and short, so a match
 * search is time spent for little; zlib's Z_RLE (matches at distance 1 only,
 * then Huffman) was both faster and smaller than its other strategies at
 * every level, and png_rle.c codes those same symbols 5-6x faster and a
 * little smaller. The level picks the row filter:
 *   0    stored (zlib), no filter: filtering would only cost time
 *   1    PAETH + png_rle: 2.0 ms/MP of coding, 46.5% of raw on the samples'
 *        Sobel maps (before issue 16, UP + zlib Z_RLE: 13 ms/MP, 51.2%)
 *   2-9  ALL (libpng's per-row heuristic) + png_rle: 0.7% smaller than 1 at
 *        about twice the time; smaller and 3x faster than the zlib settings
 *        these levels had (PAETH + Z_RLE for 2-3, ALL + Z_RLE for 4-9)
 * Two-level maps keep zlib (img_png_bands_create). */
static int png_filters_for_level(int level)
{
    if (level == 0)
        return PNG_FILTER_NONE;
    if (level == 1)
        return PNG_FILTER_PAETH;
    return PNG_ALL_FILTERS;
}

/* True when every pixel is 0 or 255 (Canny and tutorial maps). For those,
 * no filter at all beats every other choice, in time and in size, at every
 * level above 0 (PNG_SETTINGS.md, "Two-level maps"): filtering turns a
 * 0/255 run into a scatter of 0, 1 and 255 the RLE cannot fold. Stops at
 * the first other value, so a Sobel map costs about one row. */
static bool is_two_level(const struct img_buf *gray)
{
    for (int y = 0; y < gray->height; y++) {
        const uint8_t *row = gray->data + (size_t)y * gray->stride;
        unsigned other = 0;
        for (int x = 0; x < gray->width; x++)
            other |= (unsigned)(row[x] != 0 && row[x] != 255);
        if (other != 0)
            return false;
    }
    return true;
}

static int png_strategy_for_level(int level)
{
    return level == 0 ? Z_DEFAULT_STRATEGY : IMG__STRATEGY_FAST_RLE;
}

/* The band layout. At least 256 rows and at least 1 MiB of pixels per band:
 * each band costs a deflate stream set-up (about 270 KiB of zlib state, a
 * 128 KiB hash table cleared), a sync marker (5 bytes) and a new Huffman
 * block, which must stay small against its rows; a 50 MP image still makes
 * about 20 bands, plenty for a few threads. The rows left over join the
 * last band, so an image under two bands' worth is one band. A band's raw size is capped so its
 * IDAT (about the raw size at worst, stored blocks) stays far below PNG's 2^31 - 1 chunk limit; a
 * single row over the cap is refused. */
#define PNG_BAND_MIN_ROWS 256
#define PNG_BAND_MIN_PIXELS ((size_t)1 << 20)
#define PNG_BAND_MAX_RAW ((size_t)1 << 28)
/* png_rle's blocks (a dynamic Huffman code each): rows are filtered into a
 * buffer of about this size, coded as one block, which adapts the code to
 * the image at little header cost and stays in cache (on the samples'
 * Sobel maps 16 and 32 KiB blocks were 0.3% and 0.1% larger at the same
 * speed; PNG_SETTINGS.md). */
#define PNG_RLE_BLOCK_BYTES ((size_t)64 << 10)
/* Rows are filtered into a buffer of about this size and handed to zlib
 * together, instead of one deflate() call per row. */
#define PNG_CHUNK_BYTES ((size_t)64 << 10)

enum { FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVG, FILTER_PAETH, FILTER_COUNT };

struct png_band {
    /* Where the compressed data is: in the file (in_place, at the band's
     * region) or in `out` (8 bytes of room, then the data; malloc'd). */
    uint8_t *out;
    bool in_place;
    bool done;
    size_t at; /* in_place: offset of its chunk header in the file */
    /* Once an in-place band is done: where the next band's chunk may start
     * (after this one's CRC); 0 until then. The next band, run after it,
     * starts there instead of at its own region, so that bands run in
     * order on one thread leave no gaps to close (the finish then moves
     * nothing, and no slack pages are touched). */
    atomic_size_t next_at;
    size_t size;     /* of the data */
    size_t raw_size; /* filtered bytes, filter bytes included */
    uint32_t adler;  /* of those */
    int error;
    uint64_t operator_time; /* fused: the clock's ticks in the operator's rows */
};

struct img_png_bands {
    struct img_buf gray; /* borrowed pixels */
    int level;
    int filters; /* PNG_FILTER_* mask */
    int strategy;
    int band_rows;
    int band_count;
    struct png_band *bands;
    const char *source;       /* borrowed; NULL: no tEXt */
    const atomic_int *cancel; /* borrowed; NULL: never cancelled */
    /* png_rle bands write their data straight into the file, each at its
     * region, so that the finish only moves them down over the slack and
     * frames them (no second buffer, no copy into fresh pages). NULL for
     * the zlib bands, whose finish allocates the file. */
    uint8_t *file;
    size_t file_capacity;
    /* region[i], i < band_count: where band i's chunk starts when band i - 1
     * is not done when it starts (threads); region[band_count]: the end. */
    size_t *region;
    atomic_bool started; /* a band has run: the layout no longer moves */
    bool portable;       /* png_rle without its AVX2 paths (tests) */
    /* Fused (fused.c): `gray` has no pixels; each band computes its rows of
     * `op` on `src` (borrowed) itself. `now` times that (NULL: not timed);
     * `probe_time` is what the two-level probe took. */
    bool fused;
    enum img_operator op;
    struct img_buf src;
    struct img_rows *rows; /* borrowed; NULL: the rows are `src`'s */
    uint64_t (*now)(void);
    uint64_t probe_time;
};

static void put_be32(uint8_t *out, uint32_t value)
{
    out[0] = (uint8_t)(value >> 24);
    out[1] = (uint8_t)(value >> 16);
    out[2] = (uint8_t)(value >> 8);
    out[3] = (uint8_t)value;
}

/* ---- row filters (PNG spec, section 9; one byte per pixel) ------------- */

static void filter_sub(const uint8_t *row, uint8_t *out, int width)
{
    out[0] = row[0];
    for (int x = 1; x < width; x++)
        out[x] = (uint8_t)(row[x] - row[x - 1]);
}

static void filter_up(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width)
{
    for (int x = 0; x < width; x++)
        out[x] = (uint8_t)(row[x] - prev[x]);
}

static void filter_avg(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width)
{
    out[0] = (uint8_t)(row[0] - (prev[0] >> 1));
    for (int x = 1; x < width; x++)
        out[x] = (uint8_t)(row[x] - ((row[x - 1] + prev[x]) >> 1));
}

/* The distances to the estimate left + up - up_left, written without it:
 * |up - up_left|, |left - up_left|, |left + up - 2 up_left|. Every input is
 * a raw pixel (nothing carried from one pixel to the next), so pixels can be
 * filtered in parallel. At x = 0 left and up_left are 0 and the predictor is
 * up. This is the reference; GCC 12 does not vectorise it (the selects),
 * hence the SSE2 version below for x86-64, which must match it bit for bit
 * (the round-trip tests decode every filter's output). */
static inline uint8_t paeth_predictor(int left, int up, int up_left)
{
    int distance_left = abs(up - up_left);
    int distance_up = abs(left - up_left);
    int distance_up_left = abs(left + up - 2 * up_left);
    if (distance_left <= distance_up && distance_left <= distance_up_left)
        return (uint8_t)left;
    return (uint8_t)(distance_up <= distance_up_left ? up : up_left);
}

#if defined(__SSE2__)
#include <emmintrin.h>

static inline __m128i abs_epi16(__m128i v)
{
    return _mm_max_epi16(v, _mm_sub_epi16(_mm_setzero_si128(), v));
}

/* Eight predictors from eight pixels of each input, as 16-bit lanes. */
static inline __m128i paeth_predictor_x8(__m128i left, __m128i up, __m128i up_left)
{
    __m128i to_up = _mm_sub_epi16(up, up_left);
    __m128i to_left = _mm_sub_epi16(left, up_left);
    __m128i distance_left = abs_epi16(to_up);
    __m128i distance_up = abs_epi16(to_left);
    __m128i distance_up_left = abs_epi16(_mm_add_epi16(to_up, to_left));
    __m128i not_left = _mm_or_si128(_mm_cmpgt_epi16(distance_left, distance_up),
                                    _mm_cmpgt_epi16(distance_left, distance_up_left));
    __m128i not_up = _mm_cmpgt_epi16(distance_up, distance_up_left);
    __m128i up_or_up_left =
        _mm_or_si128(_mm_andnot_si128(not_up, up), _mm_and_si128(not_up, up_left));
    return _mm_or_si128(_mm_andnot_si128(not_left, left), _mm_and_si128(not_left, up_or_up_left));
}

/* From pixel x (>= 1) on; returns where the scalar code takes over. */
static int filter_paeth_sse2(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width,
                             int x)
{
    const __m128i zero = _mm_setzero_si128();
    for (; x + 16 <= width; x += 16) {
        __m128i left = _mm_loadu_si128((const __m128i *)(row + x - 1));
        __m128i up = _mm_loadu_si128((const __m128i *)(prev + x));
        __m128i up_left = _mm_loadu_si128((const __m128i *)(prev + x - 1));
        __m128i low = paeth_predictor_x8(_mm_unpacklo_epi8(left, zero), _mm_unpacklo_epi8(up, zero),
                                         _mm_unpacklo_epi8(up_left, zero));
        __m128i high =
            paeth_predictor_x8(_mm_unpackhi_epi8(left, zero), _mm_unpackhi_epi8(up, zero),
                               _mm_unpackhi_epi8(up_left, zero));
        __m128i predictor = _mm_packus_epi16(low, high);
        __m128i pixels = _mm_loadu_si128((const __m128i *)(row + x));
        _mm_storeu_si128((__m128i *)(out + x), _mm_sub_epi8(pixels, predictor));
    }
    return x;
}
#endif

#if IMG_HAVE_AVX2_VARIANTS
#include <immintrin.h>

/* paeth_predictor_x8 on sixteen 16-bit lanes. */
IMG_TARGET_AVX2 static inline __m256i paeth_predictor_x16(__m256i left, __m256i up, __m256i up_left)
{
    __m256i to_up = _mm256_sub_epi16(up, up_left);
    __m256i to_left = _mm256_sub_epi16(left, up_left);
    __m256i distance_left = _mm256_abs_epi16(to_up);
    __m256i distance_up = _mm256_abs_epi16(to_left);
    __m256i distance_up_left = _mm256_abs_epi16(_mm256_add_epi16(to_up, to_left));
    __m256i not_left = _mm256_or_si256(_mm256_cmpgt_epi16(distance_left, distance_up),
                                       _mm256_cmpgt_epi16(distance_left, distance_up_left));
    __m256i not_up = _mm256_cmpgt_epi16(distance_up, distance_up_left);
    /* The masks are whole 16-bit lanes, so a byte blend selects lanes. */
    __m256i up_or_up_left = _mm256_blendv_epi8(up, up_left, not_up);
    return _mm256_blendv_epi8(left, up_or_up_left, not_left);
}

/* filter_paeth_sse2 32 pixels a step. unpack and pack work within 128-bit
 * lanes, so packing the two halves restores the pixel order. */
IMG_TARGET_AVX2 static int filter_paeth_avx2(const uint8_t *row, const uint8_t *prev, uint8_t *out,
                                             int width)
{
    const __m256i zero = _mm256_setzero_si256();
    int x = 1;
    for (; x + 32 <= width; x += 32) {
        __m256i left = _mm256_loadu_si256((const __m256i *)(row + x - 1));
        __m256i up = _mm256_loadu_si256((const __m256i *)(prev + x));
        __m256i up_left = _mm256_loadu_si256((const __m256i *)(prev + x - 1));
        __m256i low =
            paeth_predictor_x16(_mm256_unpacklo_epi8(left, zero), _mm256_unpacklo_epi8(up, zero),
                                _mm256_unpacklo_epi8(up_left, zero));
        __m256i high =
            paeth_predictor_x16(_mm256_unpackhi_epi8(left, zero), _mm256_unpackhi_epi8(up, zero),
                                _mm256_unpackhi_epi8(up_left, zero));
        __m256i predictor = _mm256_packus_epi16(low, high);
        __m256i pixels = _mm256_loadu_si256((const __m256i *)(row + x));
        _mm256_storeu_si256((__m256i *)(out + x), _mm256_sub_epi8(pixels, predictor));
    }
    return x;
}
#endif

/* `simd` false: the portable code only (for the tests' comparison). */
static void filter_paeth_with(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width,
                              bool simd)
{
    out[0] = (uint8_t)(row[0] - prev[0]);
    int x = 1;
#if IMG_HAVE_AVX2_VARIANTS
    if (simd && img__cpu_has_avx2())
        x = filter_paeth_avx2(row, prev, out, width);
#endif
#if defined(__SSE2__)
    /* The rest (all, without AVX2) 16 at a time. */
    if (simd)
        x = filter_paeth_sse2(row, prev, out, width, x);
#endif
    (void)simd;
    for (; x < width; x++)
        out[x] = (uint8_t)(row[x] - paeth_predictor(row[x - 1], prev[x], prev[x - 1]));
}

static void filter_paeth(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width)
{
    filter_paeth_with(row, prev, out, width, true);
}

void img__png_filter_paeth(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width,
                           bool simd)
{
    filter_paeth_with(row, prev, out, width, simd);
}

static void filter_row(int filter, const uint8_t *row, const uint8_t *prev, uint8_t *out, int width)
{
    switch (filter) {
    case FILTER_SUB:
        filter_sub(row, out, width);
        break;
    case FILTER_UP:
        filter_up(row, prev, out, width);
        break;
    case FILTER_AVG:
        filter_avg(row, prev, out, width);
        break;
    case FILTER_PAETH:
        filter_paeth(row, prev, out, width);
        break;
    default:
        memcpy(out, row, (size_t)width);
        break;
    }
}

/* libpng's choice among several filters: the smallest sum of the filtered
 * bytes read as signed, first filter in PNG order on a tie. */
static uint64_t signed_sum(const uint8_t *bytes, int width)
{
    uint64_t sum = 0;
    for (int x = 0; x < width; x++)
        sum += bytes[x] < 128 ? bytes[x] : 256u - bytes[x];
    return sum;
}

/* Writes the filter byte and the filtered row at `out` (width + 1 bytes).
 * `trial` has room for one row per filter, used when several are allowed. */
static void filter_best(int filters, const uint8_t *row, const uint8_t *prev, uint8_t *out,
                        uint8_t *trial, int width)
{
    static const int masks[FILTER_COUNT] = {PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP,
                                            PNG_FILTER_AVG, PNG_FILTER_PAETH};
    int only = -1, allowed = 0;
    for (int f = 0; f < FILTER_COUNT; f++)
        if (filters & masks[f]) {
            only = f;
            allowed++;
        }
    if (allowed <= 1) {
        int filter = only < 0 ? FILTER_NONE : only;
        out[0] = (uint8_t)filter;
        filter_row(filter, row, prev, out + 1, width);
        return;
    }
    int best = -1;
    uint64_t best_sum = UINT64_MAX;
    for (int f = 0; f < FILTER_COUNT; f++) {
        if (!(filters & masks[f]))
            continue;
        uint8_t *candidate = trial + (size_t)f * (size_t)width;
        filter_row(f, row, prev, candidate, width);
        uint64_t sum = signed_sum(candidate, width);
        if (sum < best_sum) {
            best_sum = sum;
            best = f;
        }
    }
    out[0] = (uint8_t)best;
    memcpy(out + 1, trial + (size_t)best * (size_t)width, (size_t)width);
}

/* ---- bands ------------------------------------------------------------- */

static int plan_bands(const struct img_buf *gray, int *band_rows, int *band_count)
{
    size_t row_bytes = (size_t)gray->width + 1;
    if (row_bytes > PNG_BAND_MAX_RAW)
        return -EFBIG;
    size_t rows = PNG_BAND_MIN_PIXELS / (size_t)gray->width;
    if (rows < PNG_BAND_MIN_ROWS)
        rows = PNG_BAND_MIN_ROWS;
    if (rows > PNG_BAND_MAX_RAW / row_bytes)
        rows = PNG_BAND_MAX_RAW / row_bytes;
    /* A remainder under `rows` joins the last band rather than make a small
     * band of its own; so one band for anything under two bands' worth. */
    int count = (int)((size_t)gray->height / rows);
    if (count < 1)
        count = 1;
    *band_rows = (int)rows;
    *band_count = count;
    return 0;
}

/* The file's layout before the finish frames it: the signature, IHDR and
 * the tEXt "Source" (img_png_bands_set_source moves the regions up by its
 * size; set later, the finish moves the bands instead), then per band a
 * region of chunk header (8), the data's bound and CRC (4), then the
 * adler32's IDAT and IEND. */
#define PNG_SIGNATURE_BYTES 8
#define PNG_IHDR_CHUNK_BYTES (12 + 13)
#define PNG_CHUNK_FRAME_BYTES 12 /* length, type, CRC */
#define PNG_TAIL_BYTES (PNG_CHUNK_FRAME_BYTES + 4 + PNG_CHUNK_FRAME_BYTES)
/* "Source", its NUL separator, the text: a tEXt chunk's data (PNG spec,
 * 11.3.4.3). */
#define SOURCE_KEYWORD_BYTES sizeof("Source")

static size_t text_chunk_bytes(const char *source)
{
    return PNG_CHUNK_FRAME_BYTES + SOURCE_KEYWORD_BYTES + strlen(source);
}

static void band_rows_of(const struct img_png_bands *b, int index, int *y0, int *y1)
{
    *y0 = index * b->band_rows;
    *y1 = index == b->band_count - 1 ? b->gray.height : *y0 + b->band_rows;
}

/* The most png_rle writes for `raw` bytes coded in blocks of about
 * PNG_RLE_BLOCK_BYTES (each block is at most its stored form: 5 bytes per
 * 65535 and a byte of padding), plus what its reserve() keeps free (a
 * block's header bound and the writer's slack) and the end marker. Should
 * the data still not fit, the band goes on in a buffer of its own. */
static size_t rle_region_bound(size_t raw)
{
    size_t blocks = raw / (PNG_RLE_BLOCK_BYTES / 2) + 2;
    /* A block whose code is made from estimated counts is taken back when
     * it comes out larger than stored, but is written first: up to 14 bits
     * a byte (png_rle.c's code_block). */
    size_t trial = PNG_RLE_BLOCK_BYTES * 14 / 8 - PNG_RLE_BLOCK_BYTES;
    return raw + 16 * blocks + 1024 + trial;
}

static int plan_file(struct img_png_bands *b)
{
    b->region = calloc((size_t)b->band_count + 1, sizeof(*b->region));
    if (b->region == NULL)
        return -ENOMEM;
    size_t row_bytes = (size_t)b->gray.width + 1;
    size_t at = PNG_SIGNATURE_BYTES + PNG_IHDR_CHUNK_BYTES;
    for (int i = 0; i < b->band_count; i++) {
        int y0, y1;
        band_rows_of(b, i, &y0, &y1);
        /* Each band's raw size is under PNG_BAND_MAX_RAW (plan_bands). */
        size_t bytes = 8 + 2 + rle_region_bound(row_bytes * (size_t)(y1 - y0)) + 4;
        if (bytes > SIZE_MAX / 4 - at)
            return -EFBIG;
        b->region[i] = at;
        at += bytes;
    }
    b->region[b->band_count] = at;
    b->file_capacity = at + PNG_TAIL_BYTES;
    /* Only the pages the bands write are ever touched (with transparent huge
     * pages, the 2 MiB pages they fall in). */
    b->file = malloc(b->file_capacity);
    if (b->file == NULL)
        return -ENOMEM;
    img__huge_pages(b->file, b->file_capacity);
    return 0;
}

/* `gray` without pixels (data NULL) for the fused bands, whose caller
 * checked its source. */
static int create_with(const struct img_buf *gray, int level, int filters, int strategy,
                       struct img_png_bands **out)
{
    *out = NULL;
    if (gray == NULL || gray->channels != 1 || gray->width <= 0 || gray->height <= 0 ||
        gray->stride < (size_t)gray->width || level < 0 || level > 9)
        return -EINVAL;
    int band_rows, band_count;
    int rc = plan_bands(gray, &band_rows, &band_count);
    if (rc < 0)
        return rc;
    struct img_png_bands *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->bands = calloc((size_t)band_count, sizeof(*b->bands));
    if (b->bands == NULL) {
        free(b);
        return -ENOMEM;
    }
    b->gray = *gray;
    b->level = level;
    b->filters = filters;
    b->strategy = strategy;
    b->band_rows = band_rows;
    b->band_count = band_count;
    if (strategy == IMG__STRATEGY_FAST_RLE) {
        rc = plan_file(b);
        if (rc < 0) {
            img_png_bands_destroy(b);
            return rc;
        }
    }
    *out = b;
    return 0;
}

/* The filter and coder of `level` for a map, two-level or not. */
static int create_for_level(const struct img_buf *gray, int level, bool two_level,
                            struct img_png_bands **out)
{
    if (level > 0 && two_level)
        return create_with(gray, level, PNG_FILTER_NONE, Z_RLE, out);
    return create_with(gray, level, png_filters_for_level(level), png_strategy_for_level(level),
                       out);
}

int img__png_bands_create_fused(enum img_operator op, const struct img_buf *src,
                                struct img_rows *rows, int level, bool two_level,
                                uint64_t (*now)(void), uint64_t probe_time,
                                struct img_png_bands **out)
{
    struct img_buf shape = {
        .data = NULL,
        .stride = (size_t)src->width,
        .width = src->width,
        .height = src->height,
        .channels = 1,
    };
    int rc = create_for_level(&shape, level, two_level, out);
    if (rc < 0)
        return rc;
    (*out)->fused = true;
    (*out)->op = op;
    (*out)->src = *src;
    (*out)->rows = rows;
    (*out)->now = now;
    (*out)->probe_time = probe_time;
    return 0;
}

uint64_t img_png_bands_operator_time(const struct img_png_bands *b)
{
    uint64_t total = b->probe_time;
    for (int i = 0; i < b->band_count; i++)
        total += b->bands[i].operator_time;
    return total;
}

int img_png_bands_create(const struct img_buf *gray, int level, struct img_png_bands **out)
{
    *out = NULL;
    if (gray == NULL || gray->data == NULL || gray->channels != 1 || gray->width <= 0 ||
        gray->height <= 0 || gray->stride < (size_t)gray->width || level < 0 || level > 9)
        return -EINVAL;
    /* Two-level maps keep zlib's Z_RLE: png_rle codes them about 1.7x
     * faster but, within a few bytes of zlib, not always smaller
     * (PNG_SETTINGS.md, "Level 1 (issue 16)"), and no level may get larger
     * than it was. */
    return create_for_level(gray, level, level > 0 && is_two_level(gray), out);
}

void img_png_bands_set_source(struct img_png_bands *b, const char *source)
{
    size_t old_size = b->source != NULL ? text_chunk_bytes(b->source) : 0;
    size_t new_size = source != NULL ? text_chunk_bytes(source) : 0;
    b->source = source;
    /* Once a band has started the layout stays (the finish moves the bands
     * up instead). Before, the regions move up to make room in front. */
    if (b->region == NULL || new_size <= old_size ||
        atomic_load_explicit(&b->started, memory_order_relaxed))
        return;
    size_t grow = new_size - old_size;
    size_t need = b->region[b->band_count] + grow + PNG_TAIL_BYTES;
    if (need > b->file_capacity) {
        uint8_t *grown = realloc(b->file, need);
        if (grown == NULL)
            return; /* the finish moves the bands, or fails there */
        b->file = grown;
        b->file_capacity = need;
    }
    for (int i = 0; i <= b->band_count; i++)
        b->region[i] += grow;
}

void img__png_bands_set_room(struct img_png_bands *b, size_t room)
{
    if (b->region == NULL || atomic_load_explicit(&b->started, memory_order_relaxed))
        return;
    for (int i = 1; i <= b->band_count; i++)
        b->region[i] = b->region[0] + (size_t)i * (room + 12);
}

void img__png_bands_set_portable(struct img_png_bands *b, bool portable)
{
    b->portable = portable;
}

void img_png_bands_set_cancel(struct img_png_bands *b, const atomic_int *cancel)
{
    b->cancel = cancel;
}

int img_png_bands_count(const struct img_png_bands *b)
{
    return b->band_count;
}

static bool cancelled(const atomic_int *cancel)
{
    return cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed) != 0;
}

/* Compresses what is in `strm` with `flush` into band->out, growing it when
 * full (the first size is deflateBound's, so that is rare); 4 bytes at the
 * end stay free for the CRC. */
static int deflate_into(z_stream *strm, int flush, struct png_band *band, size_t *capacity)
{
    for (;;) {
        if (strm->avail_out == 0) {
            size_t used = (size_t)(strm->next_out - band->out);
            size_t grown_capacity = *capacity * 2;
            uint8_t *grown = realloc(band->out, grown_capacity);
            if (grown == NULL)
                return -ENOMEM;
            band->out = grown;
            *capacity = grown_capacity;
            strm->next_out = grown + used;
            strm->avail_out = (uInt)(grown_capacity - used - 4);
        }
        int ret = deflate(strm, flush);
        if (ret == Z_STREAM_ERROR)
            return -EIO;
        /* zlib's rule: with room left over, all input is consumed and the
         * flush is complete. */
        if (strm->avail_out != 0)
            return 0;
    }
}

/* What both coders need for one band: its rows, the rows filtered per
 * chunk (about `chunk_bytes`), the zlib header in front of band 0, and the
 * buffers: filtered rows plus one trial row per filter when the level picks
 * per row, zeros as the row above row 0. */
struct band_setup {
    int y0, y1;
    size_t row_bytes;
    size_t chunk_rows;
    size_t header;
    bool last;
    uint8_t *scratch;
    uint8_t *trial;
    uint8_t *zero_row;
    /* Fused: the operator's rows of the chunk, after the row above it
     * (chunk_rows + 1 rows of width bytes, in cache while the chunk is
     * filtered); how many the last chunk had; the clock's ticks in them. */
    uint8_t *edges;
    size_t edge_rows;
    uint64_t operator_time;
};

/* Filters rows [y, y + rows) into `out` (a filter byte, then the row, for
 * each), reading the row above from the image (zero_row above row 0). */
static void filter_image_rows(const struct img_png_bands *b, int y, size_t rows, uint8_t *out,
                              uint8_t *trial, const uint8_t *zero_row)
{
    const struct img_buf *gray = &b->gray;
    size_t row_bytes = (size_t)gray->width + 1;
    for (size_t i = 0; i < rows; i++, y++) {
        const uint8_t *row = gray->data + (size_t)y * gray->stride;
        const uint8_t *prev = y == 0 ? zero_row : row - gray->stride;
        filter_best(b->filters, row, prev, out + i * row_bytes, trial, gray->width);
    }
}

/* The fused band's rows [y, y + rows) of the operator into setup->edges
 * after the row above them: at the band's first chunk that row is computed
 * too (zeros above row 0), later it is the previous chunk's last. Then the
 * same filtering as filter_image_rows, from there. Fails only when the row
 * source does (its decode), with its code. */
static int filter_fused_rows(const struct img_png_bands *b, struct band_setup *setup, int y,
                             size_t rows)
{
    const struct img_buf *src = &b->src;
    size_t width = (size_t)src->width;
    uint8_t *above = setup->edges;
    uint64_t start = b->now != NULL ? b->now() : 0;
    uint64_t decoding = b->rows != NULL ? img__rows_decode_time(b->rows) : 0;
    int ret = 0;
    if (y > setup->y0)
        memcpy(above, above + setup->edge_rows * width, width);
    else if (y == 0)
        memset(above, 0, width);
    else
        ret = img__fused_gradient_rows(b->op, src, b->rows, y - 1, above, width, y - 1, y);
    if (ret == 0)
        ret = img__fused_gradient_rows(b->op, src, b->rows, y - 1, above + width, width, y,
                                       y + (int)rows);
    if (b->now != NULL) {
        setup->operator_time += b->now() - start;
        /* The decoding of the rows is the caller's decode time. */
        if (b->rows != NULL)
            setup->operator_time -= img__rows_decode_time(b->rows) - decoding;
    }
    if (ret < 0)
        return ret;
    setup->edge_rows = rows;
    for (size_t i = 0; i < rows; i++)
        filter_best(b->filters, above + (i + 1) * width, above + i * width,
                    setup->scratch + i * setup->row_bytes, setup->trial, src->width);
    return 0;
}

/* Rows [y, y + rows) of the band, filtered into setup->scratch. */
static int filter_rows(const struct img_png_bands *b, struct band_setup *setup, int y, size_t rows)
{
    if (b->fused)
        return filter_fused_rows(b, setup, y, rows);
    filter_image_rows(b, y, rows, setup->scratch, setup->trial, setup->zero_row);
    return 0;
}

static int band_setup(const struct img_png_bands *b, int index, size_t chunk_bytes,
                      struct png_band *band, struct band_setup *setup)
{
    memset(setup, 0, sizeof(*setup));
    int width = b->gray.width;
    band_rows_of(b, index, &setup->y0, &setup->y1);
    setup->last = index == b->band_count - 1;
    setup->row_bytes = (size_t)width + 1;
    setup->chunk_rows = chunk_bytes / setup->row_bytes;
    if (setup->chunk_rows < 1)
        setup->chunk_rows = 1;
    setup->header = index == 0 ? 2 : 0;
    band->raw_size = setup->row_bytes * (size_t)(setup->y1 - setup->y0);
    band->adler = 1; /* adler32 of nothing (RFC 1950, 8.2) */

    size_t trial_bytes =
        (b->filters & (b->filters - 1)) != 0 ? (size_t)FILTER_COUNT * (size_t)width : 0;
    size_t edge_bytes = b->fused ? (setup->chunk_rows + 1) * (size_t)width : 0;
    setup->scratch = malloc(setup->chunk_rows * setup->row_bytes + trial_bytes + edge_bytes);
    if (setup->scratch == NULL)
        return -ENOMEM;
    setup->trial = setup->scratch + setup->chunk_rows * setup->row_bytes;
    if (b->fused)
        setup->edges = setup->trial + trial_bytes;
    if (setup->y0 == 0) {
        setup->zero_row = calloc(1, (size_t)width);
        if (setup->zero_row == NULL)
            return -ENOMEM;
    }
    return 0;
}

static void band_setup_finish(struct band_setup *setup)
{
    free(setup->zero_row);
    free(setup->scratch);
    setup->zero_row = NULL;
    setup->scratch = NULL;
}

/* CMF 0x78: deflate, 32 KiB window; FLG 0x01: no dictionary, "fastest"
 * (zlib writes the same for Z_RLE and level 0), and 0x7801 is a multiple of
 * 31 (RFC 1950, 2.2). */
static void put_zlib_header(uint8_t *out)
{
    out[0] = 0x78;
    out[1] = 0x01;
}

/* zlib's deflate, raw, with the level and strategy chosen (level 0; two-level
 * maps). */
static int run_band_zlib(const struct img_png_bands *b, int index, struct png_band *band)
{
    struct band_setup setup;
    z_stream strm = {0};
    int rc = band_setup(b, index, PNG_CHUNK_BYTES, band, &setup);
    if (rc < 0)
        goto fail;
    if (deflateInit2(&strm, b->level, Z_DEFLATED, -15, 8, b->strategy) != Z_OK) {
        rc = -ENOMEM;
        goto fail_setup;
    }
    /* deflateBound covers a Z_FINISH; a sync marker and the chunk's 12
     * bytes come on top. */
    size_t capacity =
        8 + setup.header + (size_t)deflateBound(&strm, (uLong)band->raw_size) + 64 + 4;
    band->out = malloc(capacity);
    if (band->out == NULL) {
        rc = -ENOMEM;
        goto fail_stream;
    }
    if (setup.header > 0)
        put_zlib_header(band->out + 8);
    strm.next_out = band->out + 8 + setup.header;
    strm.avail_out = (uInt)(capacity - 8 - setup.header - 4);

    for (int y = setup.y0; y < setup.y1;) {
        if (cancelled(b->cancel)) {
            rc = -ECANCELED;
            goto fail_stream;
        }
        size_t rows =
            (size_t)(setup.y1 - y) < setup.chunk_rows ? (size_t)(setup.y1 - y) : setup.chunk_rows;
        rc = filter_rows(b, &setup, y, rows);
        if (rc < 0)
            goto fail_stream;
        y += (int)rows;
        size_t bytes = rows * setup.row_bytes;
        band->adler = libdeflate_adler32(band->adler, setup.scratch, bytes);
        strm.next_in = setup.scratch;
        strm.avail_in = (uInt)bytes;
        rc = deflate_into(&strm, Z_NO_FLUSH, band, &capacity);
        if (rc < 0)
            goto fail_stream;
    }
    rc = deflate_into(&strm, setup.last ? Z_FINISH : Z_SYNC_FLUSH, band, &capacity);
    if (rc < 0)
        goto fail_stream;

    band->size = setup.header + (size_t)strm.total_out;
    band->operator_time = setup.operator_time;
    deflateEnd(&strm);
    band_setup_finish(&setup);
    uint8_t *shrunk = realloc(band->out, 8 + band->size + 4);
    if (shrunk != NULL)
        band->out = shrunk;
    return 0;

fail_stream:
    deflateEnd(&strm);
fail_setup:
    free(band->out);
    band->out = NULL;
fail:
    band_setup_finish(&setup);
    return rc;
}

/* The literals-and-runs encoder (png_rle.c; levels 1-9): a chunk of rows is
 * one deflate block, so the blocks, like the bands, depend on the image
 * size only, never on threads. The band ends as zlib's would: on a byte
 * boundary after an empty stored block, or with the final block. The data
 * goes straight into the band's region of the file. */
static int run_band_rle(const struct img_png_bands *b, int index, struct png_band *band)
{
    struct band_setup setup;
    struct img__rle_stream stream;
    size_t after_previous =
        index > 0 ? atomic_load_explicit(&b->bands[index - 1].next_at, memory_order_acquire) : 0;
    size_t at = after_previous != 0 ? after_previous : b->region[index];
    /* Up to the next band's region (where it starts if it runs before this
     * one is done), less 4 bytes for the CRC. */
    size_t room = b->region[index + 1] - at - 4;
    uint8_t *region = b->file + at;
    int rc = band_setup(b, index, PNG_RLE_BLOCK_BYTES, band, &setup);
    if (rc < 0) {
        band_setup_finish(&setup);
        return rc;
    }
    rc = img__rle_init_in(&stream, region, room, 8 + setup.header, 0);
    if (rc < 0) {
        band_setup_finish(&setup);
        return rc;
    }
    stream.portable = b->portable;
    if (setup.header > 0)
        put_zlib_header(stream.out + 8);
    for (int y = setup.y0; y < setup.y1;) {
        if (cancelled(b->cancel)) {
            rc = -ECANCELED;
            goto fail;
        }
        size_t rows =
            (size_t)(setup.y1 - y) < setup.chunk_rows ? (size_t)(setup.y1 - y) : setup.chunk_rows;
        rc = filter_rows(b, &setup, y, rows);
        if (rc < 0)
            goto fail;
        y += (int)rows;
        size_t bytes = rows * setup.row_bytes;
        band->adler = libdeflate_adler32(band->adler, setup.scratch, bytes);
        rc = img__rle_block(&stream, setup.scratch, bytes, setup.last && y == setup.y1);
        if (rc < 0)
            goto fail;
    }
    rc = img__rle_end(&stream, setup.last);
    if (rc < 0)
        goto fail;
    band->operator_time = setup.operator_time;
    band_setup_finish(&setup);
    band->size = stream.used - 8;
    band->in_place = stream.out == region;
    band->at = at;
    if (band->in_place) {
        atomic_store_explicit(&band->next_at, at + 8 + band->size + 4, memory_order_release);
    } else {
        /* It outgrew its region: the finish copies it from its own buffer. */
        band->out = stream.out;
        stream.out = NULL;
    }
    img__rle_finish(&stream);
    return 0;

fail:
    band_setup_finish(&setup);
    img__rle_finish(&stream);
    return rc;
}

int img_png_bands_run(struct img_png_bands *b, int band)
{
    if (band < 0 || band >= b->band_count)
        return -EINVAL;
    struct png_band *out = &b->bands[band];
    atomic_store_explicit(&b->started, true, memory_order_relaxed);
    out->error = b->strategy == IMG__STRATEGY_FAST_RLE ? run_band_rle(b, band, out)
                                                       : run_band_zlib(b, band, out);
    out->done = out->error == 0;
    return out->error;
}

/* ---- the file (PNG spec, section 5) -------------------------------------- */

/* Frames the `size` bytes of chunk data at at + 8 (already there): length
 * and type in front, the CRC of type and data after (5.3). Returns the
 * offset after the chunk. */
static size_t frame_chunk(uint8_t *file, size_t at, const char type[4], size_t size)
{
    put_be32(file + at, (uint32_t)size);
    memcpy(file + at + 4, type, 4);
    uint32_t crc = (uint32_t)libdeflate_crc32(0, file + at + 4, size + 4);
    put_be32(file + at + 8 + size, crc);
    return at + PNG_CHUNK_FRAME_BYTES + size;
}

int img_png_bands_finish(struct img_png_bands *b, uint8_t **png_out, size_t *png_size)
{
    *png_out = NULL;
    *png_size = 0;
    uint32_t adler = 0;
    for (int i = 0; i < b->band_count; i++) {
        const struct png_band *band = &b->bands[i];
        if (band->error < 0)
            return band->error;
        if (!band->done)
            return -EINVAL; /* a band was never run */
        adler = i == 0 ? band->adler
                       : (uint32_t)adler32_combine(adler, band->adler, (z_off_t)band->raw_size);
    }
    size_t text_size = b->source != NULL ? text_chunk_bytes(b->source) - PNG_CHUNK_FRAME_BYTES : 0;
    size_t prefix = PNG_SIGNATURE_BYTES + PNG_IHDR_CHUNK_BYTES +
                    (b->source != NULL ? text_chunk_bytes(b->source) : 0);
    size_t *final_at = malloc((size_t)b->band_count * sizeof(*final_at));
    if (final_at == NULL)
        return -ENOMEM;
    size_t total = prefix;
    for (int i = 0; i < b->band_count; i++) {
        final_at[i] = total;
        total += PNG_CHUNK_FRAME_BYTES + b->bands[i].size;
    }
    total += PNG_TAIL_BYTES;

    if (b->file == NULL || total > b->file_capacity) {
        /* zlib bands (no file yet), or a band outgrew its region, or the
         * source is longer than the room in front. */
        uint8_t *grown = realloc(b->file, total);
        if (grown == NULL) {
            free(final_at);
            return -ENOMEM;
        }
        b->file = grown;
        b->file_capacity = total;
    }
    uint8_t *file = b->file;
    /* Bands in the file move to their final place (none move when they ran
     * in order on one thread and the source was set first): those moving up
     * last first, then those moving down first first, so none overwrites
     * data not yet moved (in the file as in the final layout, the bands are
     * in order and do not overlap, so a band's destination ends before the
     * next band's destination and source). Bands in a buffer of their own
     * are copied in after that. */
    for (int i = b->band_count - 1; i >= 0; i--)
        if (b->bands[i].in_place && final_at[i] > b->bands[i].at)
            memmove(file + final_at[i] + 8, file + b->bands[i].at + 8, b->bands[i].size);
    for (int i = 0; i < b->band_count; i++)
        if (b->bands[i].in_place && final_at[i] < b->bands[i].at)
            memmove(file + final_at[i] + 8, file + b->bands[i].at + 8, b->bands[i].size);
    for (int i = 0; i < b->band_count; i++)
        if (!b->bands[i].in_place)
            memcpy(file + final_at[i] + 8, b->bands[i].out + 8, b->bands[i].size);

    memcpy(file, "\x89PNG\r\n\x1a\n", PNG_SIGNATURE_BYTES);
    uint8_t *ihdr = file + PNG_SIGNATURE_BYTES + 8;
    put_be32(ihdr, (uint32_t)b->gray.width);
    put_be32(ihdr + 4, (uint32_t)b->gray.height);
    /* 8-bit gray, deflate, adaptive filtering, not interlaced (11.2.2). */
    memcpy(ihdr + 8, "\x08\x00\x00\x00\x00", 5);
    size_t at = frame_chunk(file, PNG_SIGNATURE_BYTES, "IHDR", 13);
    if (b->source != NULL) {
        /* Before the first IDAT, so a reader finds it without the image data
         * (io/resume.c reads no further). */
        memcpy(file + at + 8, "Source", SOURCE_KEYWORD_BYTES); /* with its NUL */
        memcpy(file + at + 8 + SOURCE_KEYWORD_BYTES, b->source, text_size - SOURCE_KEYWORD_BYTES);
        at = frame_chunk(file, at, "tEXt", text_size);
    }
    for (int i = 0; i < b->band_count; i++)
        at = frame_chunk(file, final_at[i], "IDAT", b->bands[i].size);
    put_be32(file + at + 8, adler);
    at = frame_chunk(file, at, "IDAT", 4);
    at = frame_chunk(file, at, "IEND", 0);
    free(final_at);

    /* Give back the regions' slack (the untouched pages were never used). */
    uint8_t *shrunk = realloc(file, at);
    *png_out = shrunk != NULL ? shrunk : file;
    *png_size = at;
    b->file = NULL;
    return 0;
}

void img_png_bands_destroy(struct img_png_bands *b)
{
    if (b == NULL)
        return;
    if (b->bands != NULL)
        for (int i = 0; i < b->band_count; i++)
            free(b->bands[i].out);
    free(b->bands);
    free(b->file);
    free(b->region);
    free(b);
}

static const char *reason_for(int rc)
{
    switch (rc) {
    case -ENOMEM:
        return "out of memory";
    case -EFBIG:
        return "image too large";
    case -EINVAL:
        return "invalid image or level";
    default:
        return "zlib failed";
    }
}

/* Every band on this thread, in order: the bytes any split gives. */
static int encode_all(struct img_png_bands *b, uint8_t **png, size_t *png_size, char *err,
                      size_t err_size)
{
    int rc = 0;
    for (int i = 0; i < b->band_count && rc == 0; i++)
        rc = img_png_bands_run(b, i);
    if (rc == 0)
        rc = img_png_bands_finish(b, png, png_size);
    if (rc < 0)
        img__set_err(err, err_size, "PNG encoder: %s", reason_for(rc));
    return rc;
}

int img__encode_png_with(const struct img_buf *gray, int level, int filters, int strategy,
                         uint8_t **png_out, size_t *png_size, char *err, size_t err_size)
{
    *png_out = NULL;
    *png_size = 0;
    struct img_png_bands *b;
    int rc = create_with(gray, level, filters, strategy, &b);
    if (rc < 0) {
        img__set_err(err, err_size, "PNG encoder: %s", reason_for(rc));
        return rc;
    }
    rc = encode_all(b, png_out, png_size, err, err_size);
    img_png_bands_destroy(b);
    return rc;
}

int img_encode_png(const struct img_buf *gray, int level, uint8_t **png, size_t *png_size,
                   char *err, size_t err_size)
{
    *png = NULL;
    *png_size = 0;
    if (level < 0 || level > 9) {
        img__set_err(err, err_size, "PNG encoder: level %d is not 0-9", level);
        return -EINVAL;
    }
    struct img_png_bands *b;
    int rc = img_png_bands_create(gray, level, &b);
    if (rc < 0) {
        img__set_err(err, err_size, "PNG encoder: %s", reason_for(rc));
        return rc;
    }
    rc = encode_all(b, png, png_size, err, err_size);
    img_png_bands_destroy(b);
    return rc;
}
